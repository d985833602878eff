package models

import (
	"net/mail"
	"strings"
	"unicode"
)

// Password length bounds, in bytes. bcrypt reads no more than 72 bytes, so a longer password is
// refused rather than silently truncated.
const (
	MinPasswordBytes = 8
	MaxPasswordBytes = 72
	maxEmailBytes    = 254
)

// NormalizeEmail trims surrounding ASCII whitespace and lower-cases ASCII letters: the one form
// in which emails are stored, looked up and counted by the rate limits. It touches no other
// byte on purpose: Unicode case mapping turns some non-ASCII letters into ASCII ones (the
// Kelvin sign K lower-cases to "k"), so a lookalike could normalise into someone else's
// address; left alone, it fails ValidateEmail instead.
func NormalizeEmail(email string) string {
	email = strings.Trim(email, " \t\n\v\f\r")
	var b []byte
	for i := 0; i < len(email); i++ {
		if c := email[i]; 'A' <= c && c <= 'Z' {
			if b == nil {
				b = []byte(email)
			}
			b[i] = c + ('a' - 'A')
		}
	}
	if b == nil {
		return email
	}
	return string(b)
}

// ValidateEmail checks an already normalised email: printable ASCII only (no control
// character, NUL included, no zero-width, bidi or other non-ASCII character, so no address can
// look like another one), one plain address (no display name, no comments, no quoted local
// part), at most 254 bytes, with a dotted domain. Internationalised domains are written in
// their ASCII form (xn--…).
func ValidateEmail(email string) error {
	invalid := Errorf(CodeValidation, "invalid email format")
	if email == "" {
		return Errorf(CodeValidation, "email is required")
	}
	if len(email) > maxEmailBytes {
		return Errorf(CodeValidation, "email too long (max %d bytes)", maxEmailBytes)
	}
	for i := 0; i < len(email); i++ {
		switch c := email[i]; {
		case c <= ' ' || c >= 0x7f: // controls, space, DEL, and every byte of a non-ASCII character
			return invalid
		case c == '"' || c == '(' || c == ')' || c == '<' || c == '>' || c == ',' || c == ';' || c == '\\' || c == '[' || c == ']':
			return invalid
		}
	}
	at := strings.IndexByte(email, '@')
	if at <= 0 || at != strings.LastIndexByte(email, '@') {
		return invalid
	}
	local, domain := email[:at], email[at+1:]
	if len(local) > 64 || strings.HasPrefix(local, ".") || strings.HasSuffix(local, ".") || strings.Contains(local, "..") {
		return invalid
	}
	labels := strings.Split(domain, ".")
	if len(labels) < 2 {
		return invalid
	}
	for _, label := range labels {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return invalid
		}
	}
	// net/mail is the final word on syntax; the address it parses must be the input itself.
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Name != "" || addr.Address != email {
		return invalid
	}
	return nil
}

// ValidatePassword applies the password rules, then refuses a password on the list of the
// most common ones (ignoring case); the message names the rule that failed. Login applies none.
func ValidatePassword(password string) error {
	if len(password) < MinPasswordBytes {
		return Errorf(CodeValidation, "password too short (min %d)", MinPasswordBytes)
	}
	if len(password) > MaxPasswordBytes {
		return Errorf(CodeValidation, "password too long (max %d bytes)", MaxPasswordBytes)
	}
	var letter, digit bool
	for _, r := range password {
		letter = letter || unicode.IsLetter(r)
		digit = digit || unicode.IsDigit(r)
	}
	if !letter || !digit {
		return Errorf(CodeValidation, "password must include at least one letter and one number")
	}
	if IsCommonPassword(password) {
		return Errorf(CodeValidation, "password is too common")
	}
	return nil
}

// ValidateCredentials normalises email and checks it, then the password: email first, as the
// contract orders them. It returns the normalised email.
func ValidateCredentials(email, password string) (string, error) {
	email = NormalizeEmail(email)
	if err := ValidateEmail(email); err != nil {
		return email, err
	}
	return email, ValidatePassword(password)
}
