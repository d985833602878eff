package app_test

import (
	"net/http"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/models"
)

// BenchmarkLoginFailure times the failed logins an attacker would compare to learn which
// emails exist: a wrong password for a real account, for an imported account whose hash has
// cost 4, and an unknown email. All three do the bcrypt work of one comparison at the
// production cost (12; the cost-4 one is padded, see Hasher.Verify), so their ns/op should
// match within noise:
//
//	go test ./app -run '^$' -bench LoginFailure -benchtime 40x -count 3
func BenchmarkLoginFailure(b *testing.B) {
	env := apptest.MustNewApp(b, map[string]string{
		"BCRYPT_COST": "12", "LOGIN_MAX_FAILURES_ACCOUNT_ADDR": "1000000000", "LOGIN_MAX_FAILURES_ACCOUNT": "1000000000",
	}, nil) // prepared as Run does: the dummy hash is made before any measured login
	c := apptest.NewClient(b, env.App.Public())
	email := randomEmail()
	if resp := c.Post("/auth/register", map[string]string{"email": email, "password": goodPassword}, ""); resp.Status != http.StatusCreated {
		b.Fatalf("register: %d %s", resp.Status, resp.Body)
	}
	cheap, err := bcrypt.GenerateFromPassword([]byte(goodPassword), bcrypt.MinCost)
	if err != nil {
		b.Fatal(err)
	}
	imported := &models.User{Email: randomEmail(), PasswordHash: string(cheap), Status: models.StatusActive, Role: models.RoleUser}
	if err := env.Users.Create(b.Context(), imported); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct{ name, email string }{
		{"wrong-password", email},
		{"wrong-password-cost-4", imported.Email},
		{"unknown-email", randomEmail()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			body := map[string]string{"email": tc.email, "password": "wrong-password-1"}
			for range b.N {
				if resp := c.Post("/auth/login", body, ""); resp.Status != http.StatusUnauthorized {
					b.Fatalf("%d %s", resp.Status, resp.Body)
				}
			}
		})
	}
}
