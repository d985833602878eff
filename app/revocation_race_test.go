package app_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/models"
)

// The revocation race tests run logins at a real bcrypt cost (raceCost), BCRYPT_CONCURRENCY of
// them at once, against a suspension, a demotion or a logout-all.
// Half the rounds revoke once every login has been admitted to bcrypt (the bcrypt metric
// says so), that is, after each login has read the user, its epoch, and before it has checked
// the password: the window a revocation used to miss. The other half revoke at a random
// instant within one login's duration, which also lands between a login's last read of the
// user and its whitelisting. Each round asserts that no token it produced works when it should not.
const (
	raceLogins = 4
	raceRounds = 6
)

func newRaceEnv(t *testing.T) (*env, *models.Accounts) {
	t.Helper()
	e := newEnv(t, map[string]string{"BCRYPT_COST": raceCost, "BCRYPT_CONCURRENCY": strconv.Itoa(raceLogins)})
	return e, models.NewAccounts(e.users, e.sessions)
}

// loginTime is how long one login of email takes here and now, the range of the random pauses.
func (e *env) loginTime(email string) time.Duration {
	start := time.Now()
	e.login(email, goodPassword)
	return time.Since(start)
}

// raceRound starts raceLogins logins of email, runs revoke when they are all in bcrypt (even
// rounds) or after a random pause (odd rounds), and returns the tokens the logins got, and
// whether it was an even round with at least one login still in flight when revoke returned.
// A test fails unless some round was (requireRace), so that a machine fast enough to close the
// window every time cannot pass it without running the race.
func (e *env) raceRound(t *testing.T, round int, email string, span time.Duration, revoke func()) ([]string, bool) {
	t.Helper()
	base := e.bcryptRuns(t)
	type result struct {
		status int
		token  string
		at     time.Time
	}
	results := make(chan result, raceLogins)
	for range raceLogins {
		go func() {
			resp := e.client.Post("/auth/login", map[string]string{"email": email, "password": goodPassword}, "")
			r := result{status: resp.Status, at: time.Now()}
			if resp.Status == http.StatusOK {
				r.token, _ = resp.JSON(t)["token"].(string)
			}
			results <- r
		}()
	}
	if round%2 == 0 {
		deadline := time.Now().Add(30 * time.Second)
		for e.bcryptRuns(t) < base+raceLogins {
			if time.Now().After(deadline) {
				t.Fatalf("logins never reached bcrypt")
			}
			time.Sleep(time.Millisecond)
		}
	} else {
		time.Sleep(time.Duration(rand.Int64N(int64(2 * span))))
	}
	revoke()
	revoked := time.Now()
	var tokens []string
	inFlight := 0
	for range raceLogins {
		r := <-results
		if r.at.After(revoked) {
			inFlight++
		}
		switch r.status {
		case http.StatusOK:
			tokens = append(tokens, r.token)
		case http.StatusForbidden: // saw the suspension
		case http.StatusUnauthorized: // saw a revocation of all sessions land during its bcrypt
		default:
			t.Fatalf("round %d: login answered %d", round, r.status)
		}
	}
	return tokens, round%2 == 0 && inFlight > 0
}

// raceChange runs raceRounds rounds on a new user: setup puts the account in its state, change
// races the round's logins, and check judges every token the round produced.
func raceChange(t *testing.T, setup, change func(*models.Accounts, string) (models.Outcome, error), check func(e *env, round int, token string)) {
	e, accounts := newRaceEnv(t)
	email := randomEmail()
	e.register(email, goodPassword)
	span := e.loginTime(email)
	races := 0
	for round := range raceRounds {
		_, err := setup(accounts, email)
		apptest.Must(t, err, "setup")
		tokens, ran := e.raceRound(t, round, email, span, func() {
			if _, err := change(accounts, email); err != nil {
				t.Errorf("change: %v", err)
			}
		})
		if ran {
			races++
		}
		for _, tok := range tokens {
			check(e, round, tok)
		}
	}
	requireRace(t, races)
}

