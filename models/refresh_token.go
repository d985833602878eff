package models

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"
)

// refreshTokenBytes is the entropy of a refresh token; it travels as 43 base64url characters.
const refreshTokenBytes = 32

// newRefreshToken returns a new random refresh token and the hash it is stored under.
func newRefreshToken() (token string, hash []byte, err error) {
	raw := make([]byte, refreshTokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", nil, err
	}
	sum := sha256.Sum256(raw)
	return base64.RawURLEncoding.EncodeToString(raw), sum[:], nil
}

// errBadRefreshToken is every refresh token that cannot be one of ours.
var errBadRefreshToken = Errorf(CodeUnauthorized, "invalid refresh token")

// parseRefreshToken decodes a presented refresh token into its raw bytes and stored hash; any
// other length or alphabet is the ordinary 401.
func parseRefreshToken(token string) (raw, hash []byte, err error) {
	if len(token) != base64.RawURLEncoding.EncodedLen(refreshTokenBytes) {
		return nil, nil, errBadRefreshToken
	}
	raw, err = base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(raw) != refreshTokenBytes {
		return nil, nil, errBadRefreshToken
	}
	sum := sha256.Sum256(raw)
	return raw, sum[:], nil
}

// successor is the pair that spending a refresh token produced, kept so that a retry within
// the reuse interval gets the very same pair.
type successor struct {
	AccessToken      string    `json:"a"`
	AccessExpiresAt  time.Time `json:"ae"`
	RefreshToken     string    `json:"r"`
	RefreshExpiresAt time.Time `json:"re"`
}

// sealKey derives the key that seals a token's successor from the token's raw bytes. The table
// holds SHA-256(raw), a different function of raw, so it gives no way to this key.
func sealKey(raw []byte) []byte {
	mac := hmac.New(sha256.New, raw)
	mac.Write([]byte("authapi refresh successor v1"))
	return mac.Sum(nil)
}

// sealSuccessor encrypts s with AES-256-GCM under a key derived from the spent token.
func sealSuccessor(raw []byte, s successor) ([]byte, error) {
	plain, err := json.Marshal(s) //nolint:gosec // sealed below: the pair is encrypted before it is stored
	if err != nil {
		return nil, err
	}
	gcm, err := newGCM(sealKey(raw))
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize(), gcm.NonceSize()+len(plain)+gcm.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return gcm.Seal(nonce, nonce, plain, nil), nil
}

// openSuccessor decrypts what sealSuccessor sealed with the same token.
func openSuccessor(raw, sealed []byte) (successor, error) {
	var s successor
	gcm, err := newGCM(sealKey(raw))
	if err != nil {
		return s, err
	}
	if len(sealed) < gcm.NonceSize() {
		return s, errors.New("sealed successor too short")
	}
	plain, err := gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], nil)
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(plain, &s)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
