package models

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/driver/pgdriver"
)

// Reconciler makes revocations survive Redis losing data. A revocation is committed in Postgres
// and then deleted from Redis; a Redis primary that fails over to a replica the DEL had not
// reached, or a Redis restarted from a snapshot taken before it, would bring the revoked
// session back. Every such event gives the node another identity (run_id changes with every
// process, master_replid with every promotion), and every connection go-redis opens runs
// OnConnect before its first command: a node whose identity was not yet reconciled has every
// session revoked in the last Window deleted again, from Postgres's record, before the
// connection serves anything. A marker key on the node holds the identity it was reconciled
// under, so a new process of the service that connects to a node already reconciled (by any
// instance) does no work, and a node that lost the marker with the rest is reconciled again.
//
// Window is ACCESS_TOKEN_TTL plus the leeway: a session revoked longer ago has no access token
// left that its key could revive, and its refresh tokens are refused by Postgres anyway.
type Reconciler struct {
	db     *bun.DB
	window time.Duration
	// timeout bounds one reconciliation; requests wait for it (their own deadline: a 503).
	timeout time.Duration
	// observe is told of each reconciliation (for logs and metrics); may be nil.
	observe func(identity string, deleted int, took time.Duration, err error)

	mu    sync.Mutex
	known map[string]bool
	// lastSweep is when the last successful Sweep started (Sweep runs on one goroutine).
	lastSweep time.Time
}

// NewReconciler returns a reconciler of revocations recorded in db within window.
func NewReconciler(db *bun.DB, window time.Duration, observe func(identity string, deleted int, took time.Duration, err error)) *Reconciler {
	return &Reconciler{db: db, window: window, timeout: 30 * time.Second, observe: observe, known: map[string]bool{}}
}

// markerKey is the key holding the identity a node was reconciled under.
const markerKey = "authapi:reconciled"

// errReplica refuses a Cluster replica connection: the service reads and writes primaries only,
// and a connection opened to a replica (go-redis opens some to read the slot map) would be
// used without a check after a promotion.
var errReplica = errors.New("authapi: not using a replica connection")

// OnConnect is go-redis's OnConnect hook: it reconciles the node cn is connected to, if its
// identity is new, before cn serves anything. An error closes cn, so a node that cannot be
// reconciled (Postgres down) is not used: requests get 503 rather than a revoked token's 200.
func (r *Reconciler) OnConnect(ctx context.Context, cn *redis.Conn) error {
	info, err := cn.Info(ctx, "server", "replication", "cluster").Result()
	if err != nil {
		return err
	}
	node := parseInfo(info)
	cluster := node.cluster
	if node.mode == "sentinel" {
		return nil // a Sentinel holds no data
	}
	if node.role != "master" {
		if cluster {
			return errReplica
		}
		return nil // writes fail with READONLY; nothing here can revive a token
	}
	identity := node.runID + ":" + node.replID
	r.mu.Lock()
	defer r.mu.Unlock() // one reconciliation at a time; the others then find it known
	if r.known[identity] {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
	defer cancel()
	marker, err := markerOf(ctx, cn, cluster)
	if err != nil {
		return err
	}
	current, err := cn.Get(ctx, marker).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	if current == identity {
		r.known[identity] = true
		return nil
	}
	start := time.Now()
	deleted, err := r.reconcile(ctx, cn)
	if err == nil {
		err = cn.Set(ctx, marker, identity, 0).Err()
	}
	if r.observe != nil {
		r.observe(identity, deleted, time.Since(start), err)
	}
	if err != nil {
		return fmt.Errorf("reconcile revocations on a new Redis node: %w", err)
	}
	r.known[identity] = true
	return nil
}

// reconcile deletes, on cn's node, the key of every session revoked within the window, and of
// every session of a user whose access tokens were all refused within it. On a Cluster a key of
// another node's slot answers MOVED and is skipped: that node is reconciled by its own check.
func (r *Reconciler) reconcile(ctx context.Context, cn *redis.Conn) (int, error) {
	since := time.Now().Add(-r.window)
	rows, err := r.db.QueryContext(ctx, `SELECT id FROM sessions WHERE revoked_at > ?
		UNION SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.tokens_revoked_at > ?
		UNION SELECT id FROM session_tombstones WHERE revoked_at > ?`, since, since, since)
	if isUndefinedTable(err) {
		return 0, nil // a database not migrated yet holds no revocation at all
	}
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	deleted := 0
	batch := make([]string, 0, 1000)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		cmds, err := cn.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, key := range batch {
				p.Del(ctx, key)
			}
			return nil
		})
		for _, cmd := range cmds {
			if err := cmd.Err(); err != nil && !isRedirect(err) {
				return err
			}
			if n, ok := cmd.(*redis.IntCmd); ok {
				deleted += int(n.Val())
			}
		}
		if err != nil && !isRedirect(err) {
			return err
		}
		batch = batch[:0]
		return nil
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return deleted, err
		}
		batch = append(batch, SessionKey(id))
		if len(batch) == cap(batch) {
			if err := flush(); err != nil {
				return deleted, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return deleted, err
	}
	return deleted, flush()
}

