package app_test

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

// Resend and forgot answer an existing and an unknown address with the same status, the same
// body and comparable time. The handlers do the same work for both (two Redis counters and one
// insert); this measures it. The bound is loose because the machine is shared; the medians are
// in the log.
func TestMailRequestsNoEnumeration(t *testing.T) {
	t.Parallel()
	e := newMailEnv(t, map[string]string{"MAIL_REQUEST_MAX_PER_EMAIL": "1000000"})
	existing := randomEmail()
	e.register(existing, goodPassword) // pending: resend mails it, forgot mails it
	const rounds = 40
	for _, path := range []string{"/auth/password/forgot", "/auth/verify/resend"} {
		var known, unknown []time.Duration
		timed := func(email string) time.Duration {
			start := time.Now()
			resp := e.client.Post(path, map[string]string{"email": email}, "")
			took := time.Since(start)
			if resp.Status != http.StatusAccepted || string(resp.Body) != `{"status":"accepted"}` {
				t.Fatalf("%s %s: %d %s", path, email, resp.Status, resp.Body)
			}
			return took
		}
		for i := range rounds {
			// Alternate which goes first, so drift in the machine's load hits both alike.
			if i%2 == 0 {
				known = append(known, timed(existing))
				unknown = append(unknown, timed(randomEmail()))
			} else {
				unknown = append(unknown, timed(randomEmail()))
				known = append(known, timed(existing))
			}
		}
		mk, mu := median(known), median(unknown)
		ratio := float64(mk) / float64(mu)
		t.Logf("%s: median existing %s, unknown %s (ratio %.2f); p90 %s vs %s; %d rounds",
			path, mk, mu, ratio, percentile(known, 0.9), percentile(unknown, 0.9), rounds)
		if ratio < 0.5 || ratio > 2 {
			t.Errorf("%s: existing and unknown addresses differ in time: medians %s vs %s", path, mk, mu)
		}
	}
	e.settled()
	if got := len(e.smtp.To(existing)); got != 1+2*rounds {
		t.Fatalf("%d messages to the existing address, want %d", got, 1+2*rounds)
	}
}

func median(ds []time.Duration) time.Duration { return percentile(ds, 0.5) }

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(p*float64(len(s)-1))]
}
