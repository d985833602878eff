package main

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun/driver/pgdriver"
)

// proc is a child process: the service or the reference.
type proc struct{ cmd *exec.Cmd }

// start runs a child process in the harness's session (so, with Linux's autogroup
// scheduling, in its scheduling group: see the report's footnote on scheduling groups).
func start(env []string, name string, args ...string) (*proc, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = nil, os.Stderr // the access log (info) is written, then discarded
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &proc{cmd: cmd}, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

// rss returns the resident set size now and at its peak (VmRSS, VmHWM) in MiB.
func (p *proc) rss() (now, peak float64) { return rssOf(p.cmd.Process.Pid) }

// bcryptChild returns the pid of the service's `bcrypt-worker` child, 0 if it has none
// (BCRYPT_PROCESS=false). Each thread lists the children it started.
func (p *proc) bcryptChild() int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", p.pid()))
	for _, task := range tasks {
		raw, _ := os.ReadFile(task)
		for _, f := range strings.Fields(string(raw)) {
			pid, _ := strconv.Atoi(f)
			if cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); strings.Contains(string(cmdline), "bcrypt-worker") {
				return pid
			}
		}
	}
	return 0
}

// anonOf returns pid's private (anonymous) resident memory in MiB, 0 for no such process: what
// the bcrypt child adds, its code pages being the service's binary, shared with it.
func anonOf(pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "RssAnon:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// rssOf returns pid's resident set size now and at its peak in MiB (0, 0 for no such process).
func rssOf(pid int) (now, peak float64) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			now = kb / 1024
		case "VmHWM:":
			peak = kb / 1024
		}
	}
	return now, peak
}

// schedGroup names the autogroup pid is scheduled in ("/autogroup-42"), or "?" without one.
func schedGroup(pid int) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/autogroup", pid))
	if f := strings.Fields(string(raw)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "?"
}

// schedGroups says whether autogroup scheduling is on and which group the service, its bcrypt
// child (if any), a Postgres backend, Redis and this harness run in: the kernel shares CPU
// between groups first and honours niceness only inside one.
func schedGroups(ctx context.Context, svc *proc, dsn, redisURL string) string {
	enabled, _ := os.ReadFile("/proc/sys/kernel/sched_autogroup_enabled")
	state := "off"
	if strings.TrimSpace(string(enabled)) == "1" {
		state = "on"
	}
	pgPid, redisPid := 0, 0
	db := sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(dsn)))
	defer db.Close()
	_ = db.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pgPid)
	if opt, err := redis.ParseURL(redisURL); err == nil {
		rdb := redis.NewClient(opt)
		defer rdb.Close()
		if info, err := rdb.Info(ctx, "server").Result(); err == nil {
			for _, line := range strings.Split(info, "\n") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
					redisPid, _ = strconv.Atoi(v)
				}
			}
		}
	}
	child := "none (bcrypt on the service's threads)"
	if pid := svc.bcryptChild(); pid != 0 {
		child = schedGroup(pid)
		if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/autogroup", pid)); err == nil {
			child = strings.TrimSpace(string(raw))
		}
	}
	return fmt.Sprintf("autogroup scheduling %s; service %s, bcrypt child %s, Postgres %s, Redis %s, harness %s", state,
		schedGroup(svc.pid()), child, schedGroup(pgPid), schedGroup(redisPid), schedGroup(os.Getpid()))
}

// waitFor polls url every 2 ms until it answers 200, and returns how long that took.
func waitFor(url string, since time.Time, limit time.Duration) (time.Duration, error) {
	client := &http.Client{Timeout: time.Second}
	for time.Since(since) < limit {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(since), nil
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	return 0, fmt.Errorf("%s not 200 within %s", url, limit)
}

// freePort asks the kernel for a free port on 127.0.0.1.
func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
