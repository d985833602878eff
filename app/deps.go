package app

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/driver/pgdriver"

	"github.com/example/authapi/config"
	"github.com/example/authapi/models"
)

// OpenDB returns a Bun handle over a pool of at most MaxConnections. It does not connect: the
// pool dials on first use, so the process can start while Postgres is still down.
func OpenDB(cfg config.DB) *bun.DB {
	connector := pgdriver.NewConnector(
		pgdriver.WithDSN(cfg.URL),
		pgdriver.WithTimeout(cfg.QueryTimeout),
		pgdriver.WithDialTimeout(min(cfg.QueryTimeout, 2*time.Second)),
	)
	sqldb := sql.OpenDB(connector)
	sqldb.SetMaxOpenConns(cfg.MaxConnections)
	sqldb.SetMaxIdleConns(cfg.MaxConnections)
	// Recycle connections now and then so a Postgres failover or restart is left behind.
	sqldb.SetConnMaxLifetime(30 * time.Minute)
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	return bun.NewDB(sqldb, pgdialect.New())
}

// OpenRedis returns a client for the configured topology: REDIS_CLUSTER_ADDRS (a Cluster),
// REDIS_SENTINEL_ADDRS with REDIS_SENTINEL_MASTER (a primary watched by Sentinel), or REDIS_URL:
// a single node (redis://host:port/db) or the older URL forms of a Cluster
// (redis://host1:port?addr=host2:port) and of Sentinel (redis://s1:26379?master_name=m&addr=…).
// Every call is bounded by timeout, so a dead Redis turns into a fast 503.
//
// onConnect (may be nil) runs on every new connection before its first command: the service
// passes models.Reconciler.OnConnect.
func OpenRedis(cfg config.Redis, onConnect func(context.Context, *redis.Conn) error) (redis.UniversalClient, error) {
	switch {
	case len(cfg.ClusterAddrs) > 0:
		return newCluster(&redis.ClusterOptions{Addrs: cfg.ClusterAddrs, Password: cfg.Password, OnConnect: onConnect}, cfg.Timeout), nil
	case len(cfg.SentinelAddrs) > 0:
		return newFailover(&redis.FailoverOptions{
			MasterName: cfg.SentinelMaster, SentinelAddrs: cfg.SentinelAddrs, Password: cfg.Password, OnConnect: onConnect,
		}, cfg.Timeout), nil
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL is not a valid URL")
	}
	q := u.Query()
	switch {
	case q.Get("master_name") != "":
		opts, err := redis.ParseFailoverURL(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL (sentinel): %s", redactErr(err))
		}
		opts.OnConnect = onConnect
		return newFailover(opts, cfg.Timeout), nil
	case len(q["addr"]) > 0:
		opts, err := redis.ParseClusterURL(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL (cluster): %s", redactErr(err))
		}
		opts.OnConnect = onConnect
		return newCluster(opts, cfg.Timeout), nil
	}
	opts, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %s", redactErr(err))
	}
	if opts.Password == "" {
		opts.Password = cfg.Password
	}
	bound(cfg.Timeout, &opts.DialTimeout, &opts.ReadTimeout, &opts.WriteTimeout, &opts.PoolTimeout, &opts.ContextTimeoutEnabled)
	opts.MaxRetries = 1
	opts.OnConnect = onConnect
	return redis.NewClient(opts), nil
}

// clusterStateReload is how stale the cluster client's slot map may get. go-redis reloads it
// at once on MOVED, but a dead primary answers nothing, so without a short interval requests
// for its slots would fail until the default 60 s reload, long after a replica took over.
const clusterStateReload = time.Second

// newCluster bounds a Cluster client. Writes and reads go to the primaries (ReadOnly and
// RouteByLatency off: a replica may lag behind a logout). A command whose node fails is retried
// on a fresh slot map up to MaxRedirects times, inside the call's deadline.
func newCluster(opts *redis.ClusterOptions, timeout time.Duration) *redis.ClusterClient {
	bound(timeout, &opts.DialTimeout, &opts.ReadTimeout, &opts.WriteTimeout, &opts.PoolTimeout, &opts.ContextTimeoutEnabled)
	opts.ReadOnly, opts.RouteByLatency, opts.RouteRandomly = false, false, false
	opts.MaxRedirects = 3
	opts.MaxRetries = 0 // per node: none; the cluster's own loop above retries
	opts.ClusterStateReloadInterval = clusterStateReload
	return redis.NewClusterClient(opts)
}

// newFailover bounds a Sentinel client. It always talks to the primary (replicas may lag behind
// a logout); on Sentinel's +switch-master it drops the old primary's connections, and every new
// connection asks the Sentinels where the primary is, so a failover costs no restart.
func newFailover(opts *redis.FailoverOptions, timeout time.Duration) *redis.Client {
	bound(timeout, &opts.DialTimeout, &opts.ReadTimeout, &opts.WriteTimeout, &opts.PoolTimeout, &opts.ContextTimeoutEnabled)
	opts.RouteByLatency, opts.RouteRandomly, opts.ReplicaOnly = false, false, false
	opts.MaxRetries = 1
	return redis.NewFailoverClient(opts)
}

// bound sets the same limits on any of go-redis's option types: every wait at most timeout, and
// context deadlines honoured (off by default in go-redis).
func bound(timeout time.Duration, dial, read, write, pool *time.Duration, contextTimeout *bool) {
	*dial, *read, *write, *pool = timeout, timeout, timeout, timeout
	*contextTimeout = true
}

// redactErr keeps a parse error's words but not a URL it may quote (with a password in it).
func redactErr(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "://"); i >= 0 {
		return "invalid URL"
	}
	return msg
}

// redisPing returns the readiness check of rdb. On a Cluster it pings every primary of a freshly
// loaded slot map: PING alone goes to one node, and a dead primary (its slots unserved until a
// replica takes over) would go unnoticed.
func redisPing(rdb redis.UniversalClient, timeout time.Duration) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		var err error
		if cluster, ok := rdb.(*redis.ClusterClient); ok {
			err = cluster.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
				return node.Ping(ctx).Err()
			})
		} else {
			err = rdb.Ping(ctx).Err()
		}
		if err != nil {
			return models.Unavailable("redis", err)
		}
		return nil
	}
}
