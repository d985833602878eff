package models_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/models"
)

func TestTokenStore(t *testing.T) {
	t.Parallel()
	s := models.NewTokenStore(mustRedis(t), storeTimeout)
	ctx := context.Background()
	exists := func(jti string) bool {
		t.Helper()
		ok, err := s.Exists(ctx, jti)
		apptest.Must(t, err, "exists")
		return ok
	}
	allow := func(userID string, ttl time.Duration) string {
		t.Helper()
		jti := uuid.NewString()
		apptest.Must(t, s.Allow(ctx, userID, jti, time.Now().Add(ttl)), "allow")
		return jti
	}

	t.Run("AllowThenRevoke", func(t *testing.T) {
		user := uuid.NewString()
		a, b := allow(user, time.Hour), allow(user, time.Hour)
		if !exists(a) || !exists(b) {
			t.Fatal("allowed tokens do not exist")
		}
		apptest.Must(t, s.Revoke(ctx, user, a), "revoke")
		if exists(a) || !exists(b) {
			t.Fatalf("after revoking a: a %v, b %v; want false, true", exists(a), exists(b))
		}
		apptest.Must(t, s.Revoke(ctx, user, a), "revoke twice") // idempotent
	})
	t.Run("UnknownTokenDoesNotExist", func(t *testing.T) {
		if exists(uuid.NewString()) {
			t.Fatal("a never allowed jti exists")
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
			if exists(jti) {
				t.Fatalf("%s survived RevokeAll", jti)
			}
		}
		if !exists(theirs) {
			t.Fatal("RevokeAll removed another user's token")
		}
		if n, err := s.RevokeAll(ctx, user); err != nil || n != 0 {
			t.Fatalf("second RevokeAll = %d, %v; want 0", n, err)
		}
	})
	t.Run("ExpiresWithTheToken", func(t *testing.T) {
		jti := allow(uuid.NewString(), 1100*time.Millisecond)
		if !exists(jti) {
			t.Fatal("fresh token does not exist")
		}
		deadline := time.Now().Add(5 * time.Second)
		for exists(jti) {
			if time.Now().After(deadline) {
				t.Fatal("token still whitelisted 5s after its expiry")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	t.Run("ErrAlreadyExpired", func(t *testing.T) {
		if err := s.Allow(ctx, uuid.NewString(), uuid.NewString(), time.Now().Add(-time.Second)); err == nil {
			t.Fatal("allowed a token that has already expired")
		}
	})
}
