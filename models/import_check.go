package models

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"
)

// pgTimestampLayout is how Postgres prints a timestamptz with DateStyle ISO and TimeZone UTC
// ("2026-11-28 12:00:00.123456+00"); Go's parser accepts the fraction without naming it.
const pgTimestampLayout = "2006-01-02 15:04:05-07"

// CheckImportRow applies the checks that need only the row itself and returns the user to
// import, or why the row cannot be imported. The email is normalised and validated as on
// register; the hash must be a bcrypt hash this service can verify ($2a$, $2b$ or $2y$, cost
// 4 to maxCost, BCRYPT_MAX_COST: login never runs a costlier one); the status is mapped
// (pending becomes pending_verification).
func CheckImportRow(r ImportRow, maxCost int) (User, string) {
	if r.Unreadable != "" {
		return User{}, r.Unreadable
	}
	id, err := uuid.Parse(r.ID)
	if err != nil {
		return User{}, "id is not a UUID"
	}
	email := NormalizeEmail(r.Email)
	if err := ValidateEmail(email); err != nil {
		var e *Error
		if errors.As(err, &e) {
			return User{}, "email refused: " + e.Message
		}
		return User{}, "email refused"
	}
	if reason := checkBcryptHash(r.PasswordHash, maxCost); reason != "" {
		return User{}, "password hash unusable: " + reason
	}
	created, reason := parseImportTime(r.CreatedAt)
	if reason != "" {
		return User{}, reason
	}
	status, ok := importStatus(r.Status)
	if !ok {
		return User{}, fmt.Sprintf("unknown status %q", truncate(r.Status, 40))
	}
	return User{ID: id, Email: email, PasswordHash: r.PasswordHash, Status: status, Role: RoleUser, CreatedAt: created}, ""
}

// importStatus maps the old service's statuses to this one's. A suspension there carried no
// reason or end, so an imported one has none either.
func importStatus(s string) (Status, bool) {
	switch s {
	case "active":
		return StatusActive, true
	case "pending":
		return StatusPendingVerification, true
	case "suspended":
		return StatusSuspended, true
	}
	return "", false
}

// checkBcryptHash accepts the modular-crypt bcrypt forms that differ only in their version
// byte for passwords under 72 bytes: $2a$ (Go, most libraries), $2b$ (OpenBSD, the Rust bcrypt
// crate) and $2y$ (PHP, crypt_blowfish). Go's bcrypt verifies all three as they are. $2x$ (the
// buggy crypt_blowfish variant) and anything else is refused: no login could ever succeed. So
// is a cost above maxCost: login fails closed on such a hash rather than run it.
func checkBcryptHash(h string, maxCost int) string {
	if len(h) < 4 || h[0] != '$' || h[1] != '2' || h[3] != '$' || (h[2] != 'a' && h[2] != 'b' && h[2] != 'y') {
		return "not a bcrypt hash ($2a$, $2b$ or $2y$)"
	}
	// $2b$ NN $ then 22 characters of salt and 31 of hash, in bcrypt's base64 alphabet.
	if len(h) != 60 || h[6] != '$' {
		return "not a bcrypt hash of 60 characters"
	}
	for i := 7; i < len(h); i++ {
		c := h[i]
		if c != '.' && c != '/' && (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return "bad character in salt or hash"
		}
	}
	cost, err := bcrypt.Cost([]byte(h))
	if err != nil {
		return fmt.Sprintf("bad cost %q (bcrypt allows %d to %d)", h[4:6], bcrypt.MinCost, bcrypt.MaxCost)
	}
	if cost > maxCost {
		return fmt.Sprintf("cost %d is above BCRYPT_MAX_COST (%d)", cost, maxCost)
	}
	return ""
}

// parseImportTime reads created_at as RFC 3339 or as Postgres prints it. Years outside 1..9999
// (Postgres allows BC and infinity) are refused: RFC 3339 in responses and cursors cannot
// carry them.
func parseImportTime(s string) (time.Time, string) {
	if s == "" {
		return time.Time{}, "created_at missing"
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		if t, err = time.Parse(pgTimestampLayout, s); err != nil {
			return time.Time{}, "created_at is not an RFC 3339 timestamp"
		}
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return time.Time{}, "created_at out of range"
	}
	return t.UTC(), ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
