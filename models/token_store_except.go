package models

import (
	"context"
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"
)

// swapEpoch replaces the user's epoch with a new one only if it is still the one the kept token
// is bound to (a compare-and-set on one key, so it runs on a Cluster too). A revocation that
// deleted the epoch first makes it fail, and then nothing is kept.
var swapEpoch = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then redis.call("SET", KEYS[1], ARGV[2], "PX", ARGV[3]) return 1 end return 0`)

// RevokeAllExcept refuses every token of userID but keepJTI, logins in flight included, and
// returns how many whitelist keys it deleted: a password change logs out every other session
// and keeps the one that made it. It replaces the user's epoch, if keepJTI is bound to it, and
// binds keepJTI (with its role and TTL) to the new one; if keepJTI is not live (logged out,
// expired, or revoked by a suspension that got there first) it revokes every token instead.
// Between the swap and the rebinding keepJTI is refused for a moment too.
func (s *TokenStore) RevokeAllExcept(ctx context.Context, userID, keepJTI string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var bound *redis.StringCmd
	var ttl *redis.DurationCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		bound = p.Get(ctx, tokenKey(keepJTI))
		ttl = p.PTTL(ctx, tokenKey(keepJTI))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, Unavailable("redis", err)
	}
	epoch, role, found := strings.Cut(bound.Val(), " ")
	kept := false
	if found && ttl.Val() > 0 {
		next, err := newEpoch()
		if err != nil {
			return 0, &Error{Code: CodeInternal, Message: "internal error", Err: err}
		}
		swapped, err := swapEpoch.Run(ctx, s.rdb, []string{epochKey(userID)}, epoch, next, ttl.Val().Milliseconds()).Int()
		if err != nil {
			return 0, Unavailable("redis", err)
		}
		if swapped == 1 {
			// XX: never recreate a key a logout deleted meanwhile; KEEPTTL: the token's expiry.
			err := s.rdb.SetArgs(ctx, tokenKey(keepJTI), binding(next, Role(role)), redis.SetArgs{Mode: "XX", KeepTTL: true}).Err()
			if err != nil && !errors.Is(err, redis.Nil) {
				return 0, Unavailable("redis", err)
			}
			kept = true
		}
	}
	if !kept {
		if err := s.rdb.Del(ctx, epochKey(userID)).Err(); err != nil {
			return 0, Unavailable("redis", err)
		}
		keepJTI = ""
	}
	return s.tidy(ctx, userID, keepJTI), nil
}
