//go:build benchchain

package app

import (
	"os"
	"strings"
)

// chainOff reads BENCH_CHAIN_OFF (comma-separated: requestid, metrics, accesslog, recover,
// encoding, headers, ready, or all) in the bench build only: `just bench` builds this variant to measure
// what each middleware costs by running the chain with it switched off.
func chainOff() map[string]bool {
	off := map[string]bool{}
	for _, name := range strings.Split(os.Getenv("BENCH_CHAIN_OFF"), ",") {
		if name = strings.TrimSpace(name); name == "all" {
			for _, n := range []string{"requestid", "metrics", "accesslog", "recover", "encoding", "headers", "ready"} {
				off[n] = true
			}
		} else if name != "" {
			off[name] = true
		}
	}
	return off
}
