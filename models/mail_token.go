package models

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// MailKind is the purpose of a mailed message and of the token in it.
type MailKind string

// The kinds of mail the service sends.
const (
	MailVerify MailKind = "verify"
	MailReset  MailKind = "reset"
	// MailEmailChange confirms a new address (sent to it, with a token); MailEmailNotice tells
	// the old address that a change was asked for (no token).
	MailEmailChange MailKind = "email_change"
	MailEmailNotice MailKind = "email_notice"
)

// mailTokenBytes is the entropy of a mail token: 256 bits, beyond guessing.
const mailTokenBytes = 32

// NewMailToken returns a fresh token as sent to the user (base64url, no padding: it travels in
// links) and the SHA-256 of its bytes, the only form ever stored.
func NewMailToken() (token string, hash []byte, err error) {
	raw := make([]byte, mailTokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", nil, err
	}
	sum := sha256.Sum256(raw)
	return base64.RawURLEncoding.EncodeToString(raw), sum[:], nil
}

// HashMailToken returns the stored form of token. A string that is not a token's encoding is
// the same client error as an unknown token, so a caller learns nothing from the difference.
func HashMailToken(token string) ([]byte, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != mailTokenBytes {
		return nil, ErrInvalidMailToken()
	}
	sum := sha256.Sum256(raw)
	return sum[:], nil
}

// ErrInvalidMailToken is the one answer to a token that is unknown, used, expired, of the
// other kind or malformed.
func ErrInvalidMailToken() *Error {
	return Errorf(CodeValidation, "invalid or expired token")
}
