package models

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// RevokeAllExcept removes every whitelisted token of userID but keepJTI, and returns how many it
// removed: a password change logs out every other session and keeps the one that made it.
//
// It is kept apart from token_store.go on purpose: the token store's revocation design is
// changing (a per-user epoch), and this is the one place the account lifecycle depends on it.
// With an epoch, this becomes "bump the epoch and carry keepJTI over to the new one", in one
// atomic step on the user's slot.
func (s *TokenStore) RevokeAllExcept(ctx context.Context, userID, keepJTI string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	index := userTokensKey(userID)
	jtis, err := s.rdb.ZRange(ctx, index, 0, -1).Result()
	if err != nil {
		return 0, Unavailable("redis", err)
	}
	var doomed []string
	for _, jti := range jtis {
		if jti != keepJTI {
			doomed = append(doomed, jti)
		}
	}
	if len(doomed) == 0 {
		return 0, nil
	}
	// One DEL per key, as in RevokeAll: the keys live in different Cluster slots.
	cmds, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		members := make([]any, len(doomed))
		for i, jti := range doomed {
			p.Del(ctx, tokenKey(jti))
			members[i] = jti
		}
		p.ZRem(ctx, index, members...)
		return nil
	})
	if err != nil {
		return 0, Unavailable("redis", err)
	}
	removed := 0
	for _, cmd := range cmds[:len(doomed)] {
		if n, ok := cmd.(*redis.IntCmd); ok {
			removed += int(n.Val())
		}
	}
	return removed, nil
}
