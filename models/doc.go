// Package models holds the domain types, their validation, the error codes and the stores
// (Bun for Postgres, go-redis for tokens and counters). It imports nothing of this module.
//
// # Sessions and tokens
//
// A login opens a session: one signed-in device, and Issuer signs its access tokens (HS256,
// or EdDSA: signing_keys.go). Postgres is the record: the sessions row
// (created, last used, max age, address, user agent, amr, revoked_at), the session's refresh
// tokens (refresh_tokens, as SHA-256 only) and every revocation. Redis holds what the check of
// every request reads, nothing that cannot be rebuilt from Postgres:
//
//	jwt:<jti>       "<sid> <role>": the access token, bound to its session and role; TTL = exp - iat
//	sess:{<sid>}    "<user id> <role>": the session is live; TTL = its idle deadline or max age
//	authapi:reconciled[:{tag}]  the identity of the node as last reconciled (below)
//
// A protected request reads both keys in one round trip (one MGET on a single node or a
// Sentinel primary; on a Cluster a pipeline of two GETs, split by node) and is allowed only when
// both exist and both bind the token's session, user and role. Someone who learns the signing
// secret therefore cannot raise a role, move a jti to another session or user, or revive an
// ended session. Ending a session (logout, DELETE /auth/sessions[/{id}], logout-all, suspension,
// password change and reset, verification, reuse, eviction) marks its row revoked in a
// transaction and then deletes sess:{<sid>}: every access token of it is refused at once. A
// demotion refuses the user's access tokens (deletes the keys, records tokens_revoked_at) and
// keeps the sessions: their next refresh writes the lower role into sess:{<sid>}, so an old
// admin token never matches again.
//
// # Why revocation wins every race
//
// Every decision about a user's sessions takes the user row's lock first, then session rows:
// login opens its session in a transaction that holds the row FOR UPDATE, refresh holds it FOR
// SHARE and its session FOR UPDATE, and a revocation of all sessions updates the row (bumping
// session_epoch) before it marks the sessions. Login writes its Redis keys before it commits. So
// a revocation either comes after the login's commit, finds the session and deletes its key
// after the login wrote it, or comes before, and then the login, under the lock, sees what
// changed: a suspension (403), another password hash (a reset or change that committed while
// it compared the old password: 401), or another session_epoch (a logout-all that landed while
// it was in bcrypt: 401, it opens nothing). Refresh and the end of one session serialise on the
// session row. Lock order is always user, then session: no deadlock.
//
// # Rotation and reuse
//
// A refresh token is 32 random bytes, stored as SHA-256. Refresh spends it under the session's
// row lock and stores, with the spent token's row, the pair it produced, sealed with AES-256-GCM
// under a key derived from the spent token (HMAC-SHA256 of a label keyed by the token; the table
// holds SHA-256 of the token, a different function, so a copy of the table opens nothing).
// Concurrent refreshes with one token serialise on the lock: the first spends it, the others
// find it spent less than REFRESH_REUSE_INTERVAL ago and open the very same pair. Later, a spent
// token revokes the whole session (401 "refresh token reused"): a stolen token and its legitimate
// copy cannot both go on. Every spent token is kept until its session is pruned, so any older one
// is recognised too.
//
// # Durable revocation
//
// Redis replication is asynchronous and a snapshot is older than the last write: a DEL that a
// primary acknowledged can be missing on the replica that Sentinel or Cluster promotes, or in the
// RDB file Redis restarts from, and the revoked session comes back. Every such event gives the
// node a new identity (run_id changes with every process, master_replid with every promotion),
// and go-redis runs OnConnect on every connection before its first command. The Reconciler's
// OnConnect reads the node's identity (INFO) and compares it with the marker key on the node; if
// they differ, it deletes on that node the key of every session revoked within
// ACCESS_TOKEN_TTL + 1 min (no access token of an older revocation is alive) and of every session
// of a user demoted within it, reading them from Postgres, then writes the marker. Until that is
// done the connection serves nothing; if Postgres cannot be read, the connection is refused and
// requests get 503, never a revoked token's 200. A node already reconciled (by any instance: the
// marker is on the node) costs one INFO and one GET per new connection. On a Cluster each
// primary is reconciled by its own connections (a DEL of another node's slot answers MOVED and
// is skipped), its marker key carries a hash tag of a slot it serves, and connections to
// replicas are refused (go-redis opens some to read the slot map; one kept across a promotion
// would skip the check). A revocation is acknowledged once Postgres committed it and the primary
// deleted the key, however far the replicas lag; if the DEL fails after the commit, the answer is
// 503 and a sweep (every 5 s, revocations since the last sweep) deletes the key anyway.
//
// Failure: every Redis error is a 503 with no token handed out; every Postgres error too. Login
// and refresh write Redis before they commit: a failed commit leaves keys for a session nobody
// holds a token of (deleted at once, best effort). Cost: the check of a request is the same one
// round trip as before; a login adds one transaction (lock, two inserts, the eviction update);
// a refresh is one lookup and one transaction of four statements. Tokens issued before sessions
// (no sid) are refused: deploying sessions logs every user out once.
//
// # Login, registration and mail request limits
//
// LoginLimiter, RegisterLimiter and MailRequestLimiter count in Redis, so a limit holds across
// every replica. Each counter is one key in a fixed window that starts at its first count
// (INCR, then EXPIRE NX, then PTTL in one pipeline); Retry-After is the longest time left among
// the counters an attempt went past. Every command touches one key, so pipelines split by node
// on a Cluster; keys hold a hash of the email, never the email, and the client address that
// middleware.ClientAddr found (IPv6 per /64).
//
//	login_fail:acct_addr:<email hash>:<addr>   LOGIN_MAX_FAILURES_ACCOUNT_ADDR per LOGIN_WINDOW_ACCOUNT_ADDR
//	login_fail:acct:<email hash>               LOGIN_MAX_FAILURES_ACCOUNT per LOGIN_WINDOW_ACCOUNT
//	login_fail:addr:<addr>                     LOGIN_MAX_FAILURES_ADDR per LOGIN_WINDOW_ADDR
//	login_known:<hash of email and addr>       a known client of the account, for KnownClientTTL
//	register:addr:<addr>                       REGISTER_MAX_PER_ADDR per REGISTER_WINDOW
//	mail_req:<route>:email:<hash>, …:addr:<addr>  MAIL_REQUEST_MAX_PER_EMAIL / _PER_ADDR per MAIL_REQUEST_WINDOW
//
// Counted first, given back after. LoginLimiter.Reserve counts an attempt as a failure on all
// three login counters before any password is checked; INCR is atomic per key, so however many
// attempts arrive at once, at most the limit of them per counter and window reach bcrypt. Past
// a limit the attempt is refused (429) without a password check and its count is given back, so
// hammering a locked account does not also fill the counters it shares with others. A wrong
// password keeps the count. Cancel gives it back when the password was right but the attempt
// failed for another reason (suspended, no bcrypt slot, a dependency down) or belongs to a
// password change; Succeed gives it back, clears the account+address counter and marks the
// address a known client. Counts are given back with a script that decrements only an existing
// key, so no key is ever left without a TTL. All three limiters count through one mechanism
// (countWindows, limit_window.go): when its pipeline fails (a Cluster node down during a
// failover), the increments that did land are given back, read from the INCR's value: go-redis
// marks every command of a timed-out cluster pipeline failed.
//
// The lockout trade-off. The account counter is what stops a distributed guess at one account,
// and what lets anyone lock its owner out. An address that logged in to the account in the
// last KnownClientTTL (30 days) is exempt from the account counter only: its attempts still
// count there, and it stays under the account+address and address counters, so a known address
// shared with an attacker (a NAT) gives the attacker no more than that counter's guesses.
//
// Registrations (RegisterLimiter) count every attempt that passed validation, a 409 included:
// a 409 tells whether an email has an account, so counting it bounds enumeration through
// register. A refused registration is not given back; one that ended in a 503 is (Cancel).
// With Redis down the caller registers uncounted (registration needs only Postgres). Mail
// requests (MailRequestLimiter) count every request per route, for an existing account or not,
// so the limit itself says nothing about which emails exist.
//
// # Audit trail
//
// An Event ({id, type, at, user_id, actor_id, session_id, ip, user_agent, details}) is written
// by an EventWriter. Record(ctx, db, ev) takes the caller's bun.IDB, so an event commits in the
// transaction of the change it records: Sessions.Open, Refresh, Revoke, RevokeAll and EndAllWith
// take an optional *Event (nil: none) and fill in the user and session; AccountStore writes
// user.registered and password.reset_requested with their rows; Accounts writes role.changed,
// user.suspended (with the suspension and the end of the sessions, one transaction) and
// user.activated; Importer writes users.imported. Events that go with no change (a failed login,
// a refresh reuse's 401) are written by Write before the answer; a failure to write fails the
// request. A new feature (MFA, email change, account deletion) records its event the same way:
// pass an Event to EndAllWith, or call Record inside its own transaction and Notify after the
// commit. Record refuses detail names that look like secrets (password, hash, token, code, link,
// secret, url). Login's event is one statement (RecordAll: login.succeeded and a session.revoked
// for each session the login evicted past MaxPerUser, one multi-row INSERT into events), and
// with webhooks on a CTE that also inserts the deliveries into webhook_outbox, so the events and
// their deliveries commit together or not at all.
//
// events is range-partitioned by month on at, with no DEFAULT partition (one holding rows of a
// month would make creating that month's partition fail): events_ensure_partitions makes them
// ahead, in the migration and in EventStore.Maintain. The primary key (at, id) and the indexes
// (user_id, at, id) and (type, at, id) let every list walk backwards from its cursor and stop
// after a page, and let the planner skip months outside since/until or past the cursor.
// Retention drops whole months and deletes the straddling month's old rows in bounded batches;
// each step is a short transaction under pg_try_advisory_xact_lock (one replica at a time, and
// safe through PgBouncer's transaction pooling, where a session lock would stick to a pooled
// connection) with a 500 ms lock_timeout, so a DDL lock queued behind a long transaction never
// holds inserts up for longer.
package models
