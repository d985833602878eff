package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/models"
)

// The durability tests revoke sessions, make Redis lose the revocation (a restart from a
// snapshot taken before it; a failover to a replica whose replication was held back), and
// check that the revoked tokens stay refused while the others still work. They run the real
// binary against real Redis processes.

// loginSession logs in through p and returns the access token and the session id.
func loginSession(t *testing.T, p proc, email string) (token, sid string) {
	t.Helper()
	code, body := p.post("/auth/login", map[string]string{"email": email, "password": goodPassword}, "")
	if code != http.StatusOK {
		t.Fatalf("login: %d %s", code, body)
	}
	var out struct {
		Token     string `json:"token"`
		SessionID string `json:"session_id"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	return out.Token, out.SessionID
}

func (p proc) me(token string) int {
	code, _, err := p.Do(http.MethodGet, p.Public+"/auth/me", nil, token)
	if err != nil {
		return -1
	}
	return code
}

// revokedSet is what every durability test does before Redis loses data: three sessions of two
// users, then a logout of one and a logout-all of the other user; kept is the one left.
type revokedSet struct {
	kept, loggedOut, loggedOutAll string
	revokedSIDs                   []string
}

func issueSessions(t *testing.T, p proc) (a, b, c, sidA, sidC string) {
	t.Helper()
	one, two := randomEmail(), randomEmail()
	p.register(one)
	p.register(two)
	a, sidA = loginSession(t, p, one)
	b, _ = loginSession(t, p, one)
	c, sidC = loginSession(t, p, two)
	return a, b, c, sidA, sidC
}

func revokeSessions(t *testing.T, p proc, a, c, sidA, sidC string) revokedSet {
	t.Helper()
	if code, body := p.post("/auth/logout", nil, a); code != http.StatusNoContent {
		t.Fatalf("logout: %d %s", code, body)
	}
	if code, body := p.post("/auth/logout-all", nil, c); code != http.StatusNoContent {
		t.Fatalf("logout-all: %d %s", code, body)
	}
	if p.me(a) != http.StatusUnauthorized || p.me(c) != http.StatusUnauthorized {
		t.Fatal("revoked tokens work before Redis lost anything")
	}
	return revokedSet{loggedOut: a, loggedOutAll: c, revokedSIDs: []string{sidA, sidC}}
}

// wantRevokedAfterLoss waits until Redis answers again for each token (a failover costs
// seconds of 503), then asserts that the kept token works and the revoked ones do not.
func wantRevokedAfterLoss(t *testing.T, p proc, set revokedSet) {
	t.Helper()
	for name, tok := range map[string]string{"kept": set.kept, "logged out": set.loggedOut, "logged out everywhere": set.loggedOutAll} {
		var code int
		waitFor(t, 60*time.Second, "an answer for the "+name+" token after the data loss", func() bool {
			code = p.me(tok)
			return code == http.StatusOK || code == http.StatusUnauthorized
		})
		want := http.StatusUnauthorized
		if name == "kept" {
			want = http.StatusOK
		}
		if code != want {
			t.Fatalf("the %s token answers %d after Redis lost data, want %d", name, code, want)
		}
	}
}

// wantKeysPresent asserts that rdb (the Redis that will take over) still holds the revoked
// sessions' keys: the loss the test means to cause really happened.
func wantKeysPresent(t *testing.T, rdb *redis.Client, sids []string) {
	t.Helper()
	for _, sid := range sids {
		if n, err := rdb.Exists(context.Background(), models.SessionKey(sid)).Result(); err != nil || n != 1 {
			t.Fatalf("the revoked session %s is not in the stale Redis (%d, %v): the test lost nothing", sid, n, err)
		}
	}
}

// TestRevocationSurvivesRedisRestartFromSnapshot: a snapshot is taken while three sessions are
// live; two are revoked; Redis is killed and restarted from that snapshot.
func TestRevocationSurvivesRedisRestartFromSnapshot(t *testing.T) {
	t.Parallel()
	r := apptest.StartRedis(t)
	p := startProc(t, topologyEnv(t, apptest.MustCreateDatabase(t), map[string]string{"REDIS_URL": r.URL()}))
	p.WaitReady(30 * time.Second)
	a, b, c, sidA, sidC := issueSessions(t, p)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer rdb.Close()
	apptest.Must(t, rdb.Save(context.Background()).Err(), "SAVE")
	set := revokeSessions(t, p, a, c, sidA, sidC)
	set.kept = b
	r.Kill()
	r.Start()
	stale := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer stale.Close()
	// What the snapshot brought back: the revoked sessions' keys. (The service may already have
	// reconciled the node by the time this runs, so this is not asserted.)
	wantRevokedAfterLoss(t, p, set)
	// The restarted node was reconciled: the revoked keys are gone from it.
	for _, sid := range set.revokedSIDs {
		if n, _ := stale.Exists(context.Background(), models.SessionKey(sid)).Result(); n != 0 {
			t.Fatalf("session %s still in Redis after reconciliation", sid)
		}
	}
}

// TestRevocationSurvivesSentinelFailoverWithLag: the replica replicates through a proxy that
// holds the stream; the revocations are acknowledged by the primary only; the primary dies and
// Sentinel promotes the replica that never saw them.
func TestRevocationSurvivesSentinelFailoverWithLag(t *testing.T) {
	t.Parallel()
	s := apptest.StartSentinelProxied(t)
	p := startProc(t, topologyEnv(t, apptest.MustCreateDatabase(t), map[string]string{
		"REDIS_SENTINEL_ADDRS": s.Addrs(), "REDIS_SENTINEL_MASTER": apptest.SentinelMaster}))
	p.WaitReady(30 * time.Second)
	a, b, c, sidA, sidC := issueSessions(t, p)
	s.Primary.WaitReplicated(10 * time.Second)
	s.Link.Hold()
	set := revokeSessions(t, p, a, c, sidA, sidC)
	set.kept = b
	replica := redis.NewClient(&redis.Options{Addr: s.Replica.Addr()})
	defer replica.Close()
	wantKeysPresent(t, replica, set.revokedSIDs)
	s.Primary.Kill()
	s.Link.Close()
	wantRevokedAfterLoss(t, p, set)
}

// TestRevocationSurvivesClusterFailoverWithLag: on a Redis Cluster, the replica of the primary
// that holds a session's key is cut off (its masterauth made wrong, its link killed), the
// session is revoked on the primary alone, the primary dies and the stale replica is promoted.
func TestRevocationSurvivesClusterFailoverWithLag(t *testing.T) {
	t.Parallel()
	const password = "cluster-test-password"
	c := apptest.StartClusterAuth(t, password)
	p := startProc(t, topologyEnv(t, apptest.MustCreateDatabase(t), map[string]string{
		"REDIS_CLUSTER_ADDRS": c.Addrs(), "REDIS_PASSWORD": password}))
	p.WaitReady(30 * time.Second)
	a, b, tokC, sidA, sidC := issueSessions(t, p)
	c.WaitReplicated(10 * time.Second)
	primary := c.PrimaryOf(models.SessionKey(sidA))
	replica := c.ReplicaOf(primary)
	ctx := context.Background()
	apptest.Must(t, replica.Client().ConfigSet(ctx, "masterauth", "not-the-password").Err(), "cut the replica's auth")
	apptest.Must(t, primary.Client().ClientKillByFilter(ctx, "TYPE", "replica").Err(), "kill the replication link")
	waitFor(t, 10*time.Second, "the replica's link down", func() bool {
		return strings.Contains(replica.Info("replication"), "master_link_status:down")
	})
	set := revokeSessions(t, p, a, tokC, sidA, sidC)
	set.kept = b
	stale := redis.NewClient(&redis.Options{Addr: replica.Addr(), Password: password, OnConnect: func(ctx context.Context, cn *redis.Conn) error {
		return cn.ReadOnly(ctx).Err()
	}})
	defer stale.Close()
	wantKeysPresent(t, stale, []string{sidA})
	primary.Kill()
	wantRevokedAfterLoss(t, p, set)
}