// isUndefinedTable reports Postgres's undefined_table (42P01).
func isUndefinedTable(err error) bool {
	var pgErr pgdriver.Error
	return errors.As(err, &pgErr) && pgErr.Field('C') == "42P01"
}

func isRedirect(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "MOVED ") || strings.HasPrefix(msg, "ASK ")
}

// marker returns the marker key for cn's node: on a Cluster, one whose hash tag falls in a
// slot the node serves.
func markerOf(ctx context.Context, cn *redis.Conn, cluster bool) (string, error) {
	if !cluster {
		return markerKey, nil
	}
	nodes, err := cn.ClusterNodes(ctx).Result()
	if err != nil {
		return "", err
	}
	slot, ok := firstOwnedSlot(nodes)
	if !ok {
		return "", errors.New("this cluster primary serves no slot")
	}
	return markerKey + ":{" + tagForSlot(slot) + "}", nil
}

// firstOwnedSlot reads CLUSTER NODES and returns the first slot of the "myself" line.
func firstOwnedSlot(nodes string) (int, bool) {
	for _, line := range strings.Split(nodes, "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.Contains(f[2], "myself") {
			continue
		}
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") {
				continue // a slot being migrated
			}
			start, _, _ := strings.Cut(r, "-")
			if n, err := strconv.Atoi(start); err == nil {
				return n, true
			}
		}
	}
	return 0, false
}

// tagForSlot returns a short string whose Redis Cluster hash slot is slot.
func tagForSlot(slot int) string {
	for i := 0; ; i++ {
		tag := strconv.Itoa(i)
		if int(crc16(tag)%16384) == slot {
			return tag
		}
	}
}

// crc16 is Redis Cluster's key hash (CRC-16/XMODEM).
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// nodeInfo is what OnConnect needs of INFO.
type nodeInfo struct {
	mode, role, runID, replID string
	cluster                   bool
}

// parseInfo reads INFO's "name:value" lines for the fields of nodeInfo, without building a map
// of every line (it runs on every new connection).
func parseInfo(info string) nodeInfo {
	var n nodeInfo
	for len(info) > 0 {
		line, rest, _ := strings.Cut(info, "\n")
		info = rest
		name, value, ok := strings.Cut(strings.TrimSuffix(line, "\r"), ":")
		if !ok {
			continue
		}
		switch name {
		case "redis_mode":
			n.mode = value
		case "role":
			n.role = value
		case "run_id":
			n.runID = value
		case "master_replid":
			n.replID = value
		case "cluster_enabled":
			n.cluster = value == "1"
		}
	}
	return n
}

// Sweep deletes from Redis the keys of sessions revoked since the last successful sweep (less a
// margin for clocks), through the client: a revocation whose Redis step failed after Postgres
// committed it (the request then answered 503) is finished here within one sweep interval,
// without waiting for a retry. The first sweep of a process covers the whole window.
func (r *Reconciler) Sweep(ctx context.Context, rdb redis.UniversalClient) (int, error) {
	start := time.Now()
	since := start.Add(-r.window)
	if !r.lastSweep.IsZero() {
		since = r.lastSweep.Add(-sweepMargin)
	}
	var ids []string
	if err := r.db.NewRaw("SELECT id FROM sessions WHERE revoked_at > ? UNION SELECT id FROM session_tombstones WHERE revoked_at > ?", since, since).Scan(ctx, &ids); err != nil && !isUndefinedTable(err) {
		return 0, err
	}
	deleted := 0
	for i := 0; i < len(ids); i += 1000 {
		chunk := ids[i:min(i+1000, len(ids))]
		cmds, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, id := range chunk {
				p.Del(ctx, SessionKey(id))
			}
			return nil
		})
		if err != nil {
			return deleted, err
		}
		for _, cmd := range cmds {
			if n, ok := cmd.(*redis.IntCmd); ok {
				deleted += int(n.Val())
			}
		}
	}
	r.lastSweep = start
	return deleted, nil
}

// sweepMargin is how far back past the last sweep the next one looks: revoked_at is written
// with the revoking instance's clock.
const sweepMargin = 30 * time.Second

// Prune deletes up to limit sessions that ended (revoked, idle or past their max age) longer
// ago than the reconciliation window, with their refresh tokens, and returns how many. Nothing
// needs them then: no access token of theirs is alive, and their refresh tokens are refused
// for being unknown as they were for being revoked.
func (r *Reconciler) Prune(ctx context.Context, idle time.Duration, limit int) (int, error) {
	cutoff := time.Now().Add(-r.window)
	var ids []string
	err := r.db.NewRaw(`WITH gone AS (
			DELETE FROM sessions WHERE id IN (SELECT id FROM sessions
				WHERE revoked_at < ? OR expires_at < ? OR last_used_at < ? LIMIT ?)
			RETURNING id),
		tokens AS (DELETE FROM refresh_tokens WHERE session_id IN (SELECT id FROM gone)),
		tombs AS (DELETE FROM session_tombstones WHERE revoked_at < ?)
		SELECT id FROM gone`, cutoff, cutoff, cutoff.Add(-idle), limit, cutoff).Scan(ctx, &ids)
	if err != nil && !isUndefinedTable(err) {
		return 0, err
	}
	return len(ids), nil
}
