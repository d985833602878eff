package models_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/example/authapi/models"
)

// Record refuses, before any write, details whose names say they hold a secret: no password,
// hash, token, code or link is ever stored in an event or sent in a webhook.
func TestEventWriterRefusesSecretDetails(t *testing.T) {
	w := models.NewEventWriter(nil, time.Second, nil, time.Now)
	for _, name := range []string{"password", "new_password", "password_hash", "refresh_token", "Token", "recovery_code", "code", "reset_link", "secret", "url"} {
		err := w.Record(t.Context(), nil, models.Event{Type: models.EventLoginFailed, Details: map[string]any{name: "x"}})
		if err == nil || models.ErrorCode(err) != models.CodeInternal {
			t.Fatalf("detail %q: err = %v, want a refusal", name, err)
		}
	}
}

// The wire form: every field present, ids null when unset, times in UTC, details an object.
func TestEventJSON(t *testing.T) {
	uid := uuid.New()
	ev := models.Event{ID: uuid.New(), Type: models.EventLogout, At: time.Date(2026, 12, 7, 9, 0, 0, 0, time.FixedZone("x", 3600)), UserID: &uid}
	raw, err := json.Marshal(&ev)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got["at"] != "2026-12-07T08:00:00Z" || got["user_id"] != uid.String() || got["actor_id"] != nil || got["session_id"] != nil ||
		got["ip"] != "" || got["user_agent"] != "" || len(got) != 9 {
		t.Fatalf("event JSON %s", raw)
	}
	if d, ok := got["details"].(map[string]any); !ok || len(d) != 0 {
		t.Fatalf("details %s", raw)
	}
	if _, err := models.ParseEventType("login.failure"); models.ErrorCode(err) != models.CodeValidation {
		t.Fatalf("ParseEventType accepted an unknown type: %v", err)
	}
}
