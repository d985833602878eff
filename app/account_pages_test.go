package app_test

import (
	"context"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/models"
)

// TestAccountPagesServed: the link paths answer GET with a small HTML page under a strict CSP
// that loads nothing from another origin, and its script and style come from the service.
func TestAccountPagesServed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, path := range []string{"/verify-email", "/reset-password"} {
		resp := e.client.Get(path, "")
		if resp.Status != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET %s: %d %s", path, resp.Status, resp.Header.Get("Content-Type"))
		}
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("GET %s: CSP %q lacks %s", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("GET %s: CSP %q allows inline code", path, csp)
		}
		html := string(resp.Body)
		if strings.Contains(html, "http://") || strings.Contains(html, "https://") || strings.Contains(html, "<script>") || strings.Contains(html, "style=") {
			t.Errorf("GET %s: the page links another origin or carries inline code:\n%s", path, html)
		}
		for _, want := range []string{`src="/pages/account.js"`, `href="/pages/account.css"`} {
			if !strings.Contains(html, want) {
				t.Errorf("GET %s lacks %s", path, want)
			}
		}
	}
	for path, ctype := range map[string]string{"/pages/account.js": "text/javascript", "/pages/account.css": "text/css"} {
		if resp := e.client.Get(path, ""); resp.Status != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) || len(resp.Body) < 100 {
			t.Fatalf("GET %s: %d %s %d bytes", path, resp.Status, resp.Header.Get("Content-Type"), len(resp.Body))
		}
	}
}

// TestAccountPagesInBrowser clicks the links of real mail in headless Chromium: the verify
// link activates the account at once, the reset link asks for a new password (refusing one that
// breaks the rules, then taking a good one that logs in), and a used link says so.
func TestAccountPagesInBrowser(t *testing.T) {
	t.Parallel()
	browser := mustChromium(t)

	// The service on a port chosen first, so the links in its mail point at it.
	port := apptest.FreePort(t)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	e := newMailEnv(t, map[string]string{"PUBLIC_BASE_URL": base})
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("listen on %d: %v", port, err)
	}
	go func() { _ = e.app.Public().Listener(ln) }()
	t.Cleanup(func() { _ = e.app.Public().Shutdown() })

	linkOf := func(m apptest.Mail, path string) string {
		t.Helper()
		link := regexp.MustCompile(regexp.QuoteMeta(base+path) + `#token=[A-Za-z0-9_-]{43}`).FindString(m.Text)
		if link == "" {
			t.Fatalf("no %s link to %s in:\n%s", path, base, m.Text)
		}
		return link
	}
	email := randomEmail()
	e.register(email, goodPassword)
	verifyLink := linkOf(e.smtp.WaitFor(email, 1, 30*time.Second)[0], "/verify-email")

	t.Run("VerifyLinkActivates", func(t *testing.T) {
		outcome, text := browser.open(t, verifyLink)
		if outcome != "ok" || !strings.Contains(text, "verified") {
			t.Fatalf("verify page: %s %q", outcome, text)
		}
		if u := mustUser(t, e.users, email); u.Status != models.StatusActive {
			t.Fatalf("status after the verify page = %s, want active", u.Status)
		}
		// The token leaves the address bar (and so the history) once read.
		browser.open(t, verifyLink)
		if href := browser.location(t); strings.Contains(href, "token") {
			t.Fatalf("the token stays in the address bar: %s", href)
		}
	})
	t.Run("UsedVerifyLinkSaysSo", func(t *testing.T) {
		outcome, text := browser.open(t, verifyLink)
		if outcome != "error" || !strings.Contains(text, "invalid, expired or already used") {
			t.Fatalf("used verify link: %s %q", outcome, text)
		}
	})

	if resp := e.client.Post("/auth/password/forgot", map[string]string{"email": email}, ""); resp.Status != http.StatusAccepted {
		t.Fatalf("forgot: %d %s", resp.Status, resp.Body)
	}
	resetLink := linkOf(e.smtp.WaitFor(email, 2, 30*time.Second)[1], "/reset-password")
	const newPassword = "a-new-horse-battery-7"

	t.Run("ResetLinkSetsPassword", func(t *testing.T) {
		outcome, text := browser.submit(t, resetLink, "short")
		if outcome != "error" || !strings.Contains(text, "password too short (min 8)") {
			t.Fatalf("reset page with a short password: %s %q", outcome, text)
		}
		// The same page, the form still there: a good password now.
		outcome, text = browser.resubmit(t, newPassword)
		if outcome != "ok" || !strings.Contains(text, "password is changed") {
			t.Fatalf("reset page: %s %q", outcome, text)
		}
		e.login(email, newPassword)
		wantError(t, e.client.Post("/auth/login", map[string]string{"email": email, "password": goodPassword}, ""), http.StatusUnauthorized, "unauthorized")
	})
	t.Run("UsedResetLinkSaysSo", func(t *testing.T) {
		outcome, text := browser.submit(t, resetLink, "yet-another-horse-8")
		if outcome != "error" || !strings.Contains(text, "invalid, expired or already used") {
			t.Fatalf("used reset link: %s %q", outcome, text)
		}
		e.login(email, newPassword) // the used link changed nothing
	})
}

