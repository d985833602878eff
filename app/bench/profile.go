package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// cpuProfile fetches a CPU profile of the service for d from its admin pprof endpoint and
// writes it, with `go tool pprof -top` of it, into dir; it returns the profile's breakdown by
// piece of the request.
func cpuProfile(admin, dir string, d time.Duration, bin string) ([]share, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", admin, int(d.Seconds())))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("pprof: status %d", resp.StatusCode)
	}
	path := filepath.Join(dir, "auth-me.cpu.pprof")
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		return nil, err
	}
	top, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=40", bin, path).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof: %w: %s", err, top)
	}
	if err := os.WriteFile(filepath.Join(dir, "auth-me.cpu.txt"), top, 0o644); err != nil {
		return nil, err
	}
	return breakdown(bin, path)
}
