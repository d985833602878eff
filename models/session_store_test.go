package models_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"

	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/models"
)

// clock is a settable clock for the session rules (idle timeout, max age, reuse interval).
type clock struct{ now atomic.Int64 }

func newClock() *clock               { c := &clock{}; c.now.Store(time.Now().UnixNano()); return c }
func (c *clock) Now() time.Time      { return time.Unix(0, c.now.Load()) }
func (c *clock) Add(d time.Duration) { c.now.Add(int64(d)) }

type sessionsEnv struct {
	db       *bun.DB
	rdb      redis.UniversalClient
	users    *models.BunUserStore
	tokens   *models.TokenStore
	sessions *models.Sessions
	clock    *clock
}

var testSessionOptions = models.SessionOptions{
	AccessTTL: time.Hour, IdleTimeout: 30 * time.Minute, MaxAge: 2 * time.Hour, ReuseInterval: 10 * time.Second, MaxPerUser: 3,
}

func newSessionsEnv(t *testing.T) *sessionsEnv {
	t.Helper()
	db, _ := apptest.MustOpenDB(t)
	rdb := mustRedis(t)
	e := &sessionsEnv{db: db, rdb: rdb, users: models.NewBunUserStore(db, storeTimeout), tokens: models.NewTokenStore(rdb, storeTimeout), clock: newClock()}
	issuer := models.NewIssuer(models.IssuerOptions{Secret: []byte(apptest.Secret), Issuer: "auth-api", Expiry: time.Hour}, time.Now)
	e.sessions = models.NewSessions(db, e.tokens, issuer, testSessionOptions, storeTimeout, e.clock.Now, nil)
	return e
}

func (e *sessionsEnv) user(t *testing.T) *models.User {
	t.Helper()
	u := &models.User{Email: apptest.RandomName("sess-") + "@example.com", PasswordHash: "hash-" + uuid.NewString(), Status: models.StatusActive, Role: models.RoleUser}
	apptest.Must(t, e.users.Create(context.Background(), u), "create user")
	return u
}

func (e *sessionsEnv) open(t *testing.T, u *models.User) *models.Grant {
	t.Helper()
	g, err := e.sessions.Open(context.Background(), models.LoginProof{UserID: u.ID, VerifiedHash: u.PasswordHash, SessionEpoch: u.SessionEpoch}, models.Client{IP: "192.0.2.1", UserAgent: "test"})
	apptest.Must(t, err, "open")
	return g
}

// live reports whether the session's key is in Redis (what every request's check reads).
func (e *sessionsEnv) live(t *testing.T, sid uuid.UUID) bool {
	t.Helper()
	n, err := e.rdb.Exists(context.Background(), models.SessionKey(sid.String())).Result()
	apptest.Must(t, err, "exists")
	return n == 1
}

