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

// NormalizeEmail trims surrounding whitespace and lower-cases, the form emails are stored and
// compared in.
func NormalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}

// ValidateEmail checks an already normalised email: one plain address (no display name, no
// comments, no quoted local part), at most 254 bytes, with a dotted domain.
func ValidateEmail(email string) error {
	invalid := Errorf(CodeValidation, "invalid email format")
	if email == "" {
		return Errorf(CodeValidation, "email is required")
	}
	if len(email) > maxEmailBytes {
		return Errorf(CodeValidation, "email too long (max %d bytes)", maxEmailBytes)
	}
	for _, r := range email {
		if r <= ' ' || r == 0x7f || r == '"' || r == '(' || r == ')' || r == '<' || r == '>' || r == ',' || r == ';' || r == '\\' || r == '[' || r == ']' {
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

// ValidatePassword applies the password rules; the message names the rule that failed.
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
