package config

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
)

// JWT algorithms of JWT_ALG.
const (
	AlgHS256 = "HS256"
	AlgEdDSA = "EdDSA"
)

// readSigningKeys reads JWT_SIGNING_KEYS_FILE. Its errors are one line each and never quote
// key material.
func readSigningKeys(path string) ([]ed25519.PrivateKey, error) {
	data, err := os.ReadFile(path) //nolint:gosec // G304: the operator names this file; reading it is the point
	if err != nil {
		var perr *os.PathError
		if errors.As(err, &perr) {
			return nil, fmt.Errorf("cannot read %q: %w", path, perr.Err)
		}
		return nil, fmt.Errorf("cannot read %q", path)
	}
	keys, err := parseSigningKeysPEM(data)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", path, err)
	}
	return keys, nil
}

// parseSigningKeysPEM reads one or more PKCS#8 "PRIVATE KEY" PEM blocks, each an Ed25519 key,
// in file order (the first signs); text before a block (a comment) is skipped, as pem.Decode
// does. Anything else is an error of one line that never quotes key
// material: no PEM at all, text outside the blocks, another block type, another key type (RSA,
// ECDSA), or the same key twice.
func parseSigningKeysPEM(data []byte) ([]ed25519.PrivateKey, error) {
	var keys []ed25519.PrivateKey
	seen := map[string]bool{}
	rest := data
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "PRIVATE KEY" {
			return nil, fmt.Errorf("PEM block %d is %q, want a PKCS#8 \"PRIVATE KEY\" (generate one with `authapi keys generate`)", n, block.Type)
		}
		parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block %d is not a PKCS#8 private key", n)
		}
		priv, ok := parsed.(ed25519.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("PEM block %d is not an Ed25519 key (%s)", n, keyType(parsed))
		}
		pub := string(priv.Public().(ed25519.PublicKey))
		if seen[pub] {
			return nil, fmt.Errorf("PEM block %d repeats an earlier key", n)
		}
		seen[pub] = true
		keys = append(keys, priv)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		if len(keys) == 0 {
			return nil, errors.New("holds no PEM key (want PKCS#8 Ed25519 keys; generate one with `authapi keys generate`)")
		}
		return nil, fmt.Errorf("has something other than a PEM block after key %d", len(keys))
	}
	if len(keys) == 0 {
		return nil, errors.New("holds no key (want PKCS#8 Ed25519 keys; generate one with `authapi keys generate`)")
	}
	return keys, nil
}

func keyType(k any) string {
	switch k.(type) {
	case *rsa.PrivateKey:
		return "RSA"
	case *ecdsa.PrivateKey:
		return "ECDSA"
	case *ecdh.PrivateKey:
		return "X25519"
	default:
		return fmt.Sprintf("%T", k)
	}
}
