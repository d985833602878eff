package models

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// TokenStore is the Redis whitelist of live tokens. A token is usable while jwt:{jti} exists;
// the key's TTL is the token's remaining life, so Redis forgets tokens on its own.
//
// For logout-all, each user also has a sorted set user_tokens:{user id} of its jtis scored by
// expiry. Checking a token stays one EXISTS; only login and logout-all touch the set.
type TokenStore struct {
	rdb     redis.UniversalClient
	timeout time.Duration
}

// NewTokenStore returns a TokenStore over rdb whose calls each get at most timeout (rdb must
// have ContextTimeoutEnabled, or go-redis ignores context deadlines).
func NewTokenStore(rdb redis.UniversalClient, timeout time.Duration) *TokenStore {
	return &TokenStore{rdb: rdb, timeout: timeout}
}

func tokenKey(jti string) string         { return "jwt:" + jti }
func userTokensKey(userID string) string { return "user_tokens:" + userID }

// Allow whitelists jti for userID until expiresAt. The user index is written first, so that no
// token can be live without logout-all being able to find it; a failure of either write is an
// error, and the caller must then not hand the token out.
func (s *TokenStore) Allow(ctx context.Context, userID, jti string, expiresAt time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	ttl := time.Until(expiresAt)
	if ttl <= 0 {
		return errors.New("token already expired")
	}
	index := userTokensKey(userID)
	now := float64(time.Now().Unix())
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, index, redis.Z{Score: float64(expiresAt.Unix()), Member: jti})
		// Drop jtis whose tokens have expired, so the index stays as small as the live set.
		p.ZRemRangeByScore(ctx, index, "-inf", strconv.FormatFloat(now, 'f', 0, 64))
		// The index lives as long as its longest-lived token: NX sets the TTL of a new key,
		// GT only ever extends an existing one.
		p.ExpireNX(ctx, index, ttl)
		p.ExpireGT(ctx, index, ttl)
		return nil
	})
	if err != nil {
		return Unavailable("redis", err)
	}
	if err := s.rdb.Set(ctx, tokenKey(jti), userID, ttl).Err(); err != nil {
		return Unavailable("redis", err)
	}
	return nil
}

// Exists reports whether jti is still whitelisted.
func (s *TokenStore) Exists(ctx context.Context, jti string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	n, err := s.rdb.Exists(ctx, tokenKey(jti)).Result()
	if err != nil {
		return false, Unavailable("redis", err)
	}
	return n == 1, nil
}

// Revoke removes jti from the whitelist.
func (s *TokenStore) Revoke(ctx context.Context, userID, jti string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, tokenKey(jti))
		p.ZRem(ctx, userTokensKey(userID), jti)
		return nil
	})
	if err != nil {
		return Unavailable("redis", err)
	}
	return nil
}

// RevokeAll removes every whitelisted token of userID and returns how many it removed.
func (s *TokenStore) RevokeAll(ctx context.Context, userID string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	index := userTokensKey(userID)
	jtis, err := s.rdb.ZRange(ctx, index, 0, -1).Result()
	if err != nil {
		return 0, Unavailable("redis", err)
	}
	if len(jtis) == 0 {
		return 0, nil
	}
	// One DEL per key rather than one multi-key DEL: the keys live in different Cluster slots.
	cmds, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, jti := range jtis {
			p.Del(ctx, tokenKey(jti))
		}
		members := make([]any, len(jtis))
		for i, jti := range jtis {
			members[i] = jti
		}
		p.ZRem(ctx, index, members...)
		return nil
	})
	if err != nil {
		return 0, Unavailable("redis", err)
	}
	removed := 0
	for _, cmd := range cmds[:len(jtis)] {
		if n, ok := cmd.(*redis.IntCmd); ok {
			removed += int(n.Val())
		}
	}
	return removed, nil
}

// Ping asks Redis for PONG.
func (s *TokenStore) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return Unavailable("redis", err)
	}
	return nil
}
