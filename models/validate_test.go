package models

import (
	"strings"
	"testing"
)

func TestValidateEmail(t *testing.T) {
	valid := []string{"ada@example.com", "a.b+tag@sub.example.co.uk", "x_y-z@ex-ample.org", "1@2.io"}
	invalid := []string{
		"", "ada", "ada@", "@example.com", "ada@example", "ada@@example.com", "a@b@example.com",
		"ada@.example.com", "ada@example..com", "ada@example.com.", "ada @example.com",
		"\"ada\"@example.com", "ada <ada@example.com>", "ada@-example.com", ".ada@example.com",
		"ada.@example.com", "a..da@example.com", "ada@exa mple.com", "ada@example.com\n",
		strings.Repeat("a", 65) + "@example.com",
		strings.Repeat("a", 60) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63) + ".com",
	}
	for _, email := range valid {
		if err := ValidateEmail(email); err != nil {
			t.Errorf("ValidateEmail(%q) = %v, want nil", email, err)
		}
	}
	for _, email := range invalid {
		if err := ValidateEmail(email); ErrorCode(err) != CodeValidation {
			t.Errorf("ValidateEmail(%q) = %v, want a validation error", email, err)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	if got := NormalizeEmail("  Ada@Example.COM \t"); got != "ada@example.com" {
		t.Fatalf("got %q", got)
	}
}

func TestValidatePassword(t *testing.T) {
	tests := []struct {
		password, want string
	}{
		{"abcdefh7", ""},
		{strings.Repeat("a", 71) + "1", ""},
		{"pässwört1", ""},
		{"abc1", "password too short (min 8)"},
		{strings.Repeat("a", 72) + "1", "password too long (max 72 bytes)"},
		{"1" + strings.Repeat("é", 36), "password too long (max 72 bytes)"}, // 73 bytes, 37 characters
		{"abcdefgh", "password must include at least one letter and one number"},
		{"12345678", "password must include at least one letter and one number"},
		// The list is checked after the rules, ignoring case; "password" and "123456" are on it
		// too, but the rules refuse them first.
		{"password", "password must include at least one letter and one number"},
		{"abcdefg1", "password is too common"},
		{"password1", "password is too common"},
		{"PassWord1", "password is too common"},
		{"QWERTY123", "password is too common"},
	}
	for _, tc := range tests {
		err := ValidatePassword(tc.password)
		if tc.want == "" {
			if err != nil {
				t.Errorf("ValidatePassword(%q) = %v", tc.password, err)
			}
			continue
		}
		if ErrorCode(err) != CodeValidation || ErrorMessage(err) != tc.want {
			t.Errorf("ValidatePassword(%q) = %v, want %q", tc.password, err, tc.want)
		}
	}
}

func TestValidateCredentialsEmailFirst(t *testing.T) {
	_, err := ValidateCredentials("bad", "x")
	if ErrorMessage(err) != "invalid email format" {
		t.Fatalf("err = %v, want the email error first", err)
	}
}

func TestPublicMessage(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{Errorf(CodeValidation, "invalid email format"), "validation error: invalid email format"},
		{Errorf(CodeNotFound, "x"), "not found: x"},
		{Errorf(CodeRateLimited, "slow down"), "rate limited: slow down"},
		{Errorf(CodeUnsupportedMedia, "json only"), "unsupported media type: json only"},
		{&Error{Code: CodeInternal, Message: "db exploded at row 7"}, "internal error"},
		{errPlain("pq: syntax error"), "internal error"},
	}
	for _, tc := range tests {
		if got := PublicMessage(tc.err); got != tc.want {
			t.Errorf("PublicMessage(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

type errPlain string

func (e errPlain) Error() string { return string(e) }

// Printable ASCII only: every address below would register on a loose validator and look like
// (or, after Unicode case mapping, be) someone else's.
func TestValidateEmailHostile(t *testing.T) {
	for name, raw := range map[string]string{
		"nul end":           "victim@example.com\x00",
		"nul inside":        "vic\x00tim@example.com",
		"cyrillic a":        "\u0430dmin@example.com",
		"zero-width space":  "ad\u200bmin@example.com",
		"zero-width joiner": "admin\u200d@example.com",
		"bidi override":     "\u202eadmin@example.com",
		"bidi isolate":      "admin@\u2066example.com",
		"bom":               "\ufeffadmin@example.com",
		"kelvin sign":       "\u212aate@example.com",
		"dotless i":         "adm\u0131n@example.com",
		"fullwidth at":      "admin\uff20example.com",
		"nbsp":              "\u00a0admin@example.com",
		"next line":         "admin@example.com\u0085",
		"latin-1 letter":    "jos\u00e9@example.com",
		"unicode domain":    "ada@b\u00fccher.example",
		"DEL":               "ad\x7fmin@example.com",
		"tab inside":        "ad\tmin@example.com",
		"invalid utf-8":     "ad\xffmin@example.com",
	} {
		normalized := NormalizeEmail(raw)
		if err := ValidateEmail(normalized); ErrorMessage(err) != "invalid email format" {
			t.Errorf("%s: ValidateEmail(%q) = %v, want invalid email format", name, normalized, err)
		}
	}
	// The ASCII form of an internationalised domain is fine.
	if err := ValidateEmail("ada@xn--bcher-kva.example"); err != nil {
		t.Fatalf("punycode domain: %v", err)
	}
}

// Normalisation maps ASCII only: Unicode case mapping would turn the Kelvin sign into "k" and
// strings.TrimSpace would strip U+0085 and U+00A0, making a non-ASCII input pass as ASCII.
func TestNormalizeEmailASCIIOnly(t *testing.T) {
	for raw, want := range map[string]string{
		" \t\r\nAda@Example.COM\v\f ": "ada@example.com",
		"\u212aate@example.com":       "\u212aate@example.com",
		"\u00a0ada@example.com\u0085": "\u00a0ada@example.com\u0085",
		"ADA\u0130@EXAMPLE.COM":       "ada\u0130@example.com",
	} {
		if got := NormalizeEmail(raw); got != want {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", raw, got, want)
		}
	}
}
