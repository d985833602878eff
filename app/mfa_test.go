package app_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/example/authapi/app"
	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/models"
)

// totpCode computes the code of secret for the step at t, as an authenticator app would.
func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// testClock is the App's TOTP clock in the MFA tests: each code moves it one 30-second step, so
// a test goes through steps without waiting for them.
type testClock struct{ at atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.at.Store(time.Now().UnixNano())
	return c
}

func (c *testClock) Now() time.Time { return time.Unix(0, c.at.Load()) }

// stepCodes hands out the code of the clock's next step, moving the clock there first.
type stepCodes struct {
	t      *testing.T
	secret string
	clock  *testClock
}

func (s *stepCodes) code() string {
	s.clock.at.Add(int64(30 * time.Second))
	return totpCode(s.t, s.secret, s.clock.Now())
}

// newMFAEnv is an env whose App has a test clock, with the login limits out of the way.
func newMFAEnv(t *testing.T, overrides map[string]string) (*env, *testClock) {
	t.Helper()
	clock := newTestClock()
	values := map[string]string{"LOGIN_MAX_FAILURES_ACCOUNT_ADDR": "100000", "LOGIN_MAX_FAILURES_ACCOUNT": "100000"}
	for k, v := range overrides {
		values[k] = v
	}
	e := envOf(t, apptest.MustNewApp(t, values, nil, app.WithClock(clock.Now)))
	e.clock = clock
	return e, clock
}

// mfaUser registers a user, turns MFA on, and returns its email, a token of the session that
// turned it on, the codes source (next unused step: +1) and the recovery codes.
func (e *env) mfaUser(t *testing.T) (string, string, *stepCodes, []string) {
	t.Helper()
	email := randomEmail()
	e.register(email, goodPassword)
	token := e.login(email, goodPassword)
	resp := e.client.Post("/auth/mfa/totp/setup", map[string]string{"password": goodPassword}, token)
	if resp.Status != http.StatusOK {
		t.Fatalf("setup: %d %s", resp.Status, resp.Body)
	}
	var setup struct{ Secret, OTPAuthURI string }
	resp.Decode(t, &setup)
	codes := &stepCodes{t: t, secret: setup.Secret, clock: e.clock}
	resp = e.client.Post("/auth/mfa/totp/confirm", map[string]string{"code": codes.code()}, token)
	if resp.Status != http.StatusOK {
		t.Fatalf("confirm: %d %s", resp.Status, resp.Body)
	}
	var out struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	resp.Decode(t, &out)
	return email, token, codes, out.RecoveryCodes
}

// mfaLogin logs in with the password and returns the mfa_token, failing unless MFA is asked.
func (e *env) mfaLogin(t *testing.T, email string) string {
	t.Helper()
	resp := e.client.Post("/auth/login", map[string]string{"email": email, "password": goodPassword}, "")
	body := resp.JSON(t)
	token, _ := body["mfa_token"].(string)
	if resp.Status != http.StatusOK || body["mfa_required"] != true || token == "" || body["token"] != nil || body["refresh_token"] != nil || body["session_id"] != nil {
		t.Fatalf("login of an MFA user: %d %s", resp.Status, resp.Body)
	}
	return token
}

func (e *env) mfaVerify(mfaToken, field, code string) apptest.Response {
	return e.client.Post("/auth/mfa/verify", map[string]string{"mfa_token": mfaToken, field: code}, "")
}

