package apptest

import (
	"net/url"
	"os"
	"testing"
)

// PgBouncerURL returns TEST_PGBOUNCER_URL (a PgBouncer in transaction pooling mode in front of
// the TEST_DATABASE_URL server, for any database name), or fails the test saying how to get one.
func PgBouncerURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("TEST_PGBOUNCER_URL")
	if u == "" {
		tb.Fatalf("TEST_PGBOUNCER_URL is not set: this test needs a PgBouncer in transaction mode; run it with \"just test\" (docker/services.sh start DIR PG REDIS PGBOUNCER starts one)")
	}
	return u
}

// ViaPgBouncer returns dbURL (a database on the TEST_DATABASE_URL server) reached through
// TEST_PGBOUNCER_URL instead, or "" when no PgBouncer is configured or dbURL is on another
// server (a test's own gate or dead address stays as it is).
func ViaPgBouncer(dbURL string) string {
	pb, direct := os.Getenv("TEST_PGBOUNCER_URL"), os.Getenv("TEST_DATABASE_URL")
	if pb == "" || direct == "" {
		return ""
	}
	u, err1 := url.Parse(dbURL)
	p, err2 := url.Parse(pb)
	d, err3 := url.Parse(direct)
	if err1 != nil || err2 != nil || err3 != nil || u.Host != d.Host {
		return ""
	}
	u.Host = p.Host
	return u.String()
}

// routeThroughPgBouncer points DATABASE_URL of a service's settings at PgBouncer when one is
// configured, with MIGRATE_DATABASE_URL on the direct server (migrations need a session), unless
// the settings name MIGRATE_DATABASE_URL themselves.
func routeThroughPgBouncer(values map[string]string) {
	if _, set := values["MIGRATE_DATABASE_URL"]; set {
		return
	}
	if via := ViaPgBouncer(values["DATABASE_URL"]); via != "" {
		values["MIGRATE_DATABASE_URL"] = values["DATABASE_URL"]
		values["DATABASE_URL"] = via
	}
}
