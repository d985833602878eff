package app_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/example/authapi/app/apptest"
)

// Every public response, success or error, carries nosniff and no-store, and no Server banner.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	email := randomEmail()
	body := map[string]string{"email": email, "password": goodPassword}
	responses := map[string]apptest.Response{
		"register":          e.client.Post("/auth/register", body, ""),
		"register conflict": e.client.Post("/auth/register", body, ""),
		"login":             e.client.Post("/auth/login", body, ""),
		"login failed":      e.client.Post("/auth/login", map[string]string{"email": email, "password": "wrong-password-1"}, ""),
		"login malformed":   e.client.Post("/auth/login", `{"email":`, ""),
		"me unauthorized":   e.client.Get("/auth/me", ""),
		"healthz":           e.client.Get("/healthz", ""),
		"no route":          e.client.Get("/nope", ""),
	}
	token := responses["login"].JSON(t)["token"].(string)
	responses["me"] = e.client.Get("/auth/me", token)
	responses["logout"] = e.client.Post("/auth/logout", nil, token)
	for name, resp := range responses {
		if resp.Status >= 500 {
			t.Fatalf("%s: %d", name, resp.Status)
		}
		if got := resp.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s: Cache-Control = %q", name, got)
		}
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options = %q", name, got)
		}
		if got := resp.Header.Get("Server"); got != "" {
			t.Errorf("%s: Server = %q", name, got)
		}
	}
}

// CORS answers only the listed origins, and nothing at all when none are listed.
func TestCORS(t *testing.T) {
	t.Parallel()
	const allowed = "https://app.example.com"
	withList := newEnv(t, map[string]string{"CORS_ALLOWED_ORIGINS": allowed + ",https://admin.example.com"})
	without := newEnv(t, nil)
	preflight := func(e *env, origin string) apptest.Response {
		return e.client.Do(apptest.Request{Method: http.MethodOptions, Path: "/auth/login", Header: map[string]string{
			"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "Content-Type",
		}})
	}
	simple := func(e *env, origin string) apptest.Response {
		return e.client.Do(apptest.Request{Method: http.MethodGet, Path: "/healthz", Header: map[string]string{"Origin": origin}})
	}

	t.Run("OKAllowlisted", func(t *testing.T) {
		for name, resp := range map[string]apptest.Response{"preflight": preflight(withList, allowed), "simple": simple(withList, allowed)} {
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != allowed {
				t.Fatalf("%s: Access-Control-Allow-Origin = %q, want %q", name, got, allowed)
			}
		}
		if got := preflight(withList, allowed).Header.Get("Access-Control-Allow-Methods"); !strings.Contains(got, "POST") {
			t.Fatalf("Access-Control-Allow-Methods = %q", got)
		}
	})
	for _, origin := range []string{
		"https://evil.example",
		"http://app.example.com",           // other scheme
		"https://app.example.com.evil.com", // suffix trick
		"https://evilapp.example.com",
		"https://app.example.com:8443",
		"null",
	} {
		t.Run("ErrNotListed "+origin, func(t *testing.T) {
			for name, resp := range map[string]apptest.Response{"preflight": preflight(withList, origin), "simple": simple(withList, origin)} {
				if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
					t.Fatalf("%s from %s: Access-Control-Allow-Origin = %q", name, origin, got)
				}
				if got := resp.Header.Get("Access-Control-Allow-Credentials"); got != "" {
					t.Fatalf("%s from %s: Access-Control-Allow-Credentials = %q", name, origin, got)
				}
			}
		})
	}
	t.Run("ErrNoListNoCORS", func(t *testing.T) {
		for name, resp := range map[string]apptest.Response{"preflight": preflight(without, allowed), "simple": simple(without, allowed)} {
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
				t.Fatalf("%s: Access-Control-Allow-Origin = %q with no allowlist", name, got)
			}
		}
	})
}

// The logs of a whole session, failures included, at debug level, hold no password, no token
// (nor any of its three parts) and no password hash.
func TestLogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	var logs apptest.LogBuffer
	s := apptest.MustNewApp(t, map[string]string{"LOG_LEVEL": "debug"}, &logs)
	c := apptest.NewClient(t, s.App.Public())
	email := randomEmail()
	creds := map[string]string{"email": email, "password": goodPassword}
	wrong := "Wrong-password-77"

	steps := []apptest.Response{
		c.Post("/auth/register", creds, ""),
		c.Post("/auth/register", creds, ""), // conflict
		c.Post("/auth/register", map[string]string{"email": email, "password": "short1"}, ""),
		c.Post("/auth/login", map[string]string{"email": email, "password": wrong}, ""),
		c.Post("/auth/login", `{"email":"`+email+`","password":"`+wrong+`"`, ""), // malformed
	}
	login := c.Post("/auth/login", creds, "")
	if login.Status != http.StatusOK {
		t.Fatalf("login: %d %s", login.Status, login.Body)
	}
	token := login.JSON(t)["token"].(string)
	steps = append(steps,
		c.Get("/auth/me", token),
		c.Get("/auth/me?token="+token, ""),
		c.Post("/auth/logout", nil, token),
		c.Get("/auth/me", token), // revoked
	)
	if steps[0].Status != http.StatusCreated || steps[len(steps)-1].Status != http.StatusUnauthorized {
		t.Fatalf("session did not run: register %d, last %d", steps[0].Status, steps[len(steps)-1].Status)
	}
	u, err := s.Users.ByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}

	out := logs.String()
	if n := strings.Count(out, `"msg":"request"`); n < len(steps)+1 {
		t.Fatalf("captured %d request lines, want %d: the logs were not captured", n, len(steps)+1)
	}
	secrets := map[string]string{"password": goodPassword, "wrong password": wrong, "token": token, "password hash": u.PasswordHash}
	for i, part := range strings.Split(token, ".") {
		secrets["token part "+string(rune('0'+i))] = part
	}
	for what, secret := range secrets {
		if strings.Contains(out, secret) {
			t.Errorf("the logs contain the %s", what)
		}
	}
	if regexp.MustCompile(`\$2[abxy]\$\d\d\$`).MatchString(out) {
		t.Errorf("the logs contain a bcrypt hash")
	}
	for _, resp := range append(steps, login) {
		if strings.Contains(string(resp.Body), u.PasswordHash) || strings.Contains(string(resp.Body), "$2a$") {
			t.Errorf("a response body contains a password hash: %s", resp.Body)
		}
	}
}

// The access log names the client the way the login limits do: the socket peer, or from a
// trusted proxy the right-most untrusted X-Forwarded-For entry, never the forgeable left-most.
func TestAccessLogClientAddress(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, trusted, want string
	}{
		{"OKPeerWithoutTrustedProxies", "", `"ip":"0.0.0.0"`},
		{"OKRightmostFromTrustedProxy", "0.0.0.0", `"ip":"198.51.100.9"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs apptest.LogBuffer
			a := apptest.MustNewApp(t, map[string]string{"LOG_LEVEL": "info", "TRUSTED_PROXIES": tc.trusted}, &logs).App
			c := apptest.NewClient(t, a.Public())
			c.Do(apptest.Request{Method: http.MethodGet, Path: "/healthz", Header: map[string]string{"X-Forwarded-For": "6.6.6.6, 198.51.100.9"}})
			out := logs.String()
			if !strings.Contains(out, tc.want) || strings.Contains(out, "6.6.6.6") {
				t.Fatalf("access log %s, want %s and no forged address", out, tc.want)
			}
		})
	}
}
