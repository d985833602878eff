package models

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
)

// MFAKeys encrypts TOTP secrets and keys the hashes of recovery codes: the current key
// (MFA_ENCRYPTION_KEY) seals, and the previous one (MFA_ENCRYPTION_KEY_PREVIOUS), when set,
// still opens what it sealed until `mfa rekey` has moved it under the current one.
type MFAKeys struct {
	current, previous []byte
}

// NewMFAKeys returns the keyring; previous may be nil. Each key is 32 bytes.
func NewMFAKeys(current, previous []byte) (*MFAKeys, error) {
	if len(current) != 32 || (previous != nil && len(previous) != 32) {
		return nil, errors.New("MFA keys must be 32 bytes")
	}
	return &MFAKeys{current: current, previous: previous}, nil
}

// keyID names a key without revealing it: the first 8 bytes of SHA-256 over a label and the key.
func keyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("authapi mfa key id\x00"), key...))
	return hex.EncodeToString(sum[:8])
}

// CurrentID is the id of the key that seals.
func (k *MFAKeys) CurrentID() string { return keyID(k.current) }

// byID returns the configured key with id, or nil.
func (k *MFAKeys) byID(id string) []byte {
	switch {
	case id == keyID(k.current):
		return k.current
	case k.previous != nil && id == keyID(k.previous):
		return k.previous
	}
	return nil
}

// sealKey and codeKey are the two uses of one configured key, kept apart by derivation.
func derive(key []byte, label string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(label))
	return mac.Sum(nil)
}

// Seal encrypts a TOTP secret of userID under the current key (AES-256-GCM, a random nonce,
// the user id as associated data) and returns the ciphertext and the key's id.
func (k *MFAKeys) Seal(userID [16]byte, secret []byte) ([]byte, string, error) {
	gcm, err := newGCM(derive(k.current, "authapi totp secret"))
	if err != nil {
		return nil, "", err
	}
	nonce := make([]byte, gcm.NonceSize(), gcm.NonceSize()+len(secret)+gcm.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, "", err
	}
	return gcm.Seal(nonce, nonce, secret, userID[:]), k.CurrentID(), nil
}

// Open decrypts what Seal sealed for userID under the key id; another user's row, an unknown
// key or any tampering is an error.
func (k *MFAKeys) Open(userID [16]byte, sealed []byte, id string) ([]byte, error) {
	key := k.byID(id)
	if key == nil {
		return nil, errors.New("mfa secret sealed under a key that is not configured")
	}
	gcm, err := newGCM(derive(key, "authapi totp secret"))
	if err != nil {
		return nil, err
	}
	if len(sealed) < gcm.NonceSize() {
		return nil, errors.New("mfa secret too short")
	}
	return gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], userID[:])
}

// codeHashes returns the keyed hashes of a normalised recovery code under every configured key,
// with the key ids: a code made under the previous key still matches.
func (k *MFAKeys) codeHashes(userID [16]byte, code string) (hashes [][]byte, ids []string) {
	for _, key := range [][]byte{k.current, k.previous} {
		if key == nil {
			continue
		}
		mac := hmac.New(sha256.New, derive(key, "authapi recovery code"))
		mac.Write(userID[:])
		mac.Write([]byte(code))
		hashes = append(hashes, mac.Sum(nil))
		ids = append(ids, keyID(key))
	}
	return hashes, ids
}
