package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// layers attribute a CPU sample to the piece of the request it was spent in: walking its stack
// from the leaf, the first frame that names a piece decides. Library code (slog, go-redis, Bun)
// is charged to the piece of ours that called it; Ctx.Next is Fiber's own routing.
// Closures are matched by name suffix: a constructor inlined into its caller names its closure
// after both ("app.(*App).newFiber.AccessLog.func2").
var layers = []struct{ frame, piece string }{
	{"RequestID.func", "request id"},
	{"Instrument.func", "metrics"},
	{"AccessLog.func", "access log"},
	{"HandleErrors.func", "error handling"},
	{"recover.New.func", "panic recovery"},
	{"RefuseContentEncoding.func", "Content-Encoding guard"},
	{"SecureHeaders.func", "secure headers"},
	{"app.(*App).newPublicApp.func", "readiness gate"},
	{"models.(*TokenStore)", "whitelist: Redis check (MGET)"},
	{"Whitelist.func", "whitelist: Redis check (MGET)"},
	{"models.(*BunUserStore)", "handler: Postgres by id"},
	{"routes.AppendMeJSON", "handler: JSON"},
	{"routes.(*Auth).me", "handler: rest"},
	{"contrib/jwt", "JWT (parse, HS256, claims)"},
	{"middleware.JWT", "JWT (parse, HS256, claims)"},
	{"fiber/v2.(*Ctx).Next", "Fiber (routing, ctx)"},
	{"fiber/v2.(*App).next", "Fiber (routing, ctx)"},
	{"fiber/v2.(*App).handler", "Fiber (routing, ctx)"},
	{"fasthttp.(*Server)", "fasthttp (socket I/O, parsing)"},
	{"fasthttp.(*workerPool)", "fasthttp (socket I/O, parsing)"},
	{"runtime.gcBgMarkWorker", "Go runtime: GC"},
	{"runtime.bgsweep", "Go runtime: GC"},
	{"runtime.mcall", "Go runtime: scheduler"},
	{"runtime.morestack", "Go runtime: scheduler"},
	{"runtime.sysmon", "Go runtime: scheduler"},
}

// fallbacks name samples that no piece above claims: background work of the libraries.
var fallbacks = []struct{ frame, piece string }{
	{"redis/go-redis", "go-redis background (pool upkeep)"},
	{"database/sql", "database/sql background (pool upkeep)"},
}

var sampleLine = regexp.MustCompile(`^\s*([\d.]+)(ms|s)\s+(\S+)`)

// share is one piece's part of the profile.
type share struct {
	Piece string
	Part  float64
}

// breakdown reads a CPU profile with `go tool pprof -traces` and returns each piece's share of
// the samples, largest first.
func breakdown(bin, profile string) ([]share, error) {
	out, err := exec.Command("go", "tool", "pprof", "-traces", bin, profile).Output()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof -traces: %w", err)
	}
	parts := map[string]float64{}
	var total float64
	for _, block := range bytes.Split(out, []byte("-----------+-")) {
		var frames []string
		var v float64
		sc := bufio.NewScanner(bytes.NewReader(block))
		for sc.Scan() {
			line := sc.Text()
			if m := sampleLine.FindStringSubmatch(line); m != nil && frames == nil {
				v, _ = strconv.ParseFloat(m[1], 64)
				if m[2] == "s" {
					v *= 1000
				}
				frames = append(frames, m[3])
			} else if frames != nil && strings.TrimSpace(line) != "" {
				frames = append(frames, strings.TrimSpace(line))
			}
		}
		if frames == nil {
			continue
		}
		total += v
		parts[attribute(frames)] += v
	}
	var shares []share
	for p, v := range parts {
		shares = append(shares, share{p, v / total})
	}
	sort.Slice(shares, func(i, j int) bool { return shares[i].Part > shares[j].Part })
	return shares, nil
}

func attribute(frames []string) string {
	for _, set := range [][]struct{ frame, piece string }{layers, fallbacks} {
		for _, f := range frames {
			for _, l := range set {
				if strings.Contains(f, l.frame) {
					return l.piece
				}
			}
		}
	}
	return "other"
}