func TestMFAFlow(t *testing.T) {
	t.Parallel()
	e, _ := newMFAEnv(t, nil)
	email := randomEmail()
	e.register(email, goodPassword)
	other := e.login(email, goodPassword) // a second device, ended by the confirmation
	token := e.login(email, goodPassword)

	wantError(t, e.client.Post("/auth/mfa/totp/setup", map[string]string{"password": "wrong-password-1"}, token), http.StatusUnauthorized, "unauthorized")
	resp := e.client.Post("/auth/mfa/totp/setup", map[string]string{"password": goodPassword}, token)
	var setup struct {
		Secret     string `json:"secret"`
		OTPAuthURI string `json:"otpauth_uri"`
	}
	resp.Decode(t, &setup)
	if resp.Status != http.StatusOK || len(setup.Secret) != 32 || !strings.HasPrefix(setup.OTPAuthURI, "otpauth://totp/authapi:") || !strings.Contains(setup.OTPAuthURI, "issuer=authapi") {
		t.Fatalf("setup: %d %s", resp.Status, resp.Body)
	}
	codes := &stepCodes{t: t, secret: setup.Secret, clock: e.clock}
	wantError(t, e.client.Post("/auth/mfa/totp/confirm", map[string]string{"code": "000000"}, token), http.StatusBadRequest, "validation_error")
	resp = e.client.Post("/auth/mfa/totp/confirm", map[string]string{"code": codes.code()}, token)
	var confirmed struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	resp.Decode(t, &confirmed)
	distinct := map[string]bool{}
	for _, c := range confirmed.RecoveryCodes {
		if len(c) < 8 {
			t.Fatalf("short recovery code %q", c)
		}
		distinct[c] = true
	}
	if resp.Status != http.StatusOK || len(distinct) != 10 {
		t.Fatalf("confirm: %d %s", resp.Status, resp.Body)
	}
	if e.me(other) != http.StatusUnauthorized || e.me(token) != http.StatusOK {
		t.Fatal("confirm must end the other sessions and keep the current one")
	}
	if me := e.client.Get("/auth/me", token).JSON(t); me["mfa_enabled"] != true {
		t.Fatalf("/auth/me %v", me)
	}
	wantError(t, e.client.Post("/auth/mfa/totp/setup", map[string]string{"password": goodPassword}, token), http.StatusConflict, "conflict")

	t.Run("OKVerifyOTP", func(t *testing.T) {
		resp := e.mfaVerify(e.mfaLogin(t, email), "code", codes.code())
		var p pair
		resp.Decode(t, &p)
		if resp.Status != http.StatusOK || e.me(p.Token) != http.StatusOK {
			t.Fatalf("verify: %d %s", resp.Status, resp.Body)
		}
		if amr := decodeClaims(t, p.Token)["amr"].([]any); len(amr) != 2 || amr[0] != "pwd" || amr[1] != "otp" {
			t.Fatalf("amr %v", amr)
		}
		// A refresh keeps the session's amr and asks for no code.
		var next pair
		e.refresh(p.RefreshToken).Decode(t, &next)
		if amr := decodeClaims(t, next.Token)["amr"].([]any); len(amr) != 2 || amr[1] != "otp" {
			t.Fatalf("amr after refresh %v", amr)
		}
	})
	t.Run("ErrReplayedCode", func(t *testing.T) {
		code := codes.code()
		if r := e.mfaVerify(e.mfaLogin(t, email), "code", code); r.Status != http.StatusOK {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		msg := wantError(t, e.mfaVerify(e.mfaLogin(t, email), "code", code), http.StatusUnauthorized, "unauthorized")
		if msg != "unauthorized: invalid code" {
			t.Fatalf("%q", msg)
		}
	})
	t.Run("OKRecoveryCodeOnce", func(t *testing.T) {
		rc := confirmed.RecoveryCodes[0]
		resp := e.mfaVerify(e.mfaLogin(t, email), "recovery_code", strings.ToLower(rc))
		var p pair
		resp.Decode(t, &p)
		if resp.Status != http.StatusOK {
			t.Fatalf("%d %s", resp.Status, resp.Body)
		}
		if amr := decodeClaims(t, p.Token)["amr"].([]any); amr[1] != "recovery" {
			t.Fatalf("amr %v", amr)
		}
		wantError(t, e.mfaVerify(e.mfaLogin(t, email), "recovery_code", rc), http.StatusUnauthorized, "unauthorized")
	})
	t.Run("ErrTokenUsedOnce", func(t *testing.T) {
		mt := e.mfaLogin(t, email)
		if r := e.mfaVerify(mt, "code", codes.code()); r.Status != http.StatusOK {
			t.Fatalf("%d", r.Status)
		}
		wantError(t, e.mfaVerify(mt, "code", codes.code()), http.StatusUnauthorized, "unauthorized")
	})
	t.Run("ErrFifthWrongCodeKillsToken", func(t *testing.T) {
		mt := e.mfaLogin(t, email)
		for range 5 {
			wantError(t, e.mfaVerify(mt, "code", "000000"), http.StatusUnauthorized, "unauthorized")
		}
		msg := wantError(t, e.mfaVerify(mt, "code", codes.code()), http.StatusUnauthorized, "unauthorized")
		if msg == "unauthorized: invalid code" {
			t.Fatalf("the killed token still checked a code")
		}
	})
	t.Run("ErrHostile", func(t *testing.T) {
		mt := e.mfaLogin(t, email)
		for name, c := range map[string][2]string{
			"FiveDigits": {"code", "12345"}, "SevenDigits": {"code", "1234567"}, "Letters": {"code", "abcdef"},
			"TenKB": {"code", strings.Repeat("1", 10<<10)}, "RecoveryAsCode": {"code", confirmed.RecoveryCodes[1]},
			"CodeAsRecovery": {"recovery_code", codes.code()},
		} {
			t.Run(name, func(t *testing.T) {
				wantError(t, e.mfaVerify(mt, c[0], c[1]), http.StatusUnauthorized, "unauthorized")
			})
			mt = e.mfaLogin(t, email) // a fresh token: five wrong codes would kill one
		}
		wantError(t, e.client.Post("/auth/mfa/verify", map[string]string{"mfa_token": mt}, ""), http.StatusBadRequest, "validation_error")
		wantError(t, e.client.Post("/auth/mfa/verify", map[string]string{"mfa_token": mt, "code": "1", "recovery_code": "2"}, ""), http.StatusBadRequest, "validation_error")
		wantError(t, e.mfaVerify(strings.Repeat("A", 43), "code", codes.code()), http.StatusUnauthorized, "unauthorized")
		wantError(t, e.mfaVerify("not-a-token", "code", codes.code()), http.StatusUnauthorized, "unauthorized")
		// Expired: its expiry moved into the past.
		_, err := e.db.ExecContext(context.Background(), "UPDATE mfa_challenges SET expires_at = now() - interval '1 second'")
		apptest.Must(t, err, "expire")
		wantError(t, e.mfaVerify(mt, "code", codes.code()), http.StatusUnauthorized, "unauthorized")
	})
	t.Run("ErrAnotherUsersToken", func(t *testing.T) {
		otherEmail, _, _, _ := e.mfaUser(t)
		wantError(t, e.mfaVerify(e.mfaLogin(t, otherEmail), "code", codes.code()), http.StatusUnauthorized, "unauthorized")
	})
	t.Run("OKRegenerateCodes", func(t *testing.T) {
		wantError(t, e.client.Post("/auth/mfa/recovery-codes", map[string]string{"password": "wrong-password-1", "code": codes.code()}, token), http.StatusUnauthorized, "unauthorized")
		resp := e.client.Post("/auth/mfa/recovery-codes", map[string]string{"password": goodPassword, "code": codes.code()}, token)
		var fresh struct {
			RecoveryCodes []string `json:"recovery_codes"`
		}
		resp.Decode(t, &fresh)
		if resp.Status != http.StatusOK || len(fresh.RecoveryCodes) != 10 {
			t.Fatalf("%d %s", resp.Status, resp.Body)
		}
		wantError(t, e.mfaVerify(e.mfaLogin(t, email), "recovery_code", confirmed.RecoveryCodes[2]), http.StatusUnauthorized, "unauthorized")
		if r := e.mfaVerify(e.mfaLogin(t, email), "recovery_code", fresh.RecoveryCodes[0]); r.Status != http.StatusOK {
			t.Fatalf("a new recovery code refused: %d", r.Status)
		}
	})
	t.Run("OKDisable", func(t *testing.T) {
		wantError(t, e.client.Post("/auth/mfa/totp/disable", map[string]string{"password": goodPassword, "code": "000000"}, token), http.StatusUnauthorized, "unauthorized")
		if r := e.client.Post("/auth/mfa/totp/disable", map[string]string{"password": goodPassword, "code": codes.code()}, token); r.Status != http.StatusNoContent {
			t.Fatalf("disable: %d %s", r.Status, r.Body)
		}
		if me := e.client.Get("/auth/me", token).JSON(t); me["mfa_enabled"] != false {
			t.Fatalf("/auth/me %v", me)
		}
		if amr := decodeClaims(t, e.login(email, goodPassword))["amr"].([]any); len(amr) != 1 {
			t.Fatalf("amr %v", amr)
		}
	})
}

// TestMFAWrongCodesHitLoginLimits: wrong codes count as failed logins of the account and
// address; past the limit even a right code is a 429.
func TestMFAWrongCodesHitLoginLimits(t *testing.T) {
	t.Parallel()
	e, _ := newMFAEnv(t, map[string]string{"LOGIN_MAX_FAILURES_ACCOUNT_ADDR": "6"})
	email, _, codes, _ := e.mfaUser(t)
	kept := e.mfaLogin(t, email) // taken before the failures, used after them
	for range 2 {
		mt := e.mfaLogin(t, email)
		for range 3 {
			wantError(t, e.mfaVerify(mt, "code", "000000"), http.StatusUnauthorized, "unauthorized")
		}
	}
	wantError(t, e.mfaVerify(kept, "code", codes.code()), http.StatusTooManyRequests, "rate_limited")
	wantError(t, e.client.Post("/auth/login", map[string]string{"email": email, "password": goodPassword}, ""), http.StatusTooManyRequests, "rate_limited")
}

// TestMFAConcurrentVerifyOneCode: two verifies of one code, each with its own mfa_token, on two
// instances at once: exactly one 200.
func TestMFAConcurrentVerifyOneCode(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	a := apptest.MustNewApp(t, nil, nil, app.WithClock(clock.Now))
	b := apptest.NewEnv(t, a.Config, nil, app.WithClock(clock.Now))
	b.Prepare(t)
	ea, eb := envOf(t, a), envOf(t, b)
	ea.clock = clock
	email, _, codes, _ := ea.mfaUser(t)
	for round := range 3 {
		code := codes.code()
		ta, tb := ea.mfaLogin(t, email), eb.mfaLogin(t, email)
		var wg sync.WaitGroup
		var sa, sb int
		wg.Go(func() { sa = ea.mfaVerify(ta, "code", code).Status })
		wg.Go(func() { sb = eb.mfaVerify(tb, "code", code).Status })
		wg.Wait()
		if (sa == http.StatusOK) == (sb == http.StatusOK) || sa+sb != http.StatusOK+http.StatusUnauthorized {
			t.Fatalf("round %d: %d and %d, want one 200 and one 401", round, sa, sb)
		}
	}
}

// TestMFASecretsAtRest: the table holds no secret in the clear, a row copied onto another user
// opens nothing, and rekey moves secrets to a new key while the previous one still opens them.
func TestMFASecretsAtRest(t *testing.T) {
	t.Parallel()
	e, _ := newMFAEnv(t, nil)
	ctx := context.Background()
	victim, _, codes, recovery := e.mfaUser(t)
	thief, _, _, _ := e.mfaUser(t)
	var secret []byte
	apptest.Must(t, e.db.QueryRowContext(ctx, "SELECT f.secret FROM mfa_factors f JOIN users u ON u.id = f.user_id WHERE u.email = ?", victim).Scan(&secret), "read")
	if strings.Contains(string(secret), codes.secret) || len(secret) < 20+16 {
		t.Fatal("the secret is stored in the clear")
	}
	var dump string
	apptest.Must(t, e.db.QueryRowContext(ctx, "SELECT string_agg(encode(code_hash, 'escape'), ',') FROM mfa_recovery_codes").Scan(&dump), "dump")
	for _, rc := range recovery {
		if strings.Contains(dump, strings.ReplaceAll(rc, "-", "")) {
			t.Fatal("a recovery code is stored in the clear")
		}
	}
	// The victim's row copied onto the thief: the victim's codes do not work for the thief.
	_, err := e.db.ExecContext(ctx, `UPDATE mfa_factors t SET secret = v.secret, key_id = v.key_id, last_step = 0
		FROM mfa_factors v, users uv, users ut WHERE uv.email = ? AND v.user_id = uv.id AND ut.email = ? AND t.user_id = ut.id`, victim, thief)
	apptest.Must(t, err, "copy")
	wantError(t, e.mfaVerify(e.mfaLogin(t, thief), "code", codes.code()), http.StatusUnauthorized, "unauthorized")
}

// TestMFARekey: secrets sealed under a previous key open with it listed as
// MFA_ENCRYPTION_KEY_PREVIOUS, rekey moves them to the new key, and then the new key alone opens
// them.
func TestMFARekey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, clock := newMFAEnv(t, nil)
	email, _, codes, _ := e.mfaUser(t)
	newKey := make([]byte, 32)
	_, _ = rand.Read(newKey)
	oldKey, err := base64.StdEncoding.DecodeString(apptest.MFAKey)
	apptest.Must(t, err, "old key")
	rotated, err := models.NewMFAKeys(newKey, oldKey)
	_ = email
	apptest.Must(t, err, "keys")
	mfa := models.NewMFA(e.db, models.MFAOptions{Issuer: "authapi", Keys: rotated, ChallengeTTL: time.Minute, MaxFailures: 5}, 10*time.Second, time.Now)
	moved, _, err := mfa.Rekey(ctx)
	apptest.Must(t, err, "rekey")
	if moved != 1 {
		t.Fatalf("moved %d", moved)
	}
	onlyNew, _ := models.NewMFAKeys(newKey, nil)
	fresh := models.NewMFA(e.db, models.MFAOptions{Issuer: "authapi", Keys: onlyNew, ChallengeTTL: time.Minute, MaxFailures: 5}, 10*time.Second, clock.Now)
	user, err := e.users.ByEmail(ctx, email)
	apptest.Must(t, err, "user")
	ok, _, err := fresh.CheckCode(ctx, e.db, user.ID, codes.code())
	if err != nil || !ok {
		t.Fatalf("a code refused under the new key after rekey: %v %v", ok, err)
	}
}

