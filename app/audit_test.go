package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/models"
)

// storedEvents reads every event of the database, oldest first, as the API would encode them.
func storedEvents(t *testing.T, e *env) []map[string]any {
	t.Helper()
	var rows []struct {
		Body string `bun:"body"`
	}
	err := e.db.NewRaw(`SELECT json_build_object('id', id, 'type', type, 'at', at, 'user_id', user_id, 'actor_id', actor_id,
		'session_id', session_id, 'ip', ip, 'user_agent', user_agent, 'details', details)::text AS body FROM events ORDER BY at, id`).Scan(context.Background(), &rows)
	apptest.Must(t, err, "read events")
	out := make([]map[string]any, len(rows))
	for i, r := range rows {
		apptest.Must(t, json.Unmarshal([]byte(r.Body), &out[i]), "decode event")
	}
	return out
}

// findEvent returns the last stored event of type typ about user (uuid.Nil: any user, or none)
// whose details include want, failing the test when there is none.
func findEvent(t *testing.T, events []map[string]any, typ, user string, want map[string]any) map[string]any {
	t.Helper()
	for i := len(events) - 1; i >= 0; i-- {
		ev := events[i]
		if ev["type"] != typ || (user != "" && ev["user_id"] != user) {
			continue
		}
		details, _ := ev["details"].(map[string]any)
		ok := true
		for k, v := range want {
			if details[k] != v {
				ok = false
			}
		}
		if ok {
			return ev
		}
	}
	t.Fatalf("no %s event for user %q with %v among %d events", typ, user, want, len(events))
	return nil
}

// scanSecrets fails the test if any secret appears in text.
func scanSecrets(t *testing.T, what, text string, secrets []string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Fatalf("%s holds a secret (%.12s…)", what, s)
		}
	}
	for _, word := range []string{"password_hash", "$2a$", "$2b$", "refresh_token", "#token=", "http://", "https://"} {
		if strings.Contains(text, word) {
			t.Fatalf("%s holds %q: %s", what, word, text)
		}
	}
}

