-- A deleted account leaves no row of its own, but its sessions' revocations must outlive it: a
-- Redis node that lost data is reconciled from sessions and from these tombstones, which hold a
-- session id and a time and nothing that names the user.
CREATE TABLE session_tombstones (
    id         uuid        PRIMARY KEY,
    revoked_at timestamptz NOT NULL
);
CREATE INDEX session_tombstones_revoked_at_idx ON session_tombstones (revoked_at);