func TestSessionOpen(t *testing.T) {
	t.Parallel()
	e := newSessionsEnv(t)
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		u := e.user(t)
		g := e.open(t, u)
		if !e.live(t, g.SessionID) || len(g.RefreshToken) != 43 || g.AccessToken == "" {
			t.Fatalf("grant %+v", g)
		}
		list, err := e.sessions.List(ctx, u.ID)
		apptest.Must(t, err, "list")
		if len(list) != 1 || list[0].ID != g.SessionID || list[0].IP != "192.0.2.1" || list[0].UserAgent != "test" {
			t.Fatalf("list %+v", list)
		}
	})
	t.Run("ErrHashChangedMeanwhile", func(t *testing.T) {
		u := e.user(t)
		_, err := e.sessions.Open(ctx, models.LoginProof{UserID: u.ID, VerifiedHash: "the-old-hash", SessionEpoch: 0}, models.Client{})
		wantCode(t, err, models.CodeUnauthorized)
	})
	t.Run("ErrEpochBumpedMeanwhile", func(t *testing.T) {
		u := e.user(t)
		_, err := e.sessions.RevokeAll(ctx, u.ID, uuid.Nil, models.EndLogoutAll, nil)
		apptest.Must(t, err, "revoke all")
		_, err = e.sessions.Open(ctx, models.LoginProof{UserID: u.ID, VerifiedHash: u.PasswordHash, SessionEpoch: 0}, models.Client{})
		wantCode(t, err, models.CodeUnauthorized)
		if list, _ := e.sessions.List(ctx, u.ID); len(list) != 0 {
			t.Fatalf("a session was opened: %+v", list)
		}
	})
	t.Run("ErrSuspended", func(t *testing.T) {
		u := e.user(t)
		_, err := e.users.Suspend(ctx, u.Email, nil, nil)
		apptest.Must(t, err, "suspend")
		_, err = e.sessions.Open(ctx, models.LoginProof{UserID: u.ID, VerifiedHash: u.PasswordHash}, models.Client{})
		wantCode(t, err, models.CodeForbidden)
	})
	t.Run("OKEvictsLeastRecentlyUsed", func(t *testing.T) {
		u := e.user(t)
		var grants []*models.Grant
		for range testSessionOptions.MaxPerUser + 1 {
			grants = append(grants, e.open(t, u))
			e.clock.Add(time.Second)
		}
		list, err := e.sessions.List(ctx, u.ID)
		apptest.Must(t, err, "list")
		if len(list) != testSessionOptions.MaxPerUser || e.live(t, grants[0].SessionID) || !e.live(t, grants[1].SessionID) {
			t.Fatalf("%d live sessions, first live %v", len(list), e.live(t, grants[0].SessionID))
		}
		if _, err := e.sessions.Refresh(ctx, grants[0].RefreshToken, models.Client{}); models.ErrorCode(err) != models.CodeUnauthorized {
			t.Fatalf("evicted session refreshed: %v", err)
		}
	})
	t.Run("OKUserAgentCut", func(t *testing.T) {
		u := e.user(t)
		long := make([]byte, 1000)
		for i := range long {
			long[i] = 'a'
		}
		g, err := e.sessions.Open(ctx, models.LoginProof{UserID: u.ID, VerifiedHash: u.PasswordHash}, models.Client{UserAgent: string(long) + "\x00"})
		apptest.Must(t, err, "open")
		list, _ := e.sessions.List(ctx, u.ID)
		if len(list) != 1 || list[0].ID != g.SessionID || len(list[0].UserAgent) != models.MaxUserAgentBytes {
			t.Fatalf("user agent of %d bytes", len(list[0].UserAgent))
		}
	})
}