// Every event type that exists on this branch is produced by the action that causes it, with
// the contract's fields, and no password, hash, token or link is stored in any of them.
func TestAuditEventsOfEveryAction(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, map[string]string{"LOGIN_MAX_FAILURES_ACCOUNT_ADDR": "3", "REFRESH_REUSE_INTERVAL": "0s"})
	ua := map[string]string{"User-Agent": "AuditTest/1.0"}
	var secrets []string

	email := randomEmail()
	uid := e.register(email, goodPassword)["id"].(string)
	verifyToken := e.token(email, 1)
	secrets = append(secrets, goodPassword, verifyToken)
	if resp := e.client.Post("/auth/verify", map[string]string{"token": verifyToken}, ""); resp.Status != http.StatusOK {
		t.Fatalf("verify: %d %s", resp.Status, resp.Body)
	}

	p := e.loginPair(email, ua)
	secrets = append(secrets, p.Token, p.RefreshToken)
	// refresh, then the spent token again after the (zero) reuse interval: reuse.
	resp := e.refresh(p.RefreshToken)
	if resp.Status != http.StatusOK {
		t.Fatalf("refresh: %d %s", resp.Status, resp.Body)
	}
	var p2 pair
	resp.Decode(t, &p2)
	secrets = append(secrets, p2.Token, p2.RefreshToken)
	time.Sleep(5 * time.Millisecond)
	if resp := e.refresh(p.RefreshToken); resp.Status != http.StatusUnauthorized {
		t.Fatalf("reuse: %d %s", resp.Status, resp.Body)
	}

	// Failed logins: bad password, unknown email, then rate limited (3 failures per account+address).
	unknown := randomEmail()
	if resp := e.client.Post("/auth/login", map[string]string{"email": unknown, "password": "wrong-password-1"}, ""); resp.Status != http.StatusUnauthorized {
		t.Fatalf("unknown email: %d", resp.Status)
	}
	for range 3 {
		e.client.Post("/auth/login", map[string]string{"email": email, "password": "wrong-password-1"}, "")
	}
	if resp := e.client.Post("/auth/login", map[string]string{"email": email, "password": "wrong-password-1"}, ""); resp.Status != http.StatusTooManyRequests {
		t.Fatalf("fourth failure: %d", resp.Status)
	}

	// A second user for sessions, logout, logout-all, change, reset, suspension.
	email2 := randomEmail()
	uid2 := e.register(email2, goodPassword)["id"].(string)
	a := e.loginPair(email2, ua)
	b := e.loginPair(email2, ua)
	c := e.loginPair(email2, ua)
	secrets = append(secrets, a.Token, a.RefreshToken, b.Token, b.RefreshToken, c.Token, c.RefreshToken)
	if resp := e.client.Do(apptest.Request{Method: http.MethodDelete, Path: "/auth/sessions/" + b.SessionID, Token: a.Token}); resp.Status != http.StatusNoContent {
		t.Fatalf("revoke session: %d", resp.Status)
	}
	if resp := e.client.Post("/auth/logout", nil, c.Token); resp.Status != http.StatusNoContent {
		t.Fatalf("logout: %d", resp.Status)
	}
	const newPassword = "battery-staple-7"
	secrets = append(secrets, newPassword)
	if resp := e.client.Post("/auth/password/change", map[string]string{"current_password": "not-my-password-1", "new_password": newPassword}, a.Token); resp.Status != http.StatusUnauthorized {
		t.Fatalf("change with a wrong password: %d", resp.Status)
	}
	if resp := e.client.Post("/auth/password/change", map[string]string{"current_password": goodPassword, "new_password": newPassword}, a.Token); resp.Status != http.StatusNoContent {
		t.Fatalf("change: %d %s", resp.Status, resp.Body)
	}
	if resp := e.client.Post("/auth/logout-all", nil, a.Token); resp.Status != http.StatusNoContent {
		t.Fatalf("logout-all: %d", resp.Status)
	}
	if resp := e.client.Post("/auth/password/forgot", map[string]string{"email": email2}, ""); resp.Status != http.StatusAccepted {
		t.Fatalf("forgot: %d", resp.Status)
	}
	resetToken := e.token(email2, 2) // the first message was the verification
	const resetPassword = "reset-horse-8"
	secrets = append(secrets, resetToken, resetPassword)
	if resp := e.client.Post("/auth/password/reset", map[string]string{"token": resetToken, "password": resetPassword}, ""); resp.Status != http.StatusNoContent {
		t.Fatalf("reset: %d %s", resp.Status, resp.Body)
	}

	// Administration as the CLI does it (models.Accounts), then a suspended login.
	accounts := models.NewAccounts(e.users, e.sessions)
	_, err := accounts.SetRole(t.Context(), email2, models.RoleAdmin)
	apptest.Must(t, err, "promote")
	_, err = accounts.Suspend(t.Context(), email2, nil, nil)
	apptest.Must(t, err, "suspend")
	if resp := e.client.Post("/auth/login", map[string]string{"email": email2, "password": resetPassword}, ""); resp.Status != http.StatusForbidden {
		t.Fatalf("suspended login: %d", resp.Status)
	}
	_, err = accounts.Activate(t.Context(), email2)
	apptest.Must(t, err, "activate")

	// An admin's batch and an admin's revocation of every session of a user.
	admin := e.newAdmin()
	adminID := decodeClaims(t, admin)["sub"].(string)
	batchEmail := randomEmail()
	if resp := e.client.Post("/users/batch", []map[string]string{{"email": batchEmail, "password": goodPassword}}, admin); resp.Status != http.StatusOK {
		t.Fatalf("batch: %d %s", resp.Status, resp.Body)
	}
	if resp := e.client.Do(apptest.Request{Method: http.MethodDelete, Path: "/users/" + uid + "/sessions", Token: admin}); resp.Status != http.StatusNoContent {
		t.Fatalf("admin revoke: %d", resp.Status)
	}

	events := storedEvents(t, e.env)
	ip := func(ev map[string]any) {
		t.Helper()
		if ev["ip"] == "" || ev["id"] == "" || ev["at"] == "" {
			t.Fatalf("event without client or id: %v", ev)
		}
	}
	reg := findEvent(t, events, "user.registered", uid, nil)
	ip(reg)
	ip(findEvent(t, events, "user.verified", uid, nil))
	login := findEvent(t, events, "login.succeeded", uid, nil)
	if login["session_id"] != p.SessionID || login["user_agent"] != "AuditTest/1.0" {
		t.Fatalf("login.succeeded %v, session %s", login, p.SessionID)
	}
	if ev := findEvent(t, events, "session.refreshed", uid, nil); ev["session_id"] != p.SessionID {
		t.Fatalf("session.refreshed %v", ev)
	}
	if ev := findEvent(t, events, "refresh.reused", uid, nil); ev["session_id"] != p.SessionID {
		t.Fatalf("refresh.reused %v", ev)
	}
	if ev := findEvent(t, events, "login.failed", "", map[string]any{"reason": "unknown_email"}); ev["user_id"] != nil {
		t.Fatalf("unknown_email names a user: %v", ev)
	}
	findEvent(t, events, "login.failed", uid, map[string]any{"reason": "bad_password"})
	findEvent(t, events, "login.failed", uid, map[string]any{"reason": "rate_limited"})
	findEvent(t, events, "login.failed", uid2, map[string]any{"reason": "suspended"})
	findEvent(t, events, "login.failed", uid2, map[string]any{"reason": "bad_password", "via": "password_change"})
	if ev := findEvent(t, events, "session.revoked", uid2, nil); ev["session_id"] != b.SessionID || ev["actor_id"] != uid2 {
		t.Fatalf("session.revoked %v", ev)
	}
	if ev := findEvent(t, events, "logout", uid2, nil); ev["session_id"] != c.SessionID {
		t.Fatalf("logout %v", ev)
	}
	findEvent(t, events, "password.changed", uid2, nil)
	findEvent(t, events, "logout_all", uid2, nil)
	findEvent(t, events, "password.reset_requested", uid2, nil)
	findEvent(t, events, "password.reset", uid2, nil)
	if ev := findEvent(t, events, "role.changed", uid2, map[string]any{"from": "user", "to": "admin"}); ev["ip"] != "" || ev["user_agent"] != "" {
		t.Fatalf("a CLI event has a client: %v", ev)
	}
	findEvent(t, events, "user.suspended", uid2, nil)
	findEvent(t, events, "user.activated", uid2, nil)
	if ev := findEvent(t, events, "user.registered", "", map[string]any{"via": "batch"}); ev["actor_id"] != adminID || ev["user_id"] == nil {
		t.Fatalf("batch user.registered %v", ev)
	}
	if ev := findEvent(t, events, "session.revoked", uid, map[string]any{"all": true}); ev["actor_id"] != adminID {
		t.Fatalf("admin session.revoked %v", ev)
	}

	// No secret in any stored event.
	for _, ev := range events {
		raw, _ := json.Marshal(ev)
		scanSecrets(t, "event "+ev["type"].(string), string(raw), secrets)
	}
	var hashes []string
	apptest.Must(t, e.db.NewRaw("SELECT password_hash FROM users").Scan(t.Context(), &hashes), "hashes")
	all, _ := json.Marshal(events)
	scanSecrets(t, "the events", string(all), hashes)
}

