package app_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/example/authapi/app"
	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/models"
)

// TestKeysGenerate: `keys generate` with no configuration at all (an empty environment) prints
// one PKCS#8 PEM Ed25519 key, a new one each time.
func TestKeysGenerate(t *testing.T) {
	t.Parallel()
	run := func() []byte {
		cmd := exec.Command(apptest.Binary(t), "keys", "generate")
		cmd.Env = []string{}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("keys generate: %v", err)
		}
		return out
	}
	first, second := run(), run()
	for _, out := range [][]byte{first, second} {
		block, rest := pem.Decode(out)
		if block == nil || block.Type != "PRIVATE KEY" || len(rest) != 0 {
			t.Fatalf("not one PEM block: %q", out)
		}
		key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := key.(ed25519.PrivateKey); !ok {
			t.Fatalf("key is %T", key)
		}
	}
	if string(first) == string(second) {
		t.Fatal("the same key twice")
	}
	for _, args := range [][]string{{"keys", "--help"}, {"--help"}} {
		cmd := exec.Command(apptest.Binary(t), args...)
		cmd.Env = []string{}
		if out, err := cmd.Output(); err != nil || !strings.Contains(string(out), "keys generate") {
			t.Fatalf("%v: %v %s", args, err, out)
		}
	}
	cmd := exec.Command(apptest.Binary(t), "keys", "rotate")
	cmd.Env = []string{}
	var exit *exec.ExitError
	if err := cmd.Run(); !errors.As(err, &exit) || exit.ExitCode() != app.ExitUsage {
		t.Fatalf("keys rotate: %v, want exit 2", err)
	}
}

