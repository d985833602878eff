package app_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/example/authapi/app/apptest"
)

// metric returns the sum of every sample of the admin /metrics output whose line starts with
// prefix (a metric name, optionally with the start of its labels).
func (e *env) metric(t *testing.T, prefix string) float64 {
	t.Helper()
	resp := e.admin.Get("/metrics", "")
	if resp.Status != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.Status)
	}
	var sum float64
	sc := bufio.NewScanner(bytes.NewReader(resp.Body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// bcryptRuns is how many bcrypt operations (hash or compare) have been admitted to a slot so far.
func (e *env) bcryptRuns(t *testing.T) float64 {
	t.Helper()
	return e.metric(t, `bcrypt_queue_wait_seconds_count{admitted="true"}`)
}

// loginFrom posts a login with X-Forwarded-For set to xff (none when empty).
func (e *env) loginFrom(email, password, xff string) apptest.Response {
	e.t.Helper()
	return e.client.Do(apptest.Request{
		Method: http.MethodPost, Path: "/auth/login",
		Body:   map[string]string{"email": email, "password": password},
		Header: map[string]string{"X-Forwarded-For": xff},
	})
}

// failedLoginKeys are the limiter's Redis keys for email and addr, in the order
// account+address, account, address (the key layout of models.LoginLimiter).
func failedLoginKeys(email, addr string) [3]string {
	sum := sha256.Sum256([]byte(email))
	account := hex.EncodeToString(sum[:12])
	return [3]string{
		"login_fail:acct_addr:" + account + ":" + addr,
		"login_fail:acct:" + account,
		"login_fail:addr:" + addr,
	}
}

// knownClientKey is the limiter's mark of addr as a known client of email's account.
func knownClientKey(email, addr string) string {
	sum := sha256.Sum256([]byte(email + "\x00" + addr))
	return "login_known:" + hex.EncodeToString(sum[:16])
}

// randomIP returns a random documentation-range address, so tests sharing one Redis never share
// a per-address counter.
func randomIP() string {
	return fmt.Sprintf("198.18.%d.%d", rand.IntN(256), 1+rand.IntN(254))
}