// A user sees only their own events; admin routes are 403 for a user; an admin sees anyone's.
func TestAuditEventsAccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	emailA, tokenA := e.newUser()
	_, tokenB := e.newUser()
	idA := decodeClaims(t, tokenA)["sub"].(string)
	idB := decodeClaims(t, tokenB)["sub"].(string)
	e.client.Post("/auth/login", map[string]string{"email": emailA, "password": "wrong-password-1"}, "")

	var page struct {
		Items      []map[string]any `json:"items"`
		NextCursor *string          `json:"next_cursor"`
	}
	resp := e.client.Get("/auth/events", tokenB)
	resp.Decode(t, &page)
	if resp.Status != http.StatusOK || len(page.Items) == 0 {
		t.Fatalf("own events: %d %s", resp.Status, resp.Body)
	}
	for _, ev := range page.Items {
		if ev["user_id"] != idB {
			t.Fatalf("B sees an event of %v", ev["user_id"])
		}
	}
	for _, path := range []string{"/events", "/users/" + idA + "/events"} {
		wantError(t, e.client.Get(path, tokenB), http.StatusForbidden, "forbidden")
		wantError(t, e.client.Get(path, ""), http.StatusUnauthorized, "unauthorized")
	}
	admin := e.newAdmin()
	resp = e.client.Get("/users/"+idA+"/events", admin)
	resp.Decode(t, &page)
	types := map[string]bool{}
	for _, ev := range page.Items {
		if ev["user_id"] != idA {
			t.Fatalf("/users/A/events has an event of %v", ev["user_id"])
		}
		types[ev["type"].(string)] = true
	}
	if !types["user.registered"] || !types["login.succeeded"] || !types["login.failed"] {
		t.Fatalf("A's events: %v", types)
	}
	resp = e.client.Get("/events?type=login.failed", admin)
	resp.Decode(t, &page)
	if resp.Status != http.StatusOK || len(page.Items) != 1 || page.Items[0]["user_id"] != idA {
		t.Fatalf("/events?type=login.failed: %d %s", resp.Status, resp.Body)
	}
}

