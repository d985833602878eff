package models

import (
	"context"
	"errors"
	"sync"

	"github.com/redis/go-redis/v9"
)

// NoEviction is the only maxmemory-policy under which Redis never drops a key on its own. The
// design needs it: an evicted epoch logs a user out everywhere, an evicted index or whitelist key
// does the same to one token, and an evicted failed-login counter resets the brute-force limits.
const NoEviction = "noeviction"

// EvictionPolicy returns the maxmemory-policy of Redis (of each primary on a Cluster: the first
// one that is not noeviction, if any). A Redis that refuses CONFIG GET, as managed services
// often do, gives "" and no error; only a Redis that cannot be asked is an error.
func EvictionPolicy(ctx context.Context, rdb redis.UniversalClient) (string, error) {
	cluster, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return nodePolicy(ctx, rdb)
	}
	var (
		mu     sync.Mutex
		policy = NoEviction
	)
	err := cluster.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
		p, err := nodePolicy(ctx, node)
		mu.Lock()
		defer mu.Unlock()
		if p != NoEviction && policy == NoEviction {
			policy = p
		}
		return err
	})
	return policy, err
}

func nodePolicy(ctx context.Context, rdb redis.Cmdable) (string, error) {
	values, err := rdb.ConfigGet(ctx, "maxmemory-policy").Result()
	var refused redis.Error
	switch {
	case errors.As(err, &refused):
		return "", nil // an error reply (unknown command, NOPERM): Redis answered, but will not say
	case err != nil:
		return "", Unavailable("redis", err)
	}
	return values["maxmemory-policy"], nil
}
