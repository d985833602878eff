package app_test

import (
	"net/http"
	"testing"

	"github.com/example/authapi/app/apptest"
)

// BenchmarkLoginFailure times the two failed logins an attacker would compare to learn which
// emails exist: a wrong password for a real account, and an unknown email. Both run one bcrypt
// comparison at the production cost (12), so their ns/op should match within noise:
//
//	go test ./app -run '^$' -bench LoginFailure -benchtime 40x -count 3
func BenchmarkLoginFailure(b *testing.B) {
	a := apptest.MustNewApp(b, map[string]string{
		"BCRYPT_COST": "12", "LOGIN_MAX_FAILURES_ACCOUNT_ADDR": "1000000000", "LOGIN_MAX_FAILURES_ACCOUNT": "1000000000",
	}, nil).App // prepared as Run does: the dummy hash is made before any measured login
	c := apptest.NewClient(b, a.Public())
	email := randomEmail()
	if resp := c.Post("/auth/register", map[string]string{"email": email, "password": goodPassword}, ""); resp.Status != http.StatusCreated {
		b.Fatalf("register: %d %s", resp.Status, resp.Body)
	}
	for _, tc := range []struct{ name, email string }{
		{"wrong-password", email},
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