// TestBadKeysFileExits2: serve with JWT_ALG=EdDSA and a key file that is missing, empty, not
// PEM or holds an RSA key exits 2 at once with one line on stderr, never a panic.
func TestBadKeysFileExits2(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	dir := t.TempDir()
	for name, content := range map[string]*string{"missing": nil, "empty": new(string), "not PEM": ptr("hello\n"), "RSA": &rsaPEM} {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".pem")
		if content != nil {
			if err := os.WriteFile(path, []byte(*content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		s := apptest.StartServer(t, map[string]string{"JWT_ALG": "EdDSA", "JWT_SIGNING_KEYS_FILE": path, "JWT_SECRET": ""})
		if code := s.Wait(30 * time.Second); code != app.ExitUsage {
			t.Fatalf("%s: exit %d, want 2; output %q", name, code, s.Log.String())
		}
		out := strings.TrimSuffix(s.Log.String(), "\n")
		if strings.Contains(out, "\n") || !strings.Contains(out, "JWT_SIGNING_KEYS_FILE") || strings.Contains(out, "panic") ||
			(name == "RSA" && !strings.Contains(out, "not an Ed25519 key (RSA)")) {
			t.Fatalf("%s: output %q, want one line naming JWT_SIGNING_KEYS_FILE", name, out)
		}
		t.Logf("%s: %s", name, out)
	}
}

func ptr(s string) *string { return &s }

// TestKeyRotationWithJWKS rotates the signing key across restarts of the binary, as the runbook
// says: [old] → [old, new] → [new, old] → [new]. At each step a verifier that knows nothing of this service
// (lestrrat-go/jwx) fetches /.well-known/jwks.json over HTTP and verifies the tokens: a token of
// the old key verifies, and is accepted by the service, while the old key is listed; the new
// key's tokens verify from the step it is listed; no one is logged out until the old key goes.
func TestKeyRotationWithJWKS(t *testing.T) {
	t.Parallel()
	dbURL := apptest.MustCreateDatabase(t)
	oldKey, newKey := newSigningKey(t), newSigningKey(t)
	email := randomEmail()

	// start runs the binary with keys in its file and waits until it is ready.
	start := func(keys ...models.SigningKey) proc {
		t.Helper()
		p := startProc(t, map[string]string{
			"DATABASE_URL": dbURL, "REDIS_URL": apptest.RedisURL(t),
			"JWT_ALG": "EdDSA", "JWT_SIGNING_KEYS_FILE": keysFile(t, keys...), "JWT_SECRET": "",
		})
		p.WaitReady(60 * time.Second)
		return p
	}
	stop := func(p proc) {
		t.Helper()
		p.Signal(syscall.SIGTERM)
		if code := p.Wait(30 * time.Second); code != 0 {
			t.Fatalf("exit %d", code)
		}
	}
	// verify fetches p's JWKS with jwx and verifies token with it (and the issuer and times).
	verify := func(p proc, token string) error {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		set, err := jwk.Fetch(ctx, p.Public+"/.well-known/jwks.json")
		if err != nil {
			t.Fatalf("fetch JWKS: %v", err)
		}
		_, err = jwt.Parse([]byte(token), jwt.WithKeySet(set), jwt.WithIssuer("auth-api"), jwt.WithAcceptableSkew(5*time.Second))
		return err
	}
	kids := func(p proc) []string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		set, err := jwk.Fetch(ctx, p.Public+"/.well-known/jwks.json")
		if err != nil {
			t.Fatalf("fetch JWKS: %v", err)
		}
		var out []string
		for i := range set.Len() {
			k, _ := set.Key(i)
			kid, _ := k.KeyID()
			out = append(out, kid)
		}
		return out
	}
	wantKids := func(p proc, want ...string) {
		t.Helper()
		if got := kids(p); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("JWKS kids %v, want %v", got, want)
		}
	}
	me := func(p proc, token string) int {
		code, _ := p.get(p.Public+"/auth/me", token)
		return code
	}

	// Step 1: [old].
	p := start(oldKey)
	wantKids(p, oldKey.Kid)
	p.register(email)
	oldToken := p.login(email)
	if kid := decodeHeader(t, oldToken)["kid"]; kid != oldKey.Kid {
		t.Fatalf("kid %v, want the old key's", kid)
	}
	if err := verify(p, oldToken); err != nil {
		t.Fatalf("[old]: old token: %v", err)
	}
	stop(p)

	// Step 2: [old, new]: the new key is listed and verifies, nothing is signed
	// with it yet.
	p = start(oldKey, newKey)
	wantKids(p, oldKey.Kid, newKey.Kid)
	if kid := decodeHeader(t, p.login(email))["kid"]; kid != oldKey.Kid {
		t.Fatalf("[old, new]: kid %v, want the old key's", kid)
	}
	if err := verify(p, oldToken); err != nil {
		t.Fatalf("[old, new]: old token: %v", err)
	}
	stop(p)

	// Step 3: [new, old]: new tokens are signed with the new key; the old token still verifies
	// offline and still works here (no logout).
	p = start(newKey, oldKey)
	wantKids(p, newKey.Kid, oldKey.Kid)
	newToken := p.login(email)
	if kid := decodeHeader(t, newToken)["kid"]; kid != newKey.Kid {
		t.Fatalf("kid %v, want the new key's", kid)
	}
	for name, tok := range map[string]string{"old": oldToken, "new": newToken} {
		if err := verify(p, tok); err != nil {
			t.Fatalf("[new, old]: %s token: %v", name, err)
		}
		if code := me(p, tok); code != http.StatusOK {
			t.Fatalf("[new, old]: %s token on /auth/me: %d", name, code)
		}
	}
	stop(p)

	// Step 4: [new]: the old key is gone, and its tokens with it, offline and here.
	p = start(newKey)
	wantKids(p, newKey.Kid)
	if err := verify(p, newToken); err != nil {
		t.Fatalf("[new]: new token: %v", err)
	}
	if err := verify(p, oldToken); err == nil {
		t.Fatal("[new]: the old key's token still verifies offline")
	}
	if code := me(p, newToken); code != http.StatusOK {
		t.Fatalf("[new]: new token on /auth/me: %d", code)
	}
	if code := me(p, oldToken); code != http.StatusUnauthorized {
		t.Fatalf("[new]: old token on /auth/me: %d, want 401", code)
	}
}
