//go:build !benchchain

package app

// chainOff names middleware to leave out of the chain. The service always mounts all of it;
// only the bench build (-tags benchchain, see chain_off_bench.go) can switch pieces off, to
// price each one.
func chainOff() map[string]bool { return nil }
