package app_test

import (
	"maps"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/example/authapi/app"
	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/config"
)

// faultEnv is where most fault tests start: a fresh database, a redis-server of the test's own
// (to kill, freeze and restart), the binary running on both and ready, and one registered user
// with a live token.
type faultEnv struct {
	proc
	// dbURL reaches the test's database directly, around the gate.
	dbURL string
	redis *apptest.RedisServer
	// pg is the gate between the binary and Postgres (faultOptions.gatePostgres), else nil.
	pg    *apptest.Gate
	email string
	token string
}

// faultOptions are what the fault tests vary in their setup.
type faultOptions struct {
	env          map[string]string // settings on top of DATABASE_URL and REDIS_URL
	redisArgs    []string          // extra redis-server arguments
	gatePostgres bool              // the binary reaches Postgres through a Gate the test can close
}

// startFaultEnv builds a faultEnv; everything stops when the test ends.
func startFaultEnv(t *testing.T, o faultOptions) faultEnv {
	t.Helper()
	f := faultEnv{dbURL: apptest.MustCreateDatabase(t), redis: apptest.StartRedis(t, o.redisArgs...)}
	procDB := f.dbURL
	if o.gatePostgres {
		u, err := url.Parse(f.dbURL)
		if err != nil {
			t.Fatal(err)
		}
		f.pg = apptest.NewGate(t, u.Host)
		f.pg.Open()
		u.Host = "127.0.0.1:" + strconv.Itoa(f.pg.Port)
		procDB = u.String()
	}
	env := map[string]string{"DATABASE_URL": procDB, "REDIS_URL": f.redis.URL()}
	maps.Copy(env, o.env)
	f.proc = startProc(t, env)
	f.WaitReady(30 * time.Second)
	f.email = randomEmail()
	f.register(f.email)
	f.token = f.login(f.email)
	return f
}

// mustOpenDirect opens a one-connection pool on dbURL for a test's own queries, closed when the
// test ends.
func mustOpenDirect(t *testing.T, dbURL string) *bun.DB {
	t.Helper()
	db := app.OpenDB(config.DB{URL: dbURL, MaxConnections: 1, QueryTimeout: 5 * time.Second})
	t.Cleanup(func() { db.Close() })
	return db
}
