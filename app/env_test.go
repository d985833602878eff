package app_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"

	"github.com/example/authapi/app"
	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/models"
)

// env is one test's service: an App over its own database, clients of both its listeners, and
// the test's own handles on the App's Postgres and Redis with the stores over them (from
// apptest.Env), through which tests arrange and check state.
type env struct {
	t      *testing.T
	app    *app.App
	client *apptest.Client
	admin  *apptest.Client
	db     *bun.DB
	rdb    redis.UniversalClient
	users  *models.BunUserStore
	tokens *models.TokenStore
	// sessions and handles are the test's own, over the App's Postgres and Redis.
	sessions *models.Sessions
	handles  apptest.Handles
	// clock is the App's TOTP clock when the env was made with one (newMFAEnv).
	clock *testClock
}

// newEnv returns an env over a ready App on a fresh database.
func newEnv(t *testing.T, overrides map[string]string) *env {
	t.Helper()
	return envOf(t, apptest.MustNewApp(t, overrides, nil))
}

// envOf returns the env of s.
func envOf(t *testing.T, s *apptest.Env) *env {
	return &env{
		t: t, app: s.App, client: apptest.NewClient(t, s.App.Public()), admin: apptest.NewAdminClient(t, s.App.Admin()),
		db: s.DB, rdb: s.Redis, users: s.Users, tokens: s.Tokens,
		sessions: s.Sessions, handles: s.Handles,
	}
}

const goodPassword = "correct-horse-9"

func randomEmail() string { return apptest.RandomName("user-") + "@example.com" }

// register creates a user through the API and fails the test unless it answers 201.
func (e *env) register(email, password string) map[string]any {
	e.t.Helper()
	resp := e.client.Post("/auth/register", map[string]string{"email": email, "password": password}, "")
	if resp.Status != http.StatusCreated {
		e.t.Fatalf("register %s: %d %s", email, resp.Status, resp.Body)
	}
	return resp.JSON(e.t)["data"].(map[string]any)
}

// login returns a token and fails the test unless login answers 200.
func (e *env) login(email, password string) string {
	e.t.Helper()
	resp := e.client.Post("/auth/login", map[string]string{"email": email, "password": password}, "")
	if resp.Status != http.StatusOK {
		e.t.Fatalf("login %s: %d %s", email, resp.Status, resp.Body)
	}
	return resp.JSON(e.t)["token"].(string)
}

// newUser registers a user and returns its email and a token.
func (e *env) newUser() (email, token string) {
	e.t.Helper()
	email = randomEmail()
	e.register(email, goodPassword)
	return email, e.login(email, goodPassword)
}

// newAdmin registers a user, promotes it in the database, and returns an admin token.
func (e *env) newAdmin() string {
	e.t.Helper()
	email := randomEmail()
	e.register(email, goodPassword)
	if _, err := e.users.SetRole(context.Background(), email, models.RoleAdmin); err != nil {
		e.t.Fatalf("promote: %v", err)
	}
	return e.login(email, goodPassword)
}

// wantError asserts the status and the contract's error shape, and returns the error text.
func wantError(t *testing.T, resp apptest.Response, status int, code string) string {
	t.Helper()
	if resp.Status != status {
		t.Fatalf("status = %d, want %d; body %s", resp.Status, status, resp.Body)
	}
	body := resp.JSON(t)
	if body["code"] != code {
		t.Fatalf("code = %v, want %s; body %s", body["code"], code, resp.Body)
	}
	msg, _ := body["error"].(string)
	if msg == "" {
		t.Fatalf("no error text: %s", resp.Body)
	}
	if body["request_id"] == "" || body["request_id"] != resp.Header.Get("X-Request-ID") {
		t.Fatalf("request_id %v does not match X-Request-ID %q", body["request_id"], resp.Header.Get("X-Request-ID"))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("error Content-Type = %q", ct)
	}
	return msg
}

// untilStopped calls step again and again until stop is closed: the loop of every load
// generator in these tests.
func untilStopped(stop <-chan struct{}, step func()) {
	for {
		select {
		case <-stop:
			return
		default:
			step()
		}
	}
}
