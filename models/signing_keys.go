package models

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"

	"github.com/golang-jwt/jwt/v5"
)

// SigningKey is one Ed25519 key of JWT_SIGNING_KEYS_FILE and its kid, the RFC 7638 thumbprint
// of its public half. Tokens name the kid in their header; the verifier looks the key up by it
// and checks the signature with EdDSA only, whatever the header's alg says.
type SigningKey struct {
	Kid     string
	Private ed25519.PrivateKey
	Public  ed25519.PublicKey
}

// NewSigningKey returns the SigningKey of priv.
func NewSigningKey(priv ed25519.PrivateKey) SigningKey {
	pub := priv.Public().(ed25519.PublicKey)
	return SigningKey{Kid: Thumbprint(pub), Private: priv, Public: pub}
}

// Thumbprint is the RFC 7638 thumbprint of an Ed25519 public key: SHA-256 over the JWK's
// required members in lexical order with no whitespace, base64url without padding.
func Thumbprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// JWK is the public half of a signing key as GET /.well-known/jwks.json lists it (RFC 8037).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	X   string `json:"x"`
}

// JWK returns the key's public JWK.
func (k SigningKey) JWK() JWK {
	return JWK{Kty: "OKP", Crv: "Ed25519", Kid: k.Kid, Use: "sig", Alg: "EdDSA", X: base64.RawURLEncoding.EncodeToString(k.Public)}
}

// GenerateSigningKeyPEM returns a new Ed25519 key as a PKCS#8 PEM block.
func GenerateSigningKeyPEM() ([]byte, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// sign signs claims with the Issuer's algorithm: EdDSA with the signing key, its kid in the
// header, when one is configured; else HS256 with the secret and no kid.
func (i *Issuer) sign(claims *Claims) (string, error) {
	if k := i.opts.Key; k != nil {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
		tok.Header["kid"] = k.Kid
		return tok.SignedString(k.Private)
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(i.opts.Secret)
}
