// Package models holds the domain types, their validation, the error codes and the stores
// (Bun for Postgres, go-redis for tokens and counters). It imports nothing of this module.
//
// # Tokens
//
// Issuer signs HS256 tokens; TokenStore decides whether a signed token is live. Redis holds,
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
package models
