package models_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/example/authapi/app"
	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/config"
	"github.com/example/authapi/models"
)

// TestLoginLimiterClusterNodeDown: on a Redis Cluster the three counters of an attempt live on
// different nodes. With the node of one of them down, Reserve fails (503), and the counts it did
// take on the live nodes are given back: an outage leaves no failures nobody made, so nobody is
// locked out by retrying through a failover.
func TestLoginLimiterClusterNodeDown(t *testing.T) {
	c := apptest.StartCluster(t)
	rdb, err := app.OpenRedis(config.Redis{ClusterAddrs: splitAddrs(c.Addrs()), Timeout: 500 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	rule := models.LimitRule{Max: 10, Window: time.Hour}
	limiter := models.NewLoginLimiter(rdb, models.LoginLimits{AccountAddr: rule, Account: rule, Addr: rule}, 500*time.Millisecond)

	// An email and address whose account counter is on another primary than the other two.
	var email, addr string
	var keys [3]string
	for {
		email, addr = apptest.RandomName("node-down")+"@example.com", apptest.RandomName("addr-")
		sum := sha256.Sum256([]byte(email))
		account := hex.EncodeToString(sum[:12])
		keys = [3]string{"login_fail:acct_addr:" + account + ":" + addr, "login_fail:acct:" + account, "login_fail:addr:" + addr}
		down := c.PrimaryOf(keys[1])
		if c.PrimaryOf(keys[0]) != down && c.PrimaryOf(keys[2]) != down {
			break
		}
	}
	c.PrimaryOf(keys[1]).Kill()
	if _, err := limiter.Reserve(context.Background(), email, addr); models.ErrorCode(err) != models.CodeUnavailable {
		t.Fatalf("Reserve with the account counter's node down: %v, want unavailable", err)
	}
	for _, k := range []string{keys[0], keys[2]} {
		if n, err := rdb.Get(context.Background(), k).Int(); err == nil && n != 0 {
			t.Errorf("%s = %d after a Reserve that failed, want 0 (the count given back)", k, n)
		}
	}
}

func splitAddrs(s string) []string {
	cfg, err := config.FromValues(map[string]string{"JWT_SECRET": apptest.Secret, "REDIS_CLUSTER_ADDRS": s})
	if err != nil {
		panic(err)
	}
	return cfg.Redis.ClusterAddrs
}
