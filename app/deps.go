package app

import (
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

// OpenRedis returns a client for REDIS_URL: a single node (redis://host:port/db), a Cluster
// (redis://host1:port?addr=host2:port&addr=host3:port) or Sentinel
// (redis://sentinel1:26379?master_name=mymaster&addr=…). Every call is bounded by timeout and
// retried at most once, so a dead Redis turns into a fast 503.
func OpenRedis(cfg config.Redis) (redis.UniversalClient, error) {
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
		bound(cfg.Timeout, &opts.DialTimeout, &opts.ReadTimeout, &opts.WriteTimeout, &opts.PoolTimeout, &opts.ContextTimeoutEnabled, &opts.MaxRetries)
		return redis.NewFailoverClient(opts), nil
	case len(q["addr"]) > 0:
		opts, err := redis.ParseClusterURL(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL (cluster): %s", redactErr(err))
		}
		bound(cfg.Timeout, &opts.DialTimeout, &opts.ReadTimeout, &opts.WriteTimeout, &opts.PoolTimeout, &opts.ContextTimeoutEnabled, &opts.MaxRetries)
		return redis.NewClusterClient(opts), nil
	}
	opts, err := redis.ParseURL(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %s", redactErr(err))
	}
	bound(cfg.Timeout, &opts.DialTimeout, &opts.ReadTimeout, &opts.WriteTimeout, &opts.PoolTimeout, &opts.ContextTimeoutEnabled, &opts.MaxRetries)
	return redis.NewClient(opts), nil
}

// bound sets the same limits on any of go-redis's option types: every wait at most timeout,
// context deadlines honoured (off by default in go-redis), one retry.
func bound(timeout time.Duration, dial, read, write, pool *time.Duration, contextTimeout *bool, retries *int) {
	*dial, *read, *write, *pool = timeout, timeout, timeout, timeout
	*contextTimeout, *retries = true, 1
}

// redactErr keeps a parse error's words but not a URL it may quote (with a password in it).
func redactErr(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "://"); i >= 0 {
		return "invalid URL"
	}
	return msg
}