// chromium is one headless browser tab for a test.
type chromium struct{ ctx context.Context }

// mustChromium starts headless Chromium for the test, or fails saying how to install it: the
// browser tests do not skip.
func mustChromium(t *testing.T) chromium {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Fatal("chromium is not installed: the account page tests run it headless; install it " +
			"(apt-get install -y chromium; `just test` and .ci/run do when they can)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.Flag("disable-quic", true))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first call starts the browser and must have no deadline of its own (it would stop
	// the browser with it); the test's -timeout bounds it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium (%s): %v", path, err)
	}
	return chromium{ctx: ctx}
}

// do runs steps in the tab, each call under a generous ceiling (a busy machine is slow).
func (b chromium) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("chromium: %v", err)
	}
}

// value runs one action that returns a value, under the same ceiling.
func value[T any](t *testing.T, b chromium, action chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	return v
}

// outcome waits until the page shows an outcome and returns it ("ok" or "error") and its text.
func (b chromium) outcome(t *testing.T) (string, string) {
	t.Helper()
	b.do(t, chromedp.WaitVisible(chromedp.CSS(`#status[data-outcome="ok"], #status[data-outcome="error"]`)))
	outcome := value(t, b, chromedp.AttributeValue(chromedp.CSS(`#status`), "data-outcome"))
	return outcome.Value, value(t, b, chromedp.Text(chromedp.CSS(`#status`)))
}

// open loads link afresh, as a click in a mail client does, and returns the outcome the page
// shows. (From the same page, a link that differs only in its fragment would not load again.)
func (b chromium) open(t *testing.T, link string) (string, string) {
	t.Helper()
	b.do(t, chromedp.Navigate("about:blank"), chromedp.Navigate(link))
	return b.outcome(t)
}

// location returns the address the tab shows.
func (b chromium) location(t *testing.T) string {
	t.Helper()
	return value(t, b, chromedp.Location())
}

// submit opens a reset link, types password twice and submits; it returns the outcome.
func (b chromium) submit(t *testing.T, link, password string) (string, string) {
	t.Helper()
	b.do(t, chromedp.Navigate("about:blank"), chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS(`#reset`)))
	return b.resubmit(t, password)
}

// resubmit types password twice into the open reset form and submits it.
func (b chromium) resubmit(t *testing.T, password string) (string, string) {
	t.Helper()
	// A fresh outcome and empty fields: the wait below sees this submit's outcome.
	value(t, b, chromedp.Evaluate[bool](`document.getElementById("status").removeAttribute("data-outcome");
		document.getElementById("password").value = ""; document.getElementById("confirm").value = ""; true`))
	b.do(t,
		chromedp.SendKeys(chromedp.CSS(`#password`), password),
		chromedp.SendKeys(chromedp.CSS(`#confirm`), password),
		chromedp.Click(chromedp.CSS(`#submit`)),
	)
	return b.outcome(t)
}
