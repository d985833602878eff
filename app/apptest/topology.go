package apptest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The topology tests run real Redis Clusters and Sentinel setups on loopback, built from
// Debian's redis-server and redis-cli, with short failure-detection times so a failover takes
// seconds. Every process is killed when the test ends.

// nodeTimeout is cluster-node-timeout and Sentinel's down-after-milliseconds: how long a
// silent primary takes to be declared failed. Production setups use seconds too (the defaults,
// 15 s and 30 s, are long); the README gives the cost with these values.
const nodeTimeout = 1000 * time.Millisecond

// Cluster is a Redis Cluster of three primaries with one replica each.
type Cluster struct {
	tb    testing.TB
	Nodes []*RedisServer
}

// StartCluster starts six cluster-enabled nodes, joins them with `redis-cli --cluster create
// --cluster-replicas 1`, and waits until every slot is served and every replica is in sync.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	return StartClusterAuth(tb, "")
}

// StartClusterAuth is StartCluster with every node requiring password (requirepass and
// masterauth), so a test can cut one replica off its primary by changing its masterauth.
func StartClusterAuth(tb testing.TB, password string) *Cluster {
	tb.Helper()
	c := &Cluster{tb: tb}
	var addrs []string
	for range 6 {
		// The bus port gets a free port of its own: the default, port+10000, may be taken.
		args := []string{"--repl-diskless-sync-delay", "0", "--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(FreePort(tb)), "--cluster-node-timeout", strconv.Itoa(int(nodeTimeout.Milliseconds())),
			"--cluster-config-file", "nodes.conf"}
		if password != "" {
			args = append(args, "--requirepass", password, "--masterauth", password)
		}
		n := startRedisAuth(tb, password, args...)
		c.Nodes = append(c.Nodes, n)
		addrs = append(addrs, n.Addr())
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	if password != "" {
		args = append([]string{"-a", password, "--no-auth-warning"}, args...)
	}
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		tb.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c.WaitHealthy(30 * time.Second)
	return c
}

// Addrs is the comma-separated list of the nodes, for REDIS_CLUSTER_ADDRS.
func (c *Cluster) Addrs() string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.Addr())
	}
	return strings.Join(out, ",")
}

// WaitHealthy waits until every live node reports cluster_state:ok and each primary has a
// replica whose link is up.
func (c *Cluster) WaitHealthy(timeout time.Duration) {
	c.tb.Helper()
	waitUntil(c.tb, timeout, "cluster healthy with a replica per primary", func() bool {
		primaries := 0
		for _, n := range c.Nodes {
			if n.cmd == nil {
				continue
			}
			if !strings.Contains(n.Info("cluster"), "cluster_enabled:1") || !strings.Contains(n.ClusterInfo(), "cluster_state:ok") {
				return false
			}
			repl := n.Info("replication")
			if strings.Contains(repl, "role:master") {
				if !strings.Contains(repl, "connected_slaves:1") || !strings.Contains(repl, "state=online") {
					return false
				}
				primaries++
			} else if !strings.Contains(repl, "master_link_status:up") {
				return false
			}
		}
		return primaries == 3
	})
}

// ReplicaOf returns the live replica of primary.
func (c *Cluster) ReplicaOf(primary *RedisServer) *RedisServer {
	c.tb.Helper()
	for _, n := range c.Nodes {
		if n.cmd != nil && strings.Contains(n.Info("replication"), "master_port:"+strconv.Itoa(primary.Port)+"\r\n") {
			return n
		}
	}
	c.tb.Fatalf("no replica of %s", primary.Addr())
	return nil
}

// Client is a connection to this server alone (with the password, if any).
func (r *RedisServer) Client() *redis.Client { return r.client() }

// PrimaryOf returns the node that serves key's slot now.
func (c *Cluster) PrimaryOf(key string) *RedisServer {
	c.tb.Helper()
	slot, err := c.client().ClusterKeySlot(context.Background(), key).Result()
	if err != nil {
		c.tb.Fatalf("cluster keyslot: %v", err)
	}
	for _, n := range c.Nodes {
		if n.cmd != nil && strings.Contains(n.Info("replication"), "role:master") && n.servesSlot(int(slot)) {
			return n
		}
	}
	c.tb.Fatalf("no live primary serves slot %d", slot)
	return nil
}

// WaitReplicated waits until each primary's replica has received everything written to it so
// far (its acknowledged offset reaches the primary's), so a failover loses no write made before.
func (c *Cluster) WaitReplicated(timeout time.Duration) {
	c.tb.Helper()
	for _, n := range c.Nodes {
		if n.cmd != nil && strings.Contains(n.Info("replication"), "role:master") {
			n.WaitReplicated(timeout)
		}
	}
}

func (c *Cluster) client() *redis.Client {
	for _, n := range c.Nodes {
		if n.cmd != nil {
			return n.client()
		}
	}
	c.tb.Fatalf("no live cluster node")
	return nil
}

// Sentinel is a primary, its replica and three Sentinels watching it as "mymaster".
type Sentinel struct {
	tb        testing.TB
	Primary   *RedisServer
	Replica   *RedisServer
	Sentinels []*RedisServer
	// Link is the proxy the replica replicates through (StartSentinelProxied), nil otherwise.
	Link *Proxy
}

// SentinelMaster is the name the Sentinels of StartSentinel know the primary by.
const SentinelMaster = "mymaster"

// StartSentinel starts a primary, a replica of it and three Sentinels (quorum 2), and waits
// until the replica is in sync and every Sentinel knows the replica and the other two Sentinels
// (without that, a failover cannot be agreed on).
func StartSentinel(tb testing.TB) *Sentinel {
	tb.Helper()
	return startSentinel(tb, false)
}

