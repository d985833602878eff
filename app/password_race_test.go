package app_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// A login that checked the old password while a reset or change of it committed gets no token
// that outlives the change (the hash it verified must still be the stored one when it opens its
// session). Each round starts logins with the old password, waits until they are all in bcrypt
// (after their read of the user row), changes the password, and then requires every login to
// be a 401, or a 200 whose session the change ended; and some round to have refused one.
func TestLoginRacingPasswordChange(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"reset", "change"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			e, _ := newRaceEnv(t)
			raced := 0
			for round := range raceRounds {
				if e.passwordRaceRound(t, how, round) {
					raced++
				}
			}
			// A change needs two bcrypt slots of its own, so its commit usually comes after the
			// logins' comparisons; a reset's store step does not, and must land inside them.
			if raced == 0 && how == "reset" {
				t.Fatalf("no login was in flight when the %s committed: the race was not run", how)
			}
		})
	}
}

// passwordRaceRound runs one round on a new user and reports whether a login was still in
// flight when the change committed (and was refused for it).
func (e *env) passwordRaceRound(t *testing.T, how string, round int) bool {
	t.Helper()
	email := randomEmail()
	userID := e.register(email, goodPassword)["id"].(string)
	caller := e.mint(t, userID)
	base := e.bcryptRuns(t)
	type result struct {
		status int
		token  string
	}
	results := make(chan result, raceLogins)
	for range raceLogins {
		go func() {
			resp := e.client.Post("/auth/login", map[string]string{"email": email, "password": goodPassword}, "")
			r := result{status: resp.Status}
			if resp.Status == http.StatusOK {
				r.token, _ = resp.JSON(t)["token"].(string)
			}
			results <- r
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for e.bcryptRuns(t) < base+raceLogins {
		if time.Now().After(deadline) {
			t.Fatalf("logins never reached bcrypt")
		}
		time.Sleep(time.Millisecond)
	}
	switch how {
	case "change":
		if r := e.client.Post("/auth/password/change", map[string]string{"current_password": goodPassword, "new_password": "another-horse-7"}, caller); r.Status != http.StatusNoContent {
			t.Fatalf("change: %d %s", r.Status, r.Body)
		}
	case "reset":
		newHash := e.hashOf(t, userID) + "-changed" // any other hash: not the one the logins verified
		err := e.sessions.EndAllWith(context.Background(), uuid.Nil, "password_reset", nil, func(ctx context.Context, db bun.IDB) (uuid.UUID, error) {
			_, err := db.NewRaw("UPDATE users SET password_hash = ? WHERE id = ?", newHash, userID).Exec(ctx)
			return uuid.MustParse(userID), err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	refused := false
	for range raceLogins {
		r := <-results
		switch r.status {
		case http.StatusUnauthorized:
			refused = true
		case http.StatusOK:
			// A login that opened its session before the change: the change ended it.
			if e.me(r.token) != http.StatusUnauthorized {
				t.Fatalf("round %d: a token of a login with the old password outlived the %s", round, how)
			}
		default:
			t.Fatalf("round %d: login answered %d", round, r.status)
		}
	}
	var open int
	if err := e.db.QueryRowContext(context.Background(),
		"SELECT count(*) FROM sessions WHERE user_id = ? AND revoked_at IS NULL", userID).Scan(&open); err != nil {
		t.Fatal(err)
	}
	want := 0
	if how == "change" {
		want = 1 // the caller's own session stays
	}
	if open != want {
		t.Fatalf("round %d: %d live sessions after the %s, want %d", round, open, how, want)
	}
	return refused
}

// hashOf reads the stored password hash of userID.
func (e *env) hashOf(t *testing.T, userID string) string {
	t.Helper()
	var hash string
	if err := e.db.QueryRowContext(context.Background(), "SELECT password_hash FROM users WHERE id = ?", userID).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	return hash
}
