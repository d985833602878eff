package models

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// TokenStore is Redis's view of which sessions and access tokens are live (the design, and why
// Postgres stays the record of every revocation, is in doc.go). Every call gets at most timeout
// (the client must have ContextTimeoutEnabled, or go-redis ignores context deadlines).
type TokenStore struct {
	rdb     redis.UniversalClient
	timeout time.Duration
}

// NewTokenStore returns a TokenStore over rdb whose calls each get at most timeout.
func NewTokenStore(rdb redis.UniversalClient, timeout time.Duration) *TokenStore {
	return &TokenStore{rdb: rdb, timeout: timeout}
}

// jwt:<jti> keeps the contract's name; sess:{<sid>} is the session's key. They live in
// different Cluster slots and are only ever read together in a pipeline split by node.
func tokenKey(jti string) string { return "jwt:" + jti }

// SessionKey is the Redis key that says session sid is live.
func SessionKey(sid string) string { return "sess:{" + sid + "}" }

// binding is the value of jwt:<jti>: the session the token belongs to and the role it was
// issued with. A token whose claims differ is refused, so that even someone who knows the
// signing secret cannot raise a whitelisted token's role or move its jti to another session.
//
// The value of sess:{<sid>} is "<user id> <role>" the same way: a demotion deletes the keys of
// the user's sessions, and the next refresh writes the lower role, so an access token of the
// old role never matches again even though its jwt:<jti> entry may still be there.
func binding(id string, role Role) string { return id + " " + string(role) }

// isBinding reports whether v == binding(id, role) without building the string (the check of
// every request).
func isBinding(v, id string, role Role) bool {
	return len(v) == len(id)+1+len(role) && v[:len(id)] == id && v[len(id)] == ' ' && v[len(id)+1:] == string(role)
}

// Allow whitelists an access token (jti of userID in session sid with role, until
// tokenExpires) and marks the session live until sessionEnds, in one pipeline of single-key
// commands (split by node on a Cluster). Any failure is an error, and the caller must then not
// hand the token out; a key written before the failure whitelists a token nobody holds.
func (s *TokenStore) Allow(ctx context.Context, userID, sid uuid.UUID, jti string, role Role, tokenExpires, sessionEnds time.Time) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	tokenTTL, sessionTTL := time.Until(tokenExpires), time.Until(sessionEnds)
	if tokenTTL <= 0 || sessionTTL <= 0 {
		return errors.New("token or session already expired")
	}
	sidText := sid.String()
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, SessionKey(sidText), binding(userID.String(), role), sessionTTL)
		p.Set(ctx, tokenKey(jti), binding(sidText, role), tokenTTL)
		return nil
	})
	if err != nil {
		return Unavailable("redis", err)
	}
	return nil
}

// Check reports whether the token jti of userID in session sid with role is live: whitelisted
// with that session and role, and its session live for that user and role. Both keys are read in one
// round trip (MGET; on a Cluster a pipeline split by node).
func (s *TokenStore) Check(ctx context.Context, userID, sid, jti string, role Role) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if _, cluster := s.rdb.(*redis.ClusterClient); !cluster {
		// One node (or a Sentinel-watched primary): both keys in one MGET, which costs fewer
		// allocations and syscalls per request than a pipeline of two GETs.
		vals, err := s.rdb.MGet(ctx, tokenKey(jti), SessionKey(sid)).Result()
		if err != nil {
			return false, Unavailable("redis", err)
		}
		bound, _ := vals[0].(string)
		owner, _ := vals[1].(string)
		return vals[0] != nil && vals[1] != nil && isBinding(owner, userID, role) && isBinding(bound, sid, role), nil
	}
	var bound, owner *redis.StringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		bound = p.Get(ctx, tokenKey(jti))
		owner = p.Get(ctx, SessionKey(sid))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return false, Unavailable("redis", err)
	}
	for _, cmd := range []*redis.StringCmd{bound, owner} {
		if err := cmd.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return false, Unavailable("redis", err)
		}
	}
	return bound.Err() == nil && owner.Err() == nil && isBinding(owner.Val(), userID, role) && isBinding(bound.Val(), sid, role), nil
}

// Drop refuses every access token of the sessions sids from now on, by deleting their keys
// (one DEL per key: they live in different Cluster slots), and removes the whitelist entries
// jtis (tidiness only: a token of a dropped session is refused whatever its entry says).
func (s *TokenStore) Drop(ctx context.Context, sids []uuid.UUID, jtis ...string) error {
	if len(sids) == 0 && len(jtis) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, sid := range sids {
			p.Del(ctx, SessionKey(sid.String()))
		}
		for _, jti := range jtis {
			p.Del(ctx, tokenKey(jti))
		}
		return nil
	})
	if err != nil {
		return Unavailable("redis", err)
	}
	return nil
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
