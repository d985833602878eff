package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/example/authapi/models"
)

// TestLoginRehash: a hash of another cost than BCRYPT_COST (an imported or older account) is
// replaced at the next successful login, the password keeps working, and a failure to save the
// new hash never fails the login.
func TestLoginRehash(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"BCRYPT_COST": "5"})
	ctx := context.Background()
	userWithCost := func(cost int) (string, *models.User) {
		t.Helper()
		hash, err := bcrypt.GenerateFromPassword([]byte(goodPassword), cost)
		if err != nil {
			t.Fatal(err)
		}
		u := &models.User{Email: randomEmail(), PasswordHash: string(hash), Status: models.StatusActive, Role: models.RoleUser}
		if err := e.users.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		return u.Email, u
	}
	costOf := func(email string) int {
		t.Helper()
		c, err := bcrypt.Cost([]byte(mustUser(t, e.users, email).PasswordHash))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	t.Run("OKReplaced", func(t *testing.T) {
		email, _ := userWithCost(4)
		e.login(email, goodPassword)
		if c := costOf(email); c != 5 {
			t.Fatalf("cost after login = %d, want BCRYPT_COST 5", c)
		}
		e.login(email, goodPassword) // the new hash holds the same password
		if resp := e.client.Post("/auth/login", map[string]string{"email": email, "password": goodPassword + "x"}, ""); resp.Status != http.StatusUnauthorized {
			t.Fatalf("wrong password after rehash: %d", resp.Status)
		}
	})
	t.Run("OKReplacedImported2y", func(t *testing.T) {
		// The old service's PHP-style $2y$ prefix, as `users import` keeps it.
		email, u := userWithCost(4)
		y := "$2y$" + strings.TrimPrefix(u.PasswordHash, "$2a$")
		if _, err := e.db.ExecContext(ctx, "UPDATE users SET password_hash = ? WHERE id = ?", y, u.ID); err != nil {
			t.Fatal(err)
		}
		e.login(email, goodPassword)
		if h := mustUser(t, e.users, email).PasswordHash; h == y || costOf(email) != 5 {
			t.Fatalf("imported $2y$ hash not replaced: %s", h[:7])
		}
	})
	t.Run("OKSameCostKept", func(t *testing.T) {
		email, u := userWithCost(5)
		e.login(email, goodPassword)
		if mustUser(t, e.users, email).PasswordHash != u.PasswordHash {
			t.Fatal("a hash of the right cost was replaced")
		}
	})
	t.Run("OKSaveFailureIgnored", func(t *testing.T) {
		email, u := userWithCost(4)
		// Postgres refuses any change of this user's hash, as a failing write would.
		_, err := e.db.ExecContext(ctx, `
			CREATE FUNCTION refuse_hash_change() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN RAISE EXCEPTION 'no'; END $$;
			CREATE TRIGGER refuse_hash_change BEFORE UPDATE OF password_hash ON users
			FOR EACH ROW WHEN (OLD.id = '`+u.ID.String()+`') EXECUTE FUNCTION refuse_hash_change();`)
		if err != nil {
			t.Fatal(err)
		}
		failed := e.metric(t, `auth_events_total{event="rehash",result="failed"}`)
		e.login(email, goodPassword)
		if costOf(email) != 4 || e.metric(t, `auth_events_total{event="rehash",result="failed"}`) != failed+1 {
			t.Fatal("the failed rehash was not counted, or the hash changed")
		}
	})
}

// TestLoginRefusesHashCostlierThanMax: a stored hash costlier than BCRYPT_MAX_COST is never
// run. The right password fails like a wrong one (401, fail closed), the hash stays (no rehash
// of a password that was never checked), and the refusal is counted.
func TestLoginRefusesHashCostlierThanMax(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"BCRYPT_COST": "4", "BCRYPT_MAX_COST": "5"})
	hash, err := bcrypt.GenerateFromPassword([]byte(goodPassword), 6)
	if err != nil {
		t.Fatal(err)
	}
	u := &models.User{Email: randomEmail(), PasswordHash: string(hash), Status: models.StatusActive, Role: models.RoleUser}
	if err := e.users.Create(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	resp := e.client.Post("/auth/login", map[string]string{"email": u.Email, "password": goodPassword}, "")
	wantError(t, resp, http.StatusUnauthorized, "unauthorized")
	if mustUser(t, e.users, u.Email).PasswordHash != u.PasswordHash {
		t.Fatal("a hash that was never run was replaced")
	}
	if n := e.metric(t, "bcrypt_hashes_refused_total"); n != 1 {
		t.Fatalf("bcrypt_hashes_refused_total = %v, want 1", n)
	}
}
