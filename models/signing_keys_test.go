package models

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"testing"
)

// TestThumbprintRFC8037 checks the kid against the worked example of RFC 8037 (appendices A.1
// to A.3): the key's x and its RFC 7638 thumbprint.
func TestThumbprintRFC8037(t *testing.T) {
	seed, err := base64.RawURLEncoding.DecodeString("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
	if err != nil {
		t.Fatal(err)
	}
	k := NewSigningKey(ed25519.NewKeyFromSeed(seed))
	jwk := k.JWK()
	if jwk.X != "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" {
		t.Fatalf("x = %s", jwk.X)
	}
	if k.Kid != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" || jwk.Kid != k.Kid {
		t.Fatalf("kid = %s", k.Kid)
	}
	if jwk.Kty != "OKP" || jwk.Crv != "Ed25519" || jwk.Use != "sig" || jwk.Alg != "EdDSA" {
		t.Fatalf("jwk = %+v", jwk)
	}
}

func TestGenerateSigningKeyPEM(t *testing.T) {
	out, err := GenerateSigningKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	block, rest := pem.Decode(out)
	if block == nil || block.Type != "PRIVATE KEY" || len(rest) != 0 {
		t.Fatalf("not one PKCS#8 PEM block: %q", out)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := key.(ed25519.PrivateKey); !ok {
		t.Fatalf("key is %T", key)
	}
}