// Keyset pages over the events: newest first, no gaps or repeats, since inclusive and until
// exclusive, and every hostile parameter a 400.
func TestAuditEventsPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	admin := e.newAdmin()
	user := uuid.New()
	base := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	const n = 57
	ids := make([]string, n) // ids[i] is at base+i seconds; two share base+10s
	for i := range n {
		at := base.Add(time.Duration(i) * time.Second)
		if i == 11 {
			at = base.Add(10 * time.Second)
		}
		ev := models.Event{ID: uuid.New(), Type: models.EventLoginFailed, At: at, UserID: &user, Details: map[string]any{"reason": "bad_password"}}
		apptest.Must(t, e.sessions.Events().Record(t.Context(), e.db, ev), "record")
		ids[i] = ev.ID.String()
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		path := "/users/" + user.String() + "/events?per_page=10"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		var page struct {
			Items      []map[string]any `json:"items"`
			NextCursor *string          `json:"next_cursor"`
		}
		resp := e.client.Get(path, admin)
		resp.Decode(t, &page)
		if resp.Status != http.StatusOK || pages > 10 {
			t.Fatalf("%s: %d %s", path, resp.Status, resp.Body)
		}
		for _, ev := range page.Items {
			got = append(got, ev["id"].(string))
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	if len(got) != n {
		t.Fatalf("%d events over the pages, want %d", len(got), n)
	}
	seen := map[string]bool{}
	for _, id := range got {
		if seen[id] {
			t.Fatalf("event %s on two pages", id)
		}
		seen[id] = true
	}
	// Newest first: the last written is first, the first written last.
	if got[0] != ids[n-1] || got[n-1] != ids[0] {
		t.Fatalf("order: first %s last %s", got[0], got[n-1])
	}
	// since inclusive, until exclusive.
	since := base.Add(20 * time.Second).Format(time.RFC3339)
	until := base.Add(30 * time.Second).Format(time.RFC3339)
	var page struct {
		Items []map[string]any `json:"items"`
	}
	resp := e.client.Get("/events?per_page=100&type=login.failed&since="+since+"&until="+until, admin)
	resp.Decode(t, &page)
	if resp.Status != http.StatusOK || len(page.Items) != 10 || page.Items[0]["id"] != ids[29] || page.Items[9]["id"] != ids[20] {
		t.Fatalf("since/until: %d, %d items", resp.Status, len(page.Items))
	}

	for _, q := range []string{
		"cursor=abc", "cursor=" + strings.Repeat("A", 40), "per_page=abc", "per_page=1.5", "per_page=1&per_page=2",
		"cursor=x&cursor=y", "type=nope", "type=login.failed&type=logout", "since=yesterday", "until=0000-01-01T00:00:00Z",
		"since=2026-13-01T00:00:00Z", "since=1&since=2",
		// A cursor that decodes to a year-0 time or a nil id.
		"cursor=eyJ0IjoiMDAwMS0wMS0wMVQwMDowMDowMCswMTowMCIsImlkIjoiMDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAwIn0",
	} {
		for _, path := range []string{"/events?", "/auth/events?", "/users/" + user.String() + "/events?"} {
			resp := e.client.Do(apptest.Request{Method: http.MethodGet, Path: path + q, Token: admin, SkipRequestValidation: true})
			wantError(t, resp, http.StatusBadRequest, "validation_error")
		}
	}
	wantError(t, e.client.Do(apptest.Request{Method: http.MethodGet, Path: "/users/not-a-uuid/events", Token: admin, SkipRequestValidation: true}),
		http.StatusBadRequest, "validation_error")
}

// A login past MAX_SESSIONS_PER_USER ends the least recently used session: that is a
// session.revoked (reason evicted), written with the login's own event in one statement.
func TestAuditEvictionEvent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"MAX_SESSIONS_PER_USER": "2"})
	email := randomEmail()
	uid := e.register(email, goodPassword)["id"].(string)
	first := e.loginPair(email, nil)
	e.loginPair(email, nil)
	third := e.loginPair(email, nil)
	events := storedEvents(t, e)
	ev := findEvent(t, events, "session.revoked", uid, map[string]any{"reason": "evicted"})
	login := findEvent(t, events, "login.succeeded", uid, nil)
	if ev["session_id"] != first.SessionID || login["session_id"] != third.SessionID || ev["at"] != login["at"] || ev["ip"] == "" {
		t.Fatalf("eviction %v, login %v", ev, login)
	}
}
