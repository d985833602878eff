package app_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/models"
)

// pair is login's or refresh's 200 body.
type pair struct {
	Token            string `json:"token"`
	ExpiresIn        int    `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	RefreshExpiresAt string `json:"refresh_expires_at"`
	SessionID        string `json:"session_id"`
}

// loginPair logs in and returns the whole body, failing the test unless it is a 200.
func (e *env) loginPair(email string, header map[string]string) pair {
	e.t.Helper()
	resp := e.client.Do(apptest.Request{Method: http.MethodPost, Path: "/auth/login", Body: map[string]string{"email": email, "password": goodPassword}, Header: header})
	if resp.Status != http.StatusOK {
		e.t.Fatalf("login: %d %s", resp.Status, resp.Body)
	}
	var p pair
	resp.Decode(e.t, &p)
	return p
}

func (e *env) refresh(token string) apptest.Response {
	e.t.Helper()
	return e.client.Post("/auth/refresh", map[string]string{"refresh_token": token}, "")
}

func (e *env) me(token string) int {
	e.t.Helper()
	return e.client.Get("/auth/me", token).Status
}

func TestLoginOpensSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	email := randomEmail()
	e.register(email, goodPassword)
	p := e.loginPair(email, map[string]string{"User-Agent": "TestAgent/1.0"})
	claims := decodeClaims(t, p.Token)
	if claims["sid"] != p.SessionID || len(p.RefreshToken) < 43 || p.ExpiresIn != 86400 {
		t.Fatalf("login %+v, claims %v", p, claims)
	}
	if amr, _ := claims["amr"].([]any); len(amr) != 1 || amr[0] != "pwd" {
		t.Fatalf("amr %v", claims["amr"])
	}
	if _, err := time.Parse(time.RFC3339, p.RefreshExpiresAt); err != nil {
		t.Fatalf("refresh_expires_at %q", p.RefreshExpiresAt)
	}
	// The refresh token is stored only as a hash.
	var stored int
	apptest.Must(t, e.db.QueryRowContext(context.Background(),
		"SELECT count(*) FROM refresh_tokens WHERE position(convert_to(?, 'UTF8') in token_hash) > 0", p.RefreshToken).Scan(&stored), "scan")
	resp := e.client.Get("/auth/sessions", p.Token)
	var list struct {
		Items []map[string]any `json:"items"`
	}
	resp.Decode(t, &list)
	if resp.Status != http.StatusOK || len(list.Items) != 1 || list.Items[0]["id"] != p.SessionID ||
		list.Items[0]["current"] != true || list.Items[0]["user_agent"] != "TestAgent/1.0" || list.Items[0]["ip"] == "" || stored != 0 {
		t.Fatalf("sessions %d %s", resp.Status, resp.Body)
	}
}

func TestRefresh(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"REFRESH_REUSE_INTERVAL": "1s"})
	email := randomEmail()
	e.register(email, goodPassword)

	t.Run("OKRotates", func(t *testing.T) {
		p := e.loginPair(email, nil)
		resp := e.refresh(p.RefreshToken)
		var next pair
		resp.Decode(t, &next)
		if resp.Status != http.StatusOK || next.SessionID != p.SessionID || next.RefreshToken == p.RefreshToken || next.Token == p.Token {
			t.Fatalf("refresh %d %s", resp.Status, resp.Body)
		}
		if e.me(next.Token) != http.StatusOK || e.me(p.Token) != http.StatusOK {
			t.Fatal("tokens of a live session refused")
		}
	})
	t.Run("OKConcurrentConvergeThenReuseRevokes", func(t *testing.T) {
		p := e.loginPair(email, nil)
		results := make([]apptest.Response, 20)
		var wg sync.WaitGroup
		for i := range results {
			wg.Go(func() { results[i] = e.refresh(p.RefreshToken) })
		}
		wg.Wait()
		var first pair
		results[0].Decode(t, &first)
		for _, r := range results {
			var got pair
			r.Decode(t, &got)
			if r.Status != http.StatusOK || got.Token != first.Token || got.RefreshToken != first.RefreshToken {
				t.Fatalf("refresh %d %s, want the pair %s", r.Status, r.Body, results[0].Body)
			}
		}
		if e.me(first.Token) != http.StatusOK {
			t.Fatal("the session died in the race")
		}
		// After the interval the spent token is a reuse: the whole session ends at once.
		time.Sleep(1100 * time.Millisecond)
		msg := wantError(t, e.refresh(p.RefreshToken), http.StatusUnauthorized, "unauthorized")
		if msg != "unauthorized: refresh token reused" {
			t.Fatalf("error %q", msg)
		}
		for _, tok := range []string{p.Token, first.Token} {
			if e.me(tok) != http.StatusUnauthorized {
				t.Fatal("an access token of the reused session still works")
			}
		}
		wantError(t, e.refresh(first.RefreshToken), http.StatusUnauthorized, "unauthorized")
	})
	t.Run("ErrHostileTokens", func(t *testing.T) {
		p := e.loginPair(email, nil)
		other := e.loginPair(email, nil)
		for name, tok := range map[string]string{
			"Empty": "", "TenKB": strings.Repeat("A", 10<<10), "NotBase64": strings.Repeat("!", 43),
			"Unknown": strings.Repeat("A", 43), "AccessToken": p.Token, "Padded": p.RefreshToken + "=",
		} {
			t.Run(name, func(t *testing.T) {
				wantError(t, e.refresh(tok), http.StatusUnauthorized, "unauthorized")
			})
		}
		t.Run("Missing", func(t *testing.T) {
			wantError(t, e.client.Post("/auth/refresh", map[string]any{"refresh_token": nil}, ""), http.StatusBadRequest, "validation_error")
			wantError(t, e.client.Post("/auth/refresh", map[string]any{"refresh_token": 5}, ""), http.StatusBadRequest, "validation_error")
		})
		t.Run("RefreshTokenAsBearer", func(t *testing.T) {
			wantError(t, e.client.Get("/auth/me", p.RefreshToken), http.StatusUnauthorized, "unauthorized")
		})
		// Nothing changed: both sessions still refresh.
		for _, s := range []pair{p, other} {
			if r := e.refresh(s.RefreshToken); r.Status != http.StatusOK {
				t.Fatalf("a hostile refresh changed a session: %d %s", r.Status, r.Body)
			}
		}
	})
}

func TestRefreshStatusAndRole(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	ctx := context.Background()
	accounts := models.NewAccounts(e.users, e.sessions)
	t.Run("ErrSuspended", func(t *testing.T) {
		email := randomEmail()
		e.register(email, goodPassword)
		p := e.loginPair(email, nil)
		_, err := accounts.Suspend(ctx, email, nil, nil)
		apptest.Must(t, err, "suspend")
		wantError(t, e.refresh(p.RefreshToken), http.StatusForbidden, "forbidden")
		if e.me(p.Token) != http.StatusUnauthorized {
			t.Fatal("token of a suspended user works")
		}
	})
	t.Run("OKDemotedGetsUserRole", func(t *testing.T) {
		email := randomEmail()
		e.register(email, goodPassword)
		_, err := accounts.SetRole(ctx, email, models.RoleAdmin)
		apptest.Must(t, err, "promote")
		p := e.loginPair(email, nil)
		if e.client.Get("/users/stats", p.Token).Status != http.StatusOK {
			t.Fatal("admin token refused")
		}
		_, err = accounts.SetRole(ctx, email, models.RoleUser)
		apptest.Must(t, err, "demote")
		if e.me(p.Token) != http.StatusUnauthorized {
			t.Fatal("admin token survived the demotion")
		}
		resp := e.refresh(p.RefreshToken)
		var next pair
		resp.Decode(t, &next)
		if resp.Status != http.StatusOK || decodeClaims(t, next.Token)["role"] != "user" {
			t.Fatalf("refresh after demotion: %d %s", resp.Status, resp.Body)
		}
		wantError(t, e.client.Get("/users/stats", next.Token), http.StatusForbidden, "forbidden")
		if e.me(p.Token) != http.StatusUnauthorized {
			t.Fatal("the old admin token came back with the refresh")
		}
	})
	t.Run("OKPromotedAtRefresh", func(t *testing.T) {
		email := randomEmail()
		e.register(email, goodPassword)
		p := e.loginPair(email, nil)
		_, err := accounts.SetRole(ctx, email, models.RoleAdmin)
		apptest.Must(t, err, "promote")
		if e.me(p.Token) != http.StatusOK {
			t.Fatal("a promotion ended a session")
		}
		var next pair
		e.refresh(p.RefreshToken).Decode(t, &next)
		if e.client.Get("/users/stats", next.Token).Status != http.StatusOK {
			t.Fatal("promotion not in the refreshed token")
		}
	})
}

func TestSessionLifetimes(t *testing.T) {
	t.Parallel()
	t.Run("ErrIdle", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, map[string]string{"SESSION_IDLE_TIMEOUT": "2s"})
		email := randomEmail()
		e.register(email, goodPassword)
		p := e.loginPair(email, nil)
		if e.me(p.Token) != http.StatusOK {
			t.Fatal("fresh token refused")
		}
		waitFor(t, 10*time.Second, "the idle session's token refused", func() bool { return e.me(p.Token) == http.StatusUnauthorized })
		wantError(t, e.refresh(p.RefreshToken), http.StatusUnauthorized, "unauthorized")
	})
	t.Run("ErrMaxAge", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, map[string]string{"SESSION_MAX_AGE": "3s"})
		email := randomEmail()
		e.register(email, goodPassword)
		p := e.loginPair(email, nil)
		start := time.Now()
		for time.Since(start) < 20*time.Second {
			resp := e.refresh(p.RefreshToken)
			if resp.Status == http.StatusUnauthorized {
				if time.Since(start) < 3*time.Second {
					t.Fatalf("ended before its max age: %s", resp.Body)
				}
				if e.me(p.Token) != http.StatusUnauthorized {
					t.Fatal("token of an ended session works")
				}
				return
			}
			resp.Decode(t, &p)
			time.Sleep(500 * time.Millisecond)
		}
		t.Fatal("refreshed past SESSION_MAX_AGE")
	})
	t.Run("OKMaxSessionsEvictsLeastRecentlyUsed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, map[string]string{"MAX_SESSIONS_PER_USER": "2"})
		email := randomEmail()
		e.register(email, goodPassword)
		oldest, middle := e.loginPair(email, nil), e.loginPair(email, nil)
		e.refresh(oldest.RefreshToken).Decode(t, &oldest) // now the most recently used
		newest := e.loginPair(email, nil)
		if e.me(middle.Token) != http.StatusUnauthorized || e.me(oldest.Token) != http.StatusOK || e.me(newest.Token) != http.StatusOK {
			t.Fatal("wrong session evicted")
		}
		var list struct {
			Items []map[string]any `json:"items"`
		}
		e.client.Get("/auth/sessions", newest.Token).Decode(t, &list)
		if len(list.Items) != 2 || list.Items[0]["id"] != newest.SessionID {
			t.Fatalf("sessions %v", list.Items)
		}
	})
}

func TestSessionRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	email := randomEmail()
	e.register(email, goodPassword)
	del := func(path, token string) apptest.Response {
		return e.client.Do(apptest.Request{Method: http.MethodDelete, Path: path, Token: token})
	}
	t.Run("OKRevokeOne", func(t *testing.T) {
		a, b := e.loginPair(email, nil), e.loginPair(email, nil)
		if r := del("/auth/sessions/"+b.SessionID, a.Token); r.Status != http.StatusNoContent {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		if e.me(b.Token) != http.StatusUnauthorized || e.me(a.Token) != http.StatusOK {
			t.Fatal("wrong session ended")
		}
		wantError(t, e.refresh(b.RefreshToken), http.StatusUnauthorized, "unauthorized")
		wantError(t, del("/auth/sessions/"+b.SessionID, a.Token), http.StatusNotFound, "not_found")
	})
	t.Run("ErrAnotherUsersSession", func(t *testing.T) {
		_, otherToken := e.newUser()
		mine := e.loginPair(email, nil)
		msg := wantError(t, del("/auth/sessions/"+mine.SessionID, otherToken), http.StatusNotFound, "not_found")
		if msg != "not found: session" || e.me(mine.Token) != http.StatusOK {
			t.Fatalf("%q", msg)
		}
		wantError(t, del("/auth/sessions/"+uuid.NewString(), otherToken), http.StatusNotFound, "not_found")
		wantError(t, del("/auth/sessions/not-a-uuid", otherToken), http.StatusBadRequest, "validation_error")
	})
	t.Run("OKRevokeOthersKeepsCurrent", func(t *testing.T) {
		a, b, c := e.loginPair(email, nil), e.loginPair(email, nil), e.loginPair(email, nil)
		if r := del("/auth/sessions", b.Token); r.Status != http.StatusNoContent {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		if e.me(a.Token) != http.StatusUnauthorized || e.me(c.Token) != http.StatusUnauthorized || e.me(b.Token) != http.StatusOK {
			t.Fatal("DELETE /auth/sessions ended the wrong ones")
		}
	})
	t.Run("OKLogoutEndsSessionAndRefresh", func(t *testing.T) {
		p := e.loginPair(email, nil)
		if r := e.client.Post("/auth/logout", nil, p.Token); r.Status != http.StatusNoContent {
			t.Fatalf("%d", r.Status)
		}
		wantError(t, e.refresh(p.RefreshToken), http.StatusUnauthorized, "unauthorized")
	})
	t.Run("Admin", func(t *testing.T) {
		admin := e.newAdmin()
		target := randomEmail()
		id := e.register(target, goodPassword)["id"].(string)
		p := e.loginPair(target, nil)
		resp := e.client.Get("/users/"+id+"/sessions", admin)
		var list struct {
			Items []map[string]any `json:"items"`
		}
		resp.Decode(t, &list)
		if resp.Status != http.StatusOK || len(list.Items) != 1 || list.Items[0]["current"] != false || list.Items[0]["id"] != p.SessionID {
			t.Fatalf("%d %s", resp.Status, resp.Body)
		}
		wantError(t, e.client.Get("/users/"+id+"/sessions", p.Token), http.StatusForbidden, "forbidden")
		wantError(t, e.client.Get("/users/"+uuid.NewString()+"/sessions", admin), http.StatusNotFound, "not_found")
		wantError(t, e.client.Get("/users/x/sessions", admin), http.StatusBadRequest, "validation_error")
		if r := del("/users/"+id+"/sessions", admin); r.Status != http.StatusNoContent {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		if e.me(p.Token) != http.StatusUnauthorized {
			t.Fatal("admin revocation missed a session")
		}
		wantError(t, e.refresh(p.RefreshToken), http.StatusUnauthorized, "unauthorized")
		wantError(t, del("/users/"+uuid.NewString()+"/sessions", admin), http.StatusNotFound, "not_found")
	})
}

// TestSessionRevocationAcrossInstances: a session ended through one instance is refused by
// another at once (they share Postgres and Redis, nothing else).
func TestSessionRevocationAcrossInstances(t *testing.T) {
	t.Parallel()
	a := apptest.MustNewApp(t, nil, nil)
	b := apptest.NewEnv(t, a.Config, nil)
	b.Prepare(t)
	ea, eb := envOf(t, a), envOf(t, b)
	email := randomEmail()
	ea.register(email, goodPassword)
	one, two := ea.loginPair(email, nil), eb.loginPair(email, nil)
	if eb.me(one.Token) != http.StatusOK || ea.me(two.Token) != http.StatusOK {
		t.Fatal("a token of one instance refused by the other")
	}
	r := ea.client.Do(apptest.Request{Method: http.MethodDelete, Path: "/auth/sessions/" + one.SessionID, Token: two.Token})
	if r.Status != http.StatusNoContent {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	if eb.me(one.Token) != http.StatusUnauthorized {
		t.Fatal("instance B still takes a session ended on A")
	}
	wantError(t, eb.refresh(one.RefreshToken), http.StatusUnauthorized, "unauthorized")
}
