package models_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/example/authapi/app"
	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/config"
	"github.com/example/authapi/models"
)

// TestTokenStore drives the store on a real Redis, including the interleavings that decide
// revocation, each in the order a racing login and revocation would run them.
func TestTokenStore(t *testing.T) {
	t.Parallel()
	rdb := mustRedis(t)
	s := models.NewTokenStore(rdb, storeTimeout)
	ctx := context.Background()
	live := func(userID, jti string) bool {
		t.Helper()
		ok, err := s.Check(ctx, userID, jti, models.RoleUser)
		apptest.Must(t, err, "check")
		return ok
	}
	// allow is what a login does: read the epoch, then (after bcrypt) whitelist with it.
	allow := func(userID string, ttl time.Duration) string {
		t.Helper()
		epoch, err := s.Epoch(ctx, userID, ttl)
		apptest.Must(t, err, "epoch")
		jti := uuid.NewString()
		apptest.Must(t, s.Allow(ctx, userID, jti, models.RoleUser, epoch, time.Now().Add(ttl)), "allow")
		return jti
	}

	t.Run("AllowThenRevoke", func(t *testing.T) {
		user := uuid.NewString()
		a, b := allow(user, time.Hour), allow(user, time.Hour)
		if !live(user, a) || !live(user, b) {
			t.Fatal("allowed tokens are not live")
		}
		apptest.Must(t, s.Revoke(ctx, user, a), "revoke")
		if live(user, a) || !live(user, b) {
			t.Fatalf("after revoking a: a %v, b %v; want false, true", live(user, a), live(user, b))
		}
		apptest.Must(t, s.Revoke(ctx, user, a), "revoke twice") // idempotent
	})
	t.Run("UnknownTokenIsNotLive", func(t *testing.T) {
		user := uuid.NewString()
		allow(user, time.Hour)
		if live(user, uuid.NewString()) {
			t.Fatal("a never allowed jti is live")
		}
	})
	t.Run("RevokeAllTouchesOneUser", func(t *testing.T) {
		user, other := uuid.NewString(), uuid.NewString()
		mine := []string{allow(user, time.Hour), allow(user, 2*time.Hour), allow(user, time.Minute)}
		theirs := allow(other, time.Hour)
		n, err := s.RevokeAll(ctx, user)
		apptest.Must(t, err, "revoke all")
		if n != len(mine) {
			t.Fatalf("RevokeAll removed %d, want %d", n, len(mine))
		}
		for _, jti := range mine {
			if live(user, jti) {
				t.Fatalf("%s survived RevokeAll", jti)
			}
		}
		if !live(other, theirs) {
			t.Fatal("RevokeAll removed another user's token")
		}
		if n, err := s.RevokeAll(ctx, user); err != nil || n != 0 {
			t.Fatalf("second RevokeAll = %d, %v; want 0", n, err)
		}
		if next := allow(user, time.Hour); !live(user, next) {
			t.Fatal("a login after the revocation is refused")
		}
	})
	t.Run("RevokeAllExceptKeepsOne", func(t *testing.T) {
		// A password change: every token but the one it was made with is refused, a login in
		// flight included; a kept token that was logged out meanwhile stays out.
		user := uuid.NewString()
		keep, other := allow(user, time.Hour), allow(user, 2*time.Hour)
		inFlight, err := s.Epoch(ctx, user, time.Hour)
		apptest.Must(t, err, "epoch")
		keepTTL := rdb.PTTL(ctx, "jwt:"+keep).Val()
		n, err := s.RevokeAllExcept(ctx, user, keep)
		if err != nil || n != 1 {
			t.Fatalf("RevokeAllExcept = %d, %v; want 1", n, err)
		}
		late := uuid.NewString()
		apptest.Must(t, s.Allow(ctx, user, late, models.RoleUser, inFlight, time.Now().Add(time.Hour)), "allow")
		if !live(user, keep) || live(user, other) || live(user, late) {
			t.Fatalf("keep %v, other %v, in flight %v; want true, false, false", live(user, keep), live(user, other), live(user, late))
		}
		if ttl := rdb.PTTL(ctx, "jwt:"+keep).Val(); ttl > keepTTL || ttl < keepTTL-time.Minute {
			t.Fatalf("kept token's TTL %v, was %v", ttl, keepTTL)
		}
		apptest.Must(t, s.Revoke(ctx, user, keep), "logout")
		_, err = s.RevokeAllExcept(ctx, user, keep)
		apptest.Must(t, err, "revoke all except, after logout")
		if n, _ := rdb.Exists(ctx, "jwt:"+keep).Result(); n != 0 || live(user, keep) {
			t.Fatal("RevokeAllExcept brought a logged-out token back")
		}
	})
	t.Run("RevokeAllExceptAfterSuspension", func(t *testing.T) {
		// A suspension's RevokeAll lands first: the token to keep is dead already, and a password
		// change that follows must not bring it back.
		user := uuid.NewString()
		keep := allow(user, time.Hour)
		bound := rdb.Get(ctx, "jwt:"+keep).Val()
		_, err := s.RevokeAll(ctx, user)
		apptest.Must(t, err, "revoke all")
		// As if the best-effort tidy-up had missed the key: only the epoch says it is dead.
		apptest.Must(t, rdb.Set(ctx, "jwt:"+keep, bound, time.Hour).Err(), "restore key")
		_, err = s.RevokeAllExcept(ctx, user, keep)
		apptest.Must(t, err, "revoke all except")
		if live(user, keep) {
			t.Fatal("RevokeAllExcept revived a token a suspension had revoked")
		}
	})
	t.Run("ErrRevokedBetweenEpochAndAllow", func(t *testing.T) {
		// The login read the epoch, the revocation ran during its bcrypt, then it whitelisted:
		// the token is whitelisted, listed, and refused.
		user := uuid.NewString()
		epoch, err := s.Epoch(ctx, user, time.Hour)
		apptest.Must(t, err, "epoch")
		_, err = s.RevokeAll(ctx, user)
		apptest.Must(t, err, "revoke all")
		jti := uuid.NewString()
		apptest.Must(t, s.Allow(ctx, user, jti, models.RoleUser, epoch, time.Now().Add(time.Hour)), "allow")
		if n, _ := rdb.Exists(ctx, "jwt:"+jti).Result(); n != 1 || live(user, jti) {
			t.Fatalf("token whitelisted after the revocation: exists %d, live %v", n, live(user, jti))
		}
		if next := allow(user, time.Hour); !live(user, next) {
			t.Fatal("the next login is refused")
		}
	})
	t.Run("ErrEpochLost", func(t *testing.T) {
		// An evicted or lost epoch never brings a revoked token back: no epoch, no live token,
		// and the next one is new.
		user := uuid.NewString()
		jti := allow(user, time.Hour)
		before, _ := rdb.Get(ctx, "token_epoch:{"+user+"}").Result()
		apptest.Must(t, rdb.Del(ctx, "token_epoch:{"+user+"}").Err(), "del")
		if live(user, jti) {
			t.Fatal("token live without an epoch")
		}
		next, err := s.Epoch(ctx, user, time.Hour)
		if err != nil || next == before || live(user, jti) {
			t.Fatalf("epoch reused (%s) or old token revived: %v", next, err)
		}
	})
	t.Run("KeysAndTTLs", func(t *testing.T) {
		user := uuid.NewString()
		epoch, err := s.Epoch(ctx, user, time.Minute)
		apptest.Must(t, err, "epoch")
		jti := uuid.NewString()
		apptest.Must(t, s.Allow(ctx, user, jti, models.RoleUser, epoch, time.Now().Add(2*time.Hour)), "allow")
		// The epoch and the index live at least as long as the longest token bound to them.
		for _, key := range []string{"jwt:" + jti, "user_tokens:{" + user + "}", "token_epoch:{" + user + "}"} {
			if ttl, err := rdb.TTL(ctx, key).Result(); err != nil || ttl < 2*time.Hour-time.Minute || ttl > 2*time.Hour {
				t.Errorf("TTL of %s = %v, %v; want about 2h", key, ttl, err)
			}
		}
		if v, _ := rdb.Get(ctx, "jwt:"+jti).Result(); v != epoch+" user" {
			t.Errorf("jwt:{jti} holds %q, want the epoch and the role", v)
		}
	})
	t.Run("ExpiresWithTheToken", func(t *testing.T) {
		user := uuid.NewString()
		jti := allow(user, 1100*time.Millisecond)
		if !live(user, jti) {
			t.Fatal("fresh token is not live")
		}
		deadline := time.Now().Add(5 * time.Second)
		for live(user, jti) {
			if time.Now().After(deadline) {
				t.Fatal("token still live 5s after its expiry")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	t.Run("ErrAlreadyExpired", func(t *testing.T) {
		if err := s.Allow(ctx, uuid.NewString(), uuid.NewString(), models.RoleUser, "e", time.Now().Add(-time.Second)); err == nil {
			t.Fatal("allowed a token that has already expired")
		}
	})
	t.Run("ErrRedisDown", func(t *testing.T) {
		dead, err := app.OpenRedis(config.Redis{URL: "redis://127.0.0.1:1/0", Timeout: 200 * time.Millisecond})
		apptest.Must(t, err, "open")
		defer dead.Close()
		d := models.NewTokenStore(dead, 200*time.Millisecond)
		user := uuid.NewString()
		_, errEpoch := d.Epoch(ctx, user, time.Hour)
		errAllow := d.Allow(ctx, user, "j", models.RoleUser, "e", time.Now().Add(time.Hour))
		ok, errCheck := d.Check(ctx, user, "j", models.RoleUser)
		_, errAll := d.RevokeAll(ctx, user)
		for _, err := range []error{errEpoch, errAllow, errCheck, errAll} {
			wantCode(t, err, models.CodeUnavailable)
		}
		if ok {
			t.Error("Check with Redis down said live")
		}
	})
}
