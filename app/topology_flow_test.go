package app_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// wantTokenFlow runs the token life cycle and the failed-login limit through servers (one or
// several replicas, used in turn, so each step may land on another process): login, a protected
// request, logout, logout-all, and LOGIN_MAX_FAILURES_ACCOUNT_ADDR=3 failures then 429.
func wantTokenFlow(t *testing.T, servers ...proc) {
	t.Helper()
	at := func(i int) proc { return servers[i%len(servers)] }
	email := randomEmail()
	at(0).register(email)
	// t1 is issued on A, used on B, logged out on B, refused on C.
	t1, t2, t3 := at(0).login(email), at(1).login(email), at(2).login(email)
	for i, tok := range []string{t1, t2, t3} {
		if code, body := at(i+1).get(at(i+1).Public+"/auth/me", tok); code != http.StatusOK {
			t.Fatalf("/auth/me with a fresh token: %d %s", code, body)
		}
	}
	if code, body := at(1).post("/auth/logout", nil, t1); code != http.StatusNoContent {
		t.Fatalf("logout: %d %s", code, body)
	}
	if code, body := at(2).get(at(2).Public+"/auth/me", t1); code != http.StatusUnauthorized {
		t.Errorf("logged-out token: %d %s, want 401", code, body)
	}
	if code, body := at(0).get(at(0).Public+"/auth/me", t2); code != http.StatusOK {
		t.Errorf("another token after one logout: %d %s, want 200", code, body)
	}
	if code, body := at(1).post("/auth/logout-all", nil, t2); code != http.StatusNoContent {
		t.Fatalf("logout-all: %d %s", code, body)
	}
	for _, tok := range []string{t2, t3} {
		if code, body := at(2).get(at(2).Public+"/auth/me", tok); code != http.StatusUnauthorized {
			t.Errorf("token after logout-all: %d %s, want 401", code, body)
		}
	}

	// Failed logins of one account from one address add up on every replica: 3 allowed, then 429.
	victim := randomEmail()
	at(0).register(victim)
	bad := map[string]string{"email": victim, "password": "wrong-" + goodPassword}
	for i := range 3 {
		if code, body := at(i).post("/auth/login", bad, ""); code != http.StatusUnauthorized {
			t.Fatalf("failed login %d: %d %s, want 401", i+1, code, body)
		}
	}
	code, body := at(3).post("/auth/login", map[string]string{"email": victim, "password": goodPassword}, "")
	if code != http.StatusTooManyRequests {
		t.Errorf("login after 3 failures (limit 3): %d %s, want 429", code, body)
	}
}

// tokenOf extracts the token of a 200 login body ("" when there is none).
func tokenOf(body string) string {
	var out struct{ Token string }
	_ = json.Unmarshal([]byte(body), &out)
	return out.Token
}

// topologyEnv is the environment of a binary on a fresh database and the given Redis settings,
// with a failed-login limit small enough to test.
func topologyEnv(t *testing.T, dbURL string, redis map[string]string) map[string]string {
	env := map[string]string{"DATABASE_URL": dbURL, "LOGIN_MAX_FAILURES_ACCOUNT_ADDR": "3", "REDIS_TIMEOUT": "500ms"}
	for k, v := range redis {
		env[k] = v
	}
	return env
}

// jtiOf returns the jti claim of a token (read without checking the signature).
func jtiOf(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct{ Jti string }
	if err == nil {
		err = json.Unmarshal(raw, &claims)
	}
	if err != nil || claims.Jti == "" {
		t.Fatalf("no jti in %q: %v", token, err)
	}
	return claims.Jti
}