func TestSessionRefresh(t *testing.T) {
	t.Parallel()
	e := newSessionsEnv(t)
	ctx := context.Background()
	t.Run("OKRotates", func(t *testing.T) {
		g := e.open(t, e.user(t))
		next, err := e.sessions.Refresh(ctx, g.RefreshToken, models.Client{})
		apptest.Must(t, err, "refresh")
		if next.SessionID != g.SessionID || next.RefreshToken == g.RefreshToken || next.AccessToken == g.AccessToken {
			t.Fatalf("%+v after %+v", next, g)
		}
		again, err := e.sessions.Refresh(ctx, next.RefreshToken, models.Client{})
		apptest.Must(t, err, "second refresh")
		if again.RefreshToken == next.RefreshToken {
			t.Fatal("no rotation")
		}
	})
	t.Run("OKConcurrentConverge", func(t *testing.T) {
		g := e.open(t, e.user(t))
		var wg sync.WaitGroup
		results := make([]*models.Grant, 20)
		errs := make([]error, 20)
		for i := range results {
			wg.Go(func() { results[i], errs[i] = e.sessions.Refresh(ctx, g.RefreshToken, models.Client{}) })
		}
		wg.Wait()
		for i := range results {
			apptest.Must(t, errs[i], "refresh")
			if r, first := results[i], results[0]; r.AccessToken != first.AccessToken || r.RefreshToken != first.RefreshToken || r.SessionID != first.SessionID {
				t.Fatalf("two pairs: %+v and %+v", results[i], results[0])
			}
		}
		if !e.live(t, g.SessionID) {
			t.Fatal("session ended")
		}
	})
	t.Run("ErrReusedAfterInterval", func(t *testing.T) {
		g := e.open(t, e.user(t))
		_, err := e.sessions.Refresh(ctx, g.RefreshToken, models.Client{})
		apptest.Must(t, err, "refresh")
		e.clock.Add(testSessionOptions.ReuseInterval + time.Second)
		_, err = e.sessions.Refresh(ctx, g.RefreshToken, models.Client{})
		if models.ErrorMessage(err) != "refresh token reused" {
			t.Fatalf("err = %v", err)
		}
		if e.live(t, g.SessionID) {
			t.Fatal("session live after reuse")
		}
		var reason string
		apptest.Must(t, e.db.QueryRowContext(ctx, "SELECT revoke_reason FROM sessions WHERE id = ?", g.SessionID).Scan(&reason), "reason")
		if reason != models.EndReused {
			t.Fatalf("reason %q", reason)
		}
	})
	t.Run("ErrIdle", func(t *testing.T) {
		g := e.open(t, e.user(t))
		e.clock.Add(testSessionOptions.IdleTimeout + time.Second)
		_, err := e.sessions.Refresh(ctx, g.RefreshToken, models.Client{})
		wantCode(t, err, models.CodeUnauthorized)
	})
	t.Run("ErrMaxAge", func(t *testing.T) {
		g := e.open(t, e.user(t))
		for range 5 { // refreshed every 25 minutes: never idle, but past 2h of age
			e.clock.Add(25 * time.Minute)
			next, err := e.sessions.Refresh(ctx, g.RefreshToken, models.Client{})
			if err != nil {
				wantCode(t, err, models.CodeUnauthorized)
				return
			}
			if next.RefreshExpiresAt.After(e.clock.Now().Add(testSessionOptions.MaxAge)) {
				t.Fatal("refresh expiry past max age")
			}
			g = next
		}
		t.Fatal("refreshed past max age")
	})
	t.Run("ErrMalformed", func(t *testing.T) {
		for _, tok := range []string{"", "x", string(make([]byte, 10<<10)), "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
			_, err := e.sessions.Refresh(ctx, tok, models.Client{})
			wantCode(t, err, models.CodeUnauthorized)
		}
	})
	t.Run("ErrSuspended", func(t *testing.T) {
		u := e.user(t)
		g := e.open(t, u)
		_, err := e.users.Suspend(ctx, u.Email, nil, nil)
		apptest.Must(t, err, "suspend")
		_, err = e.sessions.Refresh(ctx, g.RefreshToken, models.Client{})
		wantCode(t, err, models.CodeForbidden)
	})
}

func TestSessionRevoke(t *testing.T) {
	t.Parallel()
	e := newSessionsEnv(t)
	ctx := context.Background()
	t.Run("OKOne", func(t *testing.T) {
		u := e.user(t)
		a, b := e.open(t, u), e.open(t, u)
		apptest.Must(t, e.sessions.Revoke(ctx, u.ID, a.SessionID, models.EndRevoked, nil), "revoke")
		if e.live(t, a.SessionID) || !e.live(t, b.SessionID) {
			t.Fatal("wrong session ended")
		}
		wantCode(t, e.sessions.Revoke(ctx, u.ID, a.SessionID, models.EndRevoked, nil), models.CodeNotFound)
	})
	t.Run("ErrAnotherUsers", func(t *testing.T) {
		a := e.open(t, e.user(t))
		wantCode(t, e.sessions.Revoke(ctx, e.user(t).ID, a.SessionID, models.EndRevoked, nil), models.CodeNotFound)
		if !e.live(t, a.SessionID) {
			t.Fatal("another user ended it")
		}
	})
	t.Run("OKAllButOne", func(t *testing.T) {
		u := e.user(t)
		a, b, c := e.open(t, u), e.open(t, u), e.open(t, u)
		n, err := e.sessions.RevokeAll(ctx, u.ID, b.SessionID, models.EndPassword, nil)
		apptest.Must(t, err, "revoke all")
		if n != 2 || e.live(t, a.SessionID) || !e.live(t, b.SessionID) || e.live(t, c.SessionID) {
			t.Fatalf("n = %d", n)
		}
	})
	t.Run("OKAccessOnly", func(t *testing.T) {
		u := e.user(t)
		g := e.open(t, u)
		_, err := e.sessions.RevokeAccess(ctx, u.ID)
		apptest.Must(t, err, "revoke access")
		if e.live(t, g.SessionID) {
			t.Fatal("access not revoked")
		}
		if _, err := e.sessions.Refresh(ctx, g.RefreshToken, models.Client{}); err != nil {
			t.Fatalf("refresh after access revocation: %v", err)
		}
	})
}