// StartSentinelProxied is StartSentinel with the replica replicating through a Proxy (Link),
// so a test can stall replication while the primary goes on acknowledging writes.
func StartSentinelProxied(tb testing.TB) *Sentinel {
	tb.Helper()
	return startSentinel(tb, true)
}

func startSentinel(tb testing.TB, proxied bool) *Sentinel {
	tb.Helper()
	// No 5 s wait before a full sync (the default), here and after the failover.
	s := &Sentinel{tb: tb, Primary: StartRedis(tb, "--repl-diskless-sync-delay", "0")}
	upstream := s.Primary.Port
	if proxied {
		s.Link = StartProxy(tb, s.Primary.Addr())
		upstream = s.Link.Port
	}
	s.Replica = StartRedis(tb, "--repl-diskless-sync-delay", "0", "--replicaof", "127.0.0.1", strconv.Itoa(upstream))
	for range 3 {
		dir := tb.TempDir()
		conf := filepath.Join(dir, "sentinel.conf")
		body := fmt.Sprintf("sentinel monitor %[1]s 127.0.0.1 %[2]d 2\nsentinel down-after-milliseconds %[1]s %[3]d\n"+
			"sentinel failover-timeout %[1]s 10000\nsentinel parallel-syncs %[1]s 1\n", SentinelMaster, s.Primary.Port, nodeTimeout.Milliseconds())
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			tb.Fatal(err)
		}
		port := FreePort(tb)
		sn := &RedisServer{tb: tb, Port: port, args: []string{conf, "--sentinel", "--port", strconv.Itoa(port),
			"--bind", "127.0.0.1", "--dir", dir}}
		sn.Start()
		tb.Cleanup(sn.Kill)
		s.Sentinels = append(s.Sentinels, sn)
	}
	s.Primary.WaitReplicated(30 * time.Second)
	clients := make([]*redis.Client, len(s.Sentinels))
	for i, sn := range s.Sentinels {
		clients[i] = sn.client()
	}
	waitUntil(tb, 30*time.Second, "sentinels know the replica and each other", func() bool {
		for _, sc := range clients {
			m, err := sc.Do(context.Background(), "SENTINEL", "MASTER", SentinelMaster).Slice()
			if err != nil {
				return false
			}
			info := map[string]string{}
			for i := 0; i+1 < len(m); i += 2 {
				info[fmt.Sprint(m[i])] = fmt.Sprint(m[i+1])
			}
			if info["num-slaves"] != "1" || info["num-other-sentinels"] != "2" {
				return false
			}
		}
		return true
	})
	return s
}

// Addrs is the comma-separated list of the Sentinels, for REDIS_SENTINEL_ADDRS.
func (s *Sentinel) Addrs() string {
	var out []string
	for _, n := range s.Sentinels {
		out = append(out, n.Addr())
	}
	return strings.Join(out, ",")
}

// Addr is the server's host:port.
func (r *RedisServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.Port) }

// Alive reports whether the process is running (not killed by the test).
func (r *RedisServer) Alive() bool { return r.cmd != nil }

// client is a plain connection to this server (RESP2, so SENTINEL replies are flat arrays).
func (r *RedisServer) client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), Password: r.Password, Protocol: 2, DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
	r.tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Info returns INFO section, or "" when the server does not answer.
func (r *RedisServer) Info(section string) string {
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), Password: r.Password, DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	s, _ := c.Info(context.Background(), section).Result()
	return s
}

// ClusterInfo returns CLUSTER INFO, or "" when the server does not answer.
func (r *RedisServer) ClusterInfo() string {
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), Password: r.Password, DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	s, _ := c.ClusterInfo(context.Background()).Result()
	return s
}

func (r *RedisServer) servesSlot(slot int) bool {
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), Password: r.Password, DialTimeout: time.Second, ReadTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	// CLUSTER SLOTS (deprecated in 7.0, still served) names each range's primary first, which is all this needs.
	shards, err := c.ClusterSlots(context.Background()).Result() //nolint:staticcheck
	if err != nil {
		return false
	}
	for _, sh := range shards {
		if slot >= sh.Start && slot <= sh.End && len(sh.Nodes) > 0 && sh.Nodes[0].Addr == r.Addr() {
			return true
		}
	}
	return false
}

// WaitReplicated waits until every replica of this primary has acknowledged the replication
// stream up to where it stood when called (INFO's slaveN offset reaches that master_repl_offset).
func (r *RedisServer) WaitReplicated(timeout time.Duration) {
	r.tb.Helper()
	target := int64(-1)
	waitUntil(r.tb, timeout, r.Addr()+" replicas in sync", func() bool {
		var offsets []int64
		for _, line := range strings.Split(r.Info("replication"), "\r\n") {
			if v, ok := strings.CutPrefix(line, "master_repl_offset:"); ok && target < 0 {
				target, _ = strconv.ParseInt(v, 10, 64)
			}
			if strings.HasPrefix(line, "slave") && strings.Contains(line, "state=online") {
				for _, f := range strings.Split(line, ",") {
					if v, ok := strings.CutPrefix(f, "offset="); ok {
						off, _ := strconv.ParseInt(v, 10, 64)
						offsets = append(offsets, off)
					}
				}
			}
		}
		if target < 0 || len(offsets) == 0 {
			return false
		}
		for _, off := range offsets {
			if off < target {
				return false
			}
		}
		return true
	})
}

func waitUntil(tb testing.TB, timeout time.Duration, what string, ok func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for: %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