// requireRace fails the test if no round had a login in bcrypt when its revocation returned.
func requireRace(t *testing.T, races int) {
	t.Helper()
	if races == 0 {
		t.Fatalf("in every round all logins finished before the revocation: the race was not run (raise raceCost)")
	}
}

// TestRevocationRaceSuspend: no token of a login in flight during a suspension works after it.
func TestRevocationRaceSuspend(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	raceChange(t,
		func(a *models.Accounts, email string) (models.Outcome, error) { return a.Activate(ctx, email) },
		func(a *models.Accounts, email string) (models.Outcome, error) { return a.Suspend(ctx, email, nil, nil) },
		func(e *env, round int, tok string) {
			if resp := e.client.Get("/auth/me", tok); resp.Status != http.StatusUnauthorized {
				t.Fatalf("round %d: a token of a login in flight during the suspension answers %d", round, resp.Status)
			}
		})
}

// TestRevocationRaceDemote: no admin token of a login in flight during a demotion works after
// it; the user-role tokens of logins that saw the demotion may.
func TestRevocationRaceDemote(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	raceChange(t,
		func(a *models.Accounts, email string) (models.Outcome, error) {
			return a.SetRole(ctx, email, models.RoleAdmin)
		},
		func(a *models.Accounts, email string) (models.Outcome, error) {
			return a.SetRole(ctx, email, models.RoleUser)
		},
		func(e *env, round int, tok string) {
			resp := e.client.Get("/users/stats", tok)
			if resp.Status == http.StatusOK {
				t.Fatalf("round %d: an admin token of a login in flight during the demotion still works", round)
			}
			if role := decodeClaims(t, tok)["role"]; role == "admin" && resp.Status != http.StatusUnauthorized {
				t.Fatalf("round %d: an admin-role token answers %d, want 401", round, resp.Status)
			}
		})
}

// TestRevocationRaceLogoutAll: a logout-all refuses the tokens of the logins it overlaps (every
// one, when they were all in bcrypt), and every token that survives is reached by the next
// logout-all: none is ever outside its reach.
func TestRevocationRaceLogoutAll(t *testing.T) {
	t.Parallel()
	e, _ := newRaceEnv(t)
	email := randomEmail()
	userID := e.register(email, goodPassword)["id"].(string)
	span := e.loginTime(email)
	races := 0
	for round := range raceRounds {
		caller := e.mint(t, userID)
		tokens, ran := e.raceRound(t, round, email, span, func() {
			if resp := e.client.Post("/auth/logout-all", nil, caller); resp.Status != http.StatusNoContent {
				t.Errorf("logout-all: %d %s", resp.Status, resp.Body)
			}
		})
		if ran {
			races++
		}
		if round%2 == 0 {
			for _, tok := range tokens {
				if resp := e.client.Get("/auth/me", tok); resp.Status != http.StatusUnauthorized {
					t.Fatalf("round %d: a token of a login in bcrypt during logout-all answers %d", round, resp.Status)
				}
			}
			continue
		}
		// A login that read the user's epoch after the logout-all took effect happened after it;
		// its token may live, but the next logout-all must reach it.
		if resp := e.client.Post("/auth/logout-all", nil, e.mint(t, userID)); resp.Status != http.StatusNoContent {
			t.Fatalf("second logout-all: %d", resp.Status)
		}
		for _, tok := range append(tokens, caller) {
			if resp := e.client.Get("/auth/me", tok); resp.Status != http.StatusUnauthorized {
				t.Fatalf("round %d: a token outlived two logout-alls: %d", round, resp.Status)
			}
		}
	}
	requireRace(t, races)
}

// mint opens a session for userID as login does, without its bcrypt: the tests need a caller
// for logout-all, not another login.
func (e *env) mint(t *testing.T, userID string) string {
	t.Helper()
	return e.handles.MintSession(t, userID).AccessToken
}
