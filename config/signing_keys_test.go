package config

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func pemOf(t *testing.T, typ string, key any) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func ed25519PEM(t *testing.T) (string, ed25519.PrivateKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf(t, "PRIVATE KEY", priv), priv
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys.pem")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSigningKeysOK: under EdDSA the keys are read in file order, and JWT_SECRET is neither
// required nor checked (absent, short or a published value all pass).
func TestSigningKeysOK(t *testing.T) {
	first, k1 := ed25519PEM(t)
	second, k2 := ed25519PEM(t)
	file := writeFile(t, "# comment before the first key is skipped\n"+first+second+"\n")
	for name, jwtSecret := range map[string]string{"NoSecret": "", "ShortSecret": "short", "PublishedSecret": publishedSecrets[0]} {
		t.Run(name, func(t *testing.T) {
			cfg, err := FromValues(map[string]string{"JWT_ALG": "EdDSA", "JWT_SIGNING_KEYS_FILE": file, "JWT_SECRET": jwtSecret})
			if err != nil {
				t.Fatal(err)
			}
			if cfg.JWT.Alg != AlgEdDSA || len(cfg.JWT.SigningKeys) != 2 || !cfg.JWT.SigningKeys[0].Equal(k1) || !cfg.JWT.SigningKeys[1].Equal(k2) {
				t.Fatalf("keys %d, alg %s", len(cfg.JWT.SigningKeys), cfg.JWT.Alg)
			}
			if cfg.JWT.Secret != nil {
				t.Fatal("JWT_SECRET kept under EdDSA")
			}
		})
	}
	cfg, err := FromValues(map[string]string{"JWT_SECRET": secret})
	if err != nil || cfg.JWT.Alg != AlgHS256 || cfg.JWT.SigningKeys != nil {
		t.Fatalf("default: alg %q, err %v", cfg.JWT.Alg, err)
	}
}

// TestSigningKeysInvalid: each bad JWT_ALG / JWT_SIGNING_KEYS_FILE is one line of
// ErrInvalid (exit status 2 at start) naming the variable, never key material.
func TestSigningKeysInvalid(t *testing.T) {
	good, _ := ed25519PEM(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}))
	body := good[strings.Index(good, "\n")+1 : strings.LastIndex(good[:len(good)-1], "\n")]
	eddsa := func(content string) map[string]string {
		return map[string]string{"JWT_ALG": "EdDSA", "JWT_SIGNING_KEYS_FILE": writeFile(t, content)}
	}
	tests := []struct {
		name   string
		values map[string]string
		want   string
	}{
		{"ErrUnknownAlg", map[string]string{"JWT_ALG": "RS256", "JWT_SECRET": secret}, `JWT_ALG: "RS256" is not HS256 or EdDSA`},
		{"ErrAlgCase", map[string]string{"JWT_ALG": "eddsa", "JWT_SECRET": secret}, "JWT_ALG"},
		{"ErrNone", map[string]string{"JWT_ALG": "none", "JWT_SECRET": secret}, "JWT_ALG"},
		{"ErrHS256StillNeedsSecret", map[string]string{"JWT_ALG": "HS256"}, "JWT_SECRET: is required"},
		{"ErrFileWithoutEdDSA", map[string]string{"JWT_SECRET": secret, "JWT_SIGNING_KEYS_FILE": writeFile(t, good)}, "JWT_SIGNING_KEYS_FILE: only used with JWT_ALG=EdDSA"},
		{"ErrNoFile", map[string]string{"JWT_ALG": "EdDSA"}, "JWT_SIGNING_KEYS_FILE: is required with JWT_ALG=EdDSA"},
		{"ErrMissingFile", map[string]string{"JWT_ALG": "EdDSA", "JWT_SIGNING_KEYS_FILE": "/nonexistent/keys.pem"}, "cannot read"},
		{"ErrEmptyFile", eddsa(""), "holds no key"},
		{"ErrBlankFile", eddsa("\n \n"), "holds no key"},
		{"ErrNotPEM", eddsa("this is not a key\n"), "holds no PEM key"},
		{"ErrBase64WithoutArmour", eddsa(body), "holds no PEM key"},
		{"ErrRSAPKCS8", eddsa(pemOf(t, "PRIVATE KEY", rsaKey)), "PEM block 1 is not an Ed25519 key (RSA)"},
		{"ErrRSAPKCS1", eddsa(pkcs1), `PEM block 1 is "RSA PRIVATE KEY"`},
		{"ErrECDSASecond", eddsa(good + pemOf(t, "PRIVATE KEY", ecKey)), "PEM block 2 is not an Ed25519 key (ECDSA)"},
		{"ErrPublicKey", eddsa(string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2}}))), `PEM block 1 is "PUBLIC KEY"`},
		{"ErrCorruptDER", eddsa(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("garbage")}))), "PEM block 1 is not a PKCS#8 private key"},
		{"ErrTrailingText", eddsa(good + "trailing"), "something other than a PEM block after key 1"},
		{"ErrTruncated", eddsa(good[:len(good)-20]), "holds no PEM key"},
		{"ErrDuplicate", eddsa(good + good), "PEM block 2 repeats an earlier key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromValues(tc.values)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q: want one line mentioning %q", msg, tc.want)
			}
			if strings.Contains(msg, "MC4CAQ") || strings.Contains(msg, "BEGIN") {
				t.Fatalf("error quotes key material: %q", msg)
			}
		})
	}
}