func TestTokenStoreCheck(t *testing.T) {
	t.Parallel()
	s := models.NewTokenStore(mustRedis(t), storeTimeout)
	ctx := context.Background()
	uid, sid, jti := uuid.New(), uuid.New(), uuid.NewString()
	apptest.Must(t, s.Allow(ctx, uid, sid, jti, models.RoleUser, time.Now().Add(time.Hour), time.Now().Add(time.Hour)), "allow")
	for _, tc := range []struct {
		name          string
		uid, sid, jti string
		role          models.Role
		want          bool
	}{
		{"OK", uid.String(), sid.String(), jti, models.RoleUser, true},
		{"ErrRoleRaised", uid.String(), sid.String(), jti, models.RoleAdmin, false},
		{"ErrOtherUser", uuid.NewString(), sid.String(), jti, models.RoleUser, false},
		{"ErrOtherSession", uid.String(), uuid.NewString(), jti, models.RoleUser, false},
		{"ErrUnknownJTI", uid.String(), sid.String(), uuid.NewString(), models.RoleUser, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			live, err := s.Check(ctx, tc.uid, tc.sid, tc.jti, tc.role)
			if err != nil || live != tc.want {
				t.Fatalf("live %v err %v", live, err)
			}
		})
	}
	t.Run("ErrDropped", func(t *testing.T) {
		apptest.Must(t, s.Drop(ctx, []uuid.UUID{sid}), "drop")
		if live, _ := s.Check(ctx, uid.String(), sid.String(), jti, models.RoleUser); live {
			t.Fatal("live after drop")
		}
	})
	t.Run("ErrRedisDown", func(t *testing.T) {
		dead := models.NewTokenStore(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond}), time.Second)
		_, err := dead.Check(ctx, uid.String(), sid.String(), jti, models.RoleUser)
		wantCode(t, err, models.CodeUnavailable)
		wantCode(t, dead.Allow(ctx, uid, sid, jti, models.RoleUser, time.Now().Add(time.Hour), time.Now().Add(time.Hour)), models.CodeUnavailable)
	})
}

func TestSessionPrune(t *testing.T) {
	t.Parallel()
	e := newSessionsEnv(t)
	ctx := context.Background()
	u := e.user(t)
	ended, live := e.open(t, u), e.open(t, u)
	apptest.Must(t, e.sessions.Revoke(ctx, u.ID, ended.SessionID, models.EndLogout, nil), "revoke")
	_, err := e.db.ExecContext(ctx, "UPDATE sessions SET revoked_at = revoked_at - interval '2 hours' WHERE id = ?", ended.SessionID)
	apptest.Must(t, err, "age the revocation")
	n, err := models.NewReconciler(e.db, time.Hour, nil).Prune(ctx, testSessionOptions.IdleTimeout, 100)
	apptest.Must(t, err, "prune")
	var sessions, tokens int
	apptest.Must(t, e.db.QueryRowContext(ctx, "SELECT count(*) FROM sessions WHERE user_id = ?", u.ID).Scan(&sessions), "count")
	apptest.Must(t, e.db.QueryRowContext(ctx, "SELECT count(*) FROM refresh_tokens WHERE session_id = ?", ended.SessionID).Scan(&tokens), "count")
	if n < 1 || sessions != 1 || tokens != 0 {
		t.Fatalf("pruned %d; %d sessions and %d refresh tokens left", n, sessions, tokens)
	}
	if _, err := e.sessions.Refresh(ctx, live.RefreshToken, models.Client{}); err != nil {
		t.Fatalf("prune touched a live session: %v", err)
	}
}
