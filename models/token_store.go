package models

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// TokenStore is the Redis whitelist of live tokens and the per-user revocation epoch (the
// design, and why it wins every race with a revocation, is in doc.go). Every call gets at most
// timeout (the client must have ContextTimeoutEnabled, or go-redis ignores context deadlines).
type TokenStore struct {
	rdb     redis.UniversalClient
	timeout time.Duration
}

// NewTokenStore returns a TokenStore over rdb whose calls each get at most timeout.
func NewTokenStore(rdb redis.UniversalClient, timeout time.Duration) *TokenStore {
	return &TokenStore{rdb: rdb, timeout: timeout}
}

// The keys of one user share the hash tag {<user id>}, so they sit in one Cluster slot; jwt:<jti>
// keeps the contract's name and lives wherever its jti hashes.
func tokenKey(jti string) string         { return "jwt:" + jti }
func userTokensKey(userID string) string { return "user_tokens:{" + userID + "}" }
func epochKey(userID string) string      { return "token_epoch:{" + userID + "}" }

// binding is the value of jwt:<jti>: the epoch the token is bound to and the role it was issued
// with. A token whose role claim differs is refused, so that even someone who knows the
// signing secret cannot raise a whitelisted token's role, or use its jti for another user
// (whose epoch differs).
func binding(epoch string, role Role) string { return epoch + " " + string(role) }

// Epoch returns the user's current revocation epoch, creating one (random, never reused) when
// the user has none, with a TTL of at least ttl. Login calls it before it reads the user row
// that decides the token's status and role, and stores the answer with the token (Allow).
func (s *TokenStore) Epoch(ctx context.Context, userID string, ttl time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	fresh, err := newEpoch()
	if err != nil {
		return "", &Error{Code: CodeInternal, Message: "internal error", Err: err}
	}
	// SET NX GET (Redis >= 7.0): the existing value, or nil when ours was just written.
	old, err := s.rdb.SetArgs(ctx, epochKey(userID), fresh, redis.SetArgs{Mode: "NX", Get: true, TTL: ttl}).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return fresh, nil
	case err != nil:
		return "", Unavailable("redis", err)
	}
	return old, nil
}

func newEpoch() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// Allow whitelists jti for userID with role until expiresAt, bound to epoch (from Epoch). In one pipeline
// (split by slot on a Cluster, single-key commands only): the whitelist key, the user's index
// for logout-all, and the TTLs of the index and the epoch, which must outlive every token that
// carries them. Any failure is an error, and the caller must then not hand the token out; a
// key written before the failure whitelists a token nobody holds.
func (s *TokenStore) Allow(ctx context.Context, userID, jti string, role Role, epoch string, expiresAt time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	ttl := time.Until(expiresAt)
	if ttl <= 0 {
		return errors.New("token already expired")
	}
	index, epochK := userTokensKey(userID), epochKey(userID)
	now := strconv.FormatInt(time.Now().Unix(), 10)
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, index, redis.Z{Score: float64(expiresAt.Unix()), Member: jti})
		// Drop jtis whose tokens have expired, so the index stays as small as the live set.
		p.ZRemRangeByScore(ctx, index, "-inf", now)
		// NX sets the TTL of a key that has none, GT only ever extends one. On the epoch key
		// they do nothing if a revocation deleted it meanwhile: the token is refused anyway.
		for _, k := range []string{index, epochK} {
			p.ExpireNX(ctx, k, ttl)
			p.ExpireGT(ctx, k, ttl)
		}
		p.Set(ctx, tokenKey(jti), binding(epoch, role), ttl)
		return nil
	})
	if err != nil {
		return Unavailable("redis", err)
	}
	return nil
}

// Check reports whether the token jti of userID with role is live: whitelisted with that role,
// and bound to the user's current epoch. Both keys are read in one round trip (MGET; on a Cluster a pipeline, two nodes at once on a
// Cluster). A user with no epoch has no live token: the key is deleted by every revocation,
// and a key lost to eviction or a failover must not bring revoked tokens back.
func (s *TokenStore) Check(ctx context.Context, userID, jti string, role Role) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if _, cluster := s.rdb.(*redis.ClusterClient); !cluster {
		// One node (or a Sentinel-watched primary): both keys in one MGET, which costs fewer
		// allocations and syscalls per request than a pipeline of two GETs. On a Cluster the keys
		// live in different slots (MGET would be CROSSSLOT), so the pipeline below is split by node.
		vals, err := s.rdb.MGet(ctx, tokenKey(jti), epochKey(userID)).Result()
		if err != nil {
			return false, Unavailable("redis", err)
		}
		bound, _ := vals[0].(string)
		current, _ := vals[1].(string)
		return vals[0] != nil && vals[1] != nil && bound == binding(current, role), nil
	}
	var bound, current *redis.StringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		bound = p.Get(ctx, tokenKey(jti))
		current = p.Get(ctx, epochKey(userID))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, Unavailable("redis", err)
	}
	for _, cmd := range []*redis.StringCmd{bound, current} {
		if err := cmd.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return false, Unavailable("redis", err)
		}
	}
	return bound.Err() == nil && current.Err() == nil && bound.Val() == binding(current.Val(), role), nil
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

// RevokeAll refuses every token of userID from now on, those being issued included, and
// returns how many whitelist keys it deleted. Deleting the epoch is the revocation; it is done
// first and alone, so that when it returns nil every token is dead whatever happens next. The
// whitelist keys the index lists are then deleted for tidiness, best effort: a failure there
// is not reported, since the tokens are refused already.
func (s *TokenStore) RevokeAll(ctx context.Context, userID string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := s.rdb.Del(ctx, epochKey(userID)).Err(); err != nil {
		return 0, Unavailable("redis", err)
	}
	return s.tidy(ctx, userID, ""), nil
}

// tidy deletes the whitelist keys the user's index lists, but keep's, best effort, and returns
// how many it deleted.
func (s *TokenStore) tidy(ctx context.Context, userID, keep string) int {
	index := userTokensKey(userID)
	listed, err := s.rdb.ZRange(ctx, index, 0, -1).Result()
	if err != nil {
		return 0
	}
	jtis := listed[:0]
	for _, jti := range listed {
		if jti != keep {
			jtis = append(jtis, jti)
		}
	}
	if len(jtis) == 0 {
		return 0
	}
	// One DEL per key rather than one multi-key DEL: the keys live in different Cluster slots.
	cmds, _ := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
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
	removed := 0
	for _, cmd := range cmds[:min(len(jtis), len(cmds))] {
		if n, ok := cmd.(*redis.IntCmd); ok {
			removed += int(n.Val())
		}
	}
	return removed
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
