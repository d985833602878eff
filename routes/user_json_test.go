package routes

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/example/authapi/models"
)

// AppendUserJSON must give exactly what encoding/json gives for the same user.
func TestAppendUserJSONMatchesEncodingJSON(t *testing.T) {
	var every strings.Builder
	for b := 0; b < 256; b++ {
		every.WriteByte(byte(b))
	}
	reasons := []string{"", "spam <script>&amp;", "ünïcödé \u2028\u2029 \U0001F600", every.String(), "\xff\xfe bad utf-8", "tab\tnl\nquote\"back\\"}
	until := time.Date(2027, 3, 4, 5, 6, 7, 890, time.FixedZone("x", 3600))
	created := time.Date(2026, 1, 1, 0, 0, 0, 123456000, time.UTC)
	var users []models.User
	for _, st := range []models.Status{models.StatusActive, models.StatusPendingVerification, models.StatusSuspended} {
		for i, reason := range reasons {
			u := models.User{ID: uuid.New(), Email: "a" + reason + "@example.com", Status: st, Role: models.RoleUser, CreatedAt: created.Add(time.Duration(i) * time.Nanosecond)}
			if i%2 == 0 {
				u.SuspensionReason, u.SuspendedUntil, u.Role = &reasons[i], &until, models.RoleAdmin
			}
			users = append(users, u)
		}
	}
	users = append(users, models.User{ID: uuid.New(), Email: "x@y.z", Status: models.StatusSuspended, Role: models.RoleUser, CreatedAt: created})
	for _, u := range users {
		want, err := json.Marshal(newUserJSON(&u))
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendUserJSON(nil, &u); string(got) != string(want) {
			t.Fatalf("AppendUserJSON:\n got  %s\n want %s", got, want)
		}
	}
}
