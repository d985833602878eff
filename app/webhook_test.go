package app_test

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/example/authapi/app"
	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/config"
)

// receiver is a webhook receiver that checks every delivery as the Standard Webhooks
// specification tells a receiver to, with its own code (not the service's signer): the
// signature over "id.timestamp.body" keyed by the base64-decoded secret, a timestamp within
// five minutes, and webhook-id equal to the event's id. It answers 503 while down.
type receiver struct {
	t      *testing.T
	secret []byte
	srv    *httptest.Server
	down   atomic.Bool
	hang   atomic.Bool

	mu        sync.Mutex
	delivered map[string][]byte // event id → body
	attempts  int
	refused   int
}

func newReceiver(t *testing.T) (*receiver, string) {
	t.Helper()
	r := &receiver{t: t, secret: make([]byte, 32), delivered: map[string][]byte{}}
	_, _ = rand.Read(r.secret)
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r, "whsec_" + base64.StdEncoding.EncodeToString(r.secret)
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.attempts++
	r.mu.Unlock()
	if r.hang.Load() {
		time.Sleep(3 * time.Second)
	}
	if r.down.Load() {
		r.mu.Lock()
		r.refused++
		r.mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	id, tsText, sigs := req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp"), req.Header.Get("webhook-signature")
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > 5*time.Minute {
		r.t.Errorf("webhook-timestamp %q outside the tolerance (%s %s from %q)", tsText, req.Method, req.URL.Path, req.UserAgent())
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	mac := hmac.New(sha256.New, r.secret)
	mac.Write([]byte(id + "." + tsText + "."))
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if subtle.ConstantTimeCompare([]byte(sigs), []byte(want)) != 1 {
		r.t.Errorf("bad signature %q for id %s", sigs, id)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var ev map[string]any
	if err := json.Unmarshal(body, &ev); err != nil || ev["id"] != id || req.Header.Get("Content-Type") != "application/json" {
		r.t.Errorf("body %s for webhook-id %s", body, id)
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	for _, k := range []string{"id", "type", "at", "user_id", "actor_id", "session_id", "ip", "user_agent", "details"} {
		if _, ok := ev[k]; !ok {
			r.t.Errorf("webhook body without %q: %s", k, body)
		}
	}
	r.mu.Lock()
	r.delivered[id] = body
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) deliveredIDs() map[string][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string][]byte, len(r.delivered))
	for k, v := range r.delivered {
		out[k] = v
	}
	return out
}

func webhookSettings(url, secret string) map[string]string {
	return map[string]string{
		"WEBHOOK_URL": url, "WEBHOOK_SECRET": secret,
		"WEBHOOK_POLL_INTERVAL": "50ms", "WEBHOOK_RETRY_BASE": "50ms", "WEBHOOK_RETRY_MAX": "2s",
	}
}

// A receiver that is down, then slow, then up: the API answers as usual all the while, and
// every event is delivered at least once, signed, none lost; the metrics count the retries.
func TestWebhooksReceiverDownThenUp(t *testing.T) {
	t.Parallel()
	rcv, secret := newReceiver(t)
	rcv.down.Store(true)
	e := newEnv(t, webhookSettings(rcv.srv.URL, secret))

	var secrets []string
	email, token := e.newUser()
	secrets = append(secrets, goodPassword, token)
	e.client.Post("/auth/login", map[string]string{"email": email, "password": "wrong-password-1"}, "")
	p := e.loginPair(email, nil)
	secrets = append(secrets, p.Token, p.RefreshToken)
	if resp := e.refresh(p.RefreshToken); resp.Status != http.StatusOK {
		t.Fatalf("refresh: %d", resp.Status)
	}
	waitFor(t, 10*time.Second, "failed attempts while the receiver is down", func() bool {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		return rcv.refused >= 3
	})

	// Slow: every POST hangs past its timeout; requests are not held up by it.
	rcv.hang.Store(true)
	start := time.Now()
	e.client.Post("/auth/logout", nil, token)
	e.loginPair(email, nil)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("two requests took %s while the receiver hung", d)
	}
	rcv.hang.Store(false)
	rcv.down.Store(false)

	want := storedEvents(t, e)
	if len(want) < 6 {
		t.Fatalf("%d events", len(want))
	}
	waitFor(t, 20*time.Second, "every event delivered", func() bool {
		got := rcv.deliveredIDs()
		for _, ev := range want {
			if got[ev["id"].(string)] == nil {
				return false
			}
		}
		return true
	})
	got := rcv.deliveredIDs()
	for _, ev := range want {
		var body map[string]any
		if err := json.Unmarshal(got[ev["id"].(string)], &body); err != nil || body["type"] != ev["type"] || body["user_id"] != ev["user_id"] {
			t.Fatalf("delivered %s for stored %v", got[ev["id"].(string)], ev)
		}
		scanSecrets(t, "webhook body", string(got[ev["id"].(string)]), secrets)
	}
	families := scrape(t, e.admin)
	var sent, retried float64
	for _, m := range families["webhook_sent_total"].GetMetric() {
		sent += m.GetCounter().GetValue()
	}
	for _, m := range families["webhook_retries_total"].GetMetric() {
		retried += m.GetCounter().GetValue()
	}
	if sent < float64(len(want)) || retried < 3 || families["webhook_queued"] == nil || families["webhook_failed_total"] == nil {
		t.Fatalf("metrics: sent %v retried %v", sent, retried)
	}
	waitFor(t, 5*time.Second, "webhook_queued at zero", func() bool {
		m := find(scrape(t, e.admin), "webhook_queued", nil)
		return m != nil && m.GetGauge().GetValue() == 0
	})
}

// A delivery claimed by a process that died (its lease running) is delivered within
// WEBHOOK_RETRY_MAX; WEBHOOK_EVENTS keeps other types out of the outbox.
func TestWebhooksDeadClaimAndFilter(t *testing.T) {
	t.Parallel()
	rcv, secret := newReceiver(t)
	settings := webhookSettings(rcv.srv.URL, secret)
	settings["WEBHOOK_EVENTS"] = "login.failed, user.registered"
	e := newEnv(t, settings)
	rcv.down.Store(true) // nothing delivered before the dead claim is made
	email := randomEmail()
	e.register(email, goodPassword)
	e.client.Post("/auth/login", map[string]string{"email": email, "password": "wrong-password-1"}, "")
	e.login(email, goodPassword) // login.succeeded: filtered out
	// A process claims every pending delivery, as Outbox.Claim does (attempt counted, hidden
	// for the lease, WEBHOOK_RETRY_MAX), and dies: the rows stay claimed until the lease ends.
	var claimed []string
	err := e.db.NewRaw(`UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_at = clock_timestamp() + interval '2 seconds'
		WHERE status = 'pending' RETURNING event_id::text`).Scan(t.Context(), &claimed)
	if err != nil || len(claimed) != 2 {
		t.Fatalf("claim: %v, %d rows", err, len(claimed))
	}
	claimedAt := time.Now()
	rcv.down.Store(false)
	waitFor(t, 10*time.Second, "dead claims delivered", func() bool {
		got := rcv.deliveredIDs()
		for _, id := range claimed {
			if got[id] == nil {
				return false
			}
		}
		return true
	})
	if d := time.Since(claimedAt); d < 1500*time.Millisecond || d > 4*time.Second {
		t.Fatalf("dead claims delivered %s after the claim, want after its 2s lease and soon after", d)
	}
	var kinds []string
	if err := e.db.NewRaw("SELECT DISTINCT kind FROM webhook_outbox ORDER BY kind").Scan(t.Context(), &kinds); err != nil {
		t.Fatal(err)
	}
	if len(kinds) != 2 || kinds[0] != "login.failed" || kinds[1] != "user.registered" {
		t.Fatalf("outbox kinds %v, want login.failed and user.registered only", kinds)
	}
}

// A WEBHOOK_EVENTS entry that names no event type is a configuration error (exit 2), not a
// filter that silently delivers nothing.
func TestWebhookEventsUnknownType(t *testing.T) {
	t.Parallel()
	_, secret := newReceiver(t)
	settings := webhookSettings("http://127.0.0.1:1/hook", secret)
	settings["WEBHOOK_EVENTS"] = "login.failed,login.failure"
	_, err := app.New(apptest.Config(t, "postgres://postgres@127.0.0.1:1/none", settings), slog.New(slog.DiscardHandler))
	if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "login.failure") {
		t.Fatalf("err = %v, want ErrInvalid naming login.failure", err)
	}
}
