package app_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/example/authapi/models"
)

func TestLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	email := randomEmail()
	e.register(email, goodPassword)

	t.Run("OK", func(t *testing.T) {
		before := time.Now().Truncate(time.Second)
		resp := e.client.Post("/auth/login", map[string]string{"email": " " + strings.ToUpper(email), "password": goodPassword}, "")
		if resp.Status != http.StatusOK {
			t.Fatalf("status %d: %s", resp.Status, resp.Body)
		}
		var out struct {
			Token     string `json:"token"`
			TokenType string `json:"token_type"`
			ExpiresIn int64  `json:"expires_in"`
			ExpiresAt string `json:"expires_at"`
		}
		resp.Decode(t, &out)
		if out.TokenType != "Bearer" || out.ExpiresIn != 86400 {
			t.Fatalf("token_type %q expires_in %d", out.TokenType, out.ExpiresIn)
		}
		expiresAt, err := time.Parse(time.RFC3339, out.ExpiresAt)
		if err != nil || expiresAt.Before(before.Add(24*time.Hour)) || expiresAt.After(time.Now().Add(24*time.Hour+time.Second)) {
			t.Fatalf("expires_at %q: %v", out.ExpiresAt, err)
		}
		claims := decodeClaims(t, out.Token)
		for _, k := range []string{"sub", "iat", "nbf", "exp", "jti", "iss", "role"} {
			if _, ok := claims[k]; !ok {
				t.Fatalf("claim %s missing: %v", k, claims)
			}
		}
		if claims["role"] != "user" || claims["iss"] != "auth-api" {
			t.Fatalf("claims %v", claims)
		}
		if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 86400 {
			t.Fatalf("exp - iat = %v", exp-iat)
		}
		ttl, err := e.rdb.TTL(context.Background(), "jwt:"+claims["jti"].(string)).Result()
		if err != nil || ttl < 86300*time.Second || ttl > 86400*time.Second {
			t.Fatalf("TTL of jwt:{jti} = %v, %v", ttl, err)
		}
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("Cache-Control = %q", resp.Header.Get("Cache-Control"))
		}
	})

	t.Run("ErrSameAnswerForUnknownEmailAndWrongPassword", func(t *testing.T) {
		wrong := e.client.Post("/auth/login", map[string]string{"email": email, "password": "wrong-password-1"}, "")
		unknown := e.client.Post("/auth/login", map[string]string{"email": randomEmail(), "password": goodPassword}, "")
		tooLong := e.client.Post("/auth/login", map[string]string{"email": email, "password": goodPassword + strings.Repeat("x", 72)}, "")
		for _, resp := range []struct {
			name string
			msg  string
		}{
			{"wrong", wantError(t, wrong, http.StatusUnauthorized, "unauthorized")},
			{"unknown", wantError(t, unknown, http.StatusUnauthorized, "unauthorized")},
			{"too long", wantError(t, tooLong, http.StatusUnauthorized, "unauthorized")},
		} {
			if resp.msg != "unauthorized: invalid credentials" {
				t.Fatalf("%s: error = %q", resp.name, resp.msg)
			}
		}
	})

	t.Run("ErrMalformed", func(t *testing.T) {
		wantError(t, e.client.Post("/auth/login", `{"email":1}`, ""), http.StatusBadRequest, "validation_error")
		wantError(t, e.client.Post("/auth/login", map[string]string{"email": email}, ""), http.StatusBadRequest, "validation_error")
	})

	t.Run("OKPendingVerification", func(t *testing.T) {
		u, err := e.users.ByEmail(context.Background(), email)
		if err != nil || u.Status != models.StatusPendingVerification {
			t.Fatalf("user %v, %v", u, err)
		}
		e.login(email, goodPassword)
	})
}

func TestLoginSuspended(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	reason := "chargeback"
	past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name  string
		until *time.Time
		want  int
	}{
		{"ErrNoEnd", nil, http.StatusForbidden},
		{"ErrEndsLater", &future, http.StatusForbidden},
		{"OKEnded", &past, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			email := randomEmail()
			e.register(email, goodPassword)
			if _, err := e.users.Suspend(ctx, email, &reason, tc.until); err != nil {
				t.Fatal(err)
			}
			resp := e.client.Post("/auth/login", map[string]string{"email": email, "password": goodPassword}, "")
			if tc.want == http.StatusForbidden {
				if msg := wantError(t, resp, http.StatusForbidden, "forbidden"); msg != "forbidden: account suspended" {
					t.Fatalf("error = %q", msg)
				}
				// A wrong password still says only "invalid credentials": suspension is not revealed.
				wrong := e.client.Post("/auth/login", map[string]string{"email": email, "password": "nope-nope-1"}, "")
				wantError(t, wrong, http.StatusUnauthorized, "unauthorized")
				return
			}
			if resp.Status != tc.want {
				t.Fatalf("status %d: %s", resp.Status, resp.Body)
			}
		})
	}
}

// decodeClaims returns the payload of a JWT without checking it.
func decodeClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}
