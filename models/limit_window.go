package models

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// limitKey is one fixed-window counter: its Redis key and its rule.
type limitKey struct {
	key  string
	rule LimitRule
}

// windowCounts is one attempt counted on a set of fixed-window counters.
type windowCounts struct {
	keys   []limitKey
	counts []*redis.IntCmd
	ttls   []*redis.DurationCmd
}

// countWindows counts one attempt on every key before any work is done for it: INCR (atomic per
// key, so concurrent attempts cannot all pass a check before any is counted), EXPIRE NX (the
// window starts at the first attempt and later ones do not extend it), PTTL (what is left of
// it). One pipeline of single-key commands, so it runs on a Redis Cluster too (split by node);
// extra adds the caller's own single-key commands to it. When the pipeline fails, the
// increments that landed are given back and the error is a CodeUnavailable one.
func countWindows(ctx context.Context, rdb redis.UniversalClient, timeout time.Duration, keys []limitKey, extra func(redis.Pipeliner)) (*windowCounts, error) {
	w := &windowCounts{keys: keys, counts: make([]*redis.IntCmd, len(keys)), ttls: make([]*redis.DurationCmd, len(keys))}
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range keys {
			w.counts[i] = p.Incr(ctx, k.key)
			p.ExpireNX(ctx, k.key, k.rule.Window)
			w.ttls[i] = p.PTTL(ctx, k.key)
		}
		if extra != nil {
			extra(p)
		}
		return nil
	})
	if err != nil {
		w.giveBack(rdb, timeout)
		return nil, Unavailable("redis", err)
	}
	return w, nil
}

// wait is how long the attempt must wait: the longest time left on a counter it took past its
// limit, or 0 when it is within every limit. exempt(i) leaves counter i out of the decision.
func (w *windowCounts) wait(exempt func(i int) bool) time.Duration {
	var wait time.Duration
	for i, k := range w.keys {
		if w.counts[i].Val() <= int64(k.rule.Max) || (exempt != nil && exempt(i)) {
			continue
		}
		left := w.ttls[i].Val()
		if left <= 0 {
			left = k.rule.Window // a counter without TTL should not exist; be safe.
		}
		wait = max(wait, left)
	}
	return wait
}

// giveBack undoes the increments that did land when the pipeline failed as a whole. On a Redis
// Cluster the keys live on different nodes, so while one node is down the others count:
// without this, every 503 of a failover would leave attempts nobody made, and a client retrying
// through it would be locked out for the whole window. Best effort, on a fresh deadline (the
// caller's may be what ran out); a count whose reply was lost cannot be told apart and stays.
func (w *windowCounts) giveBack(rdb redis.UniversalClient, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, _ = rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, k := range w.keys {
			// Val, not Err: when the call's deadline ends the retries, go-redis sets that error
			// on every command of the pipeline, the answered ones too. An answered INCR is at
			// least 1.
			if w.counts[i].Val() > 0 {
				decrIfExists.Eval(ctx, p, []string{k.key})
			}
		}
		return nil
	})
}

// decrIfExists takes back one counted attempt without ever creating a key (a key recreated by
// DECR would have no TTL and never expire). One key per call, so it runs on Redis Cluster too.
var decrIfExists = redis.NewScript(`if redis.call("EXISTS", KEYS[1]) == 1 then return redis.call("DECR", KEYS[1]) end return 0`)
