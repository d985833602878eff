// Package models holds the domain types, their validation, the error codes and the stores
// (Bun for Postgres, go-redis for tokens and counters). It imports nothing of this module.
//
// # Tokens
//
// Issuer signs tokens, HS256 or EdDSA (signing_keys.go); TokenStore decides whether a signed
// token is live. Redis holds,
// per token and per user (the {<user id>} hash tag keeps a user's keys in one Cluster slot):
//
//	jwt:<jti>                  "<epoch> <role>": what the token is bound to; TTL = exp - iat
//	token_epoch:{<user id>}    the user's current revocation epoch: 32 random hex digits
//	user_tokens:{<user id>}    sorted set of the user's jtis by expiry, for tidying up
//
// A protected request reads jwt:<jti> and token_epoch:{<user id>} in one round trip (one MGET on
// a single node or Sentinel primary; on a Cluster a pipeline of two GETs, split by node)
// and is allowed only when both exist, the epochs are equal and the role is the token's. Since
// epochs are per user and random, a whitelisted jti is good only for the user and the role it
// was issued with: someone who learns the signing secret still cannot raise a token's role or
// lend its jti to another user. Logout deletes jwt:<jti>. Suspension, demotion (Accounts) and
// logout-all revoke every token of a user by deleting the epoch key (then, best effort, the
// whitelist keys the index lists); RevokeAllExcept (a password change) does the same but for
// one token, by swapping the epoch (compare-and-set on the old value) and binding that token to
// the new one. Login takes the current epoch, creating a fresh random one when there is none
// (SET NX GET), and whitelists its token with it.
//
// # Why revocation wins every race
//
// Login reads the epoch before it checks the password and before it reads the user row that
// decides the token's status and role (it reads the row by email first, to learn the user id,
// and again by id after the epoch). A revocation saves its change in Postgres first and
// deletes the epoch after. So for any login and any revocation, either the login read the
// epoch before the deletion, and its token carries an epoch that is gone (refused, however
// late it is whitelisted), or it read the epoch after the deletion, and then its read of the
// row comes after the saved change: a suspended user gets 403, a demoted admin a user-role
// token, and a logout-all is simply earlier than this login. No interleaving of login's writes
// with a logout-all's can leave a live token that a later logout-all misses, since a later
// logout-all does not need to find the token: it deletes the epoch the token depends on.
//
// Epochs are random and never reused, and a missing epoch means "no live token", so an epoch
// lost to eviction or a Redis failover refuses the user's tokens (the user logs in again)
// rather than reviving revoked ones, as a counter restarting at 0 would. Login extends the
// epoch's and the index's TTLs to its token's (EXPIRE NX and GT) in the pipeline that
// whitelists it, so neither expires before a token bound to it.
//
// Failure: every Redis error is a 503 with no token handed out. Login's whitelist pipeline
// either succeeds as a whole or the token is not returned; a key it wrote before failing
// whitelists a token nobody holds. A revocation reports success only once the epoch is
// deleted; failing to tidy the whitelist keys after that is not an error. On a Cluster every
// command is single-key and pipelines are split by slot: no CROSSSLOT, no MULTI.
//
// Cost: the check is one round trip (two GETs instead of one EXISTS); a successful login
// makes one more Redis call (the epoch) and one more Postgres read (the row by id) than
// before, against a bcrypt of hundreds of milliseconds. Tokens issued before this design
// (whose whitelist value is a user id, not an epoch) are refused: deploying it logs every
// user out once.
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
package models