// BenchmarkMFAVerify times POST /auth/mfa/verify with a right and with a wrong code (each with a
// fresh mfa_token, the login not timed): the two must not differ by more than noise, or the
// answer's timing would tell a code apart.
//
//	go test ./app -run '^$' -bench MFAVerify -benchtime 200x
func BenchmarkMFAVerify(b *testing.B) {
	for _, right := range []bool{true, false} {
		name := "Wrong"
		if right {
			name = "Right"
		}
		b.Run(name, func(b *testing.B) {
			clock := newTestClock()
			a := apptest.MustNewApp(b, map[string]string{"LOGIN_MAX_FAILURES_ACCOUNT_ADDR": "100000000", "LOGIN_MAX_FAILURES_ACCOUNT": "100000000"}, nil, app.WithClock(clock.Now))
			c := apptest.NewClient(b, a.App.Public())
			email := randomEmail()
			c.Post("/auth/register", map[string]string{"email": email, "password": goodPassword}, "")
			token := c.Post("/auth/login", map[string]string{"email": email, "password": goodPassword}, "").JSON(b)["token"].(string)
			var setup struct{ Secret string }
			c.Post("/auth/mfa/totp/setup", map[string]string{"password": goodPassword}, token).Decode(b, &setup)
			code := func() string {
				clock.at.Add(int64(30 * time.Second))
				c, _ := totp.GenerateCodeCustom(setup.Secret, clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
				return c
			}
			if r := c.Post("/auth/mfa/totp/confirm", map[string]string{"code": code()}, token); r.Status != http.StatusOK {
				b.Fatalf("confirm %d", r.Status)
			}
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				mt := c.Post("/auth/login", map[string]string{"email": email, "password": goodPassword}, "").JSON(b)["mfa_token"].(string)
				given := "000000"
				if right {
					given = code()
				}
				b.StartTimer()
				r := c.Post("/auth/mfa/verify", map[string]string{"mfa_token": mt, "code": given}, "")
				if (r.Status == http.StatusOK) != right {
					b.Fatalf("verify %d", r.Status)
				}
			}
		})
	}
}
