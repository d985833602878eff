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
		{"abcdefg1", ""},
		{strings.Repeat("a", 71) + "1", ""},
		{"pässwört1", ""},
		{"abc1", "password too short (min 8)"},
		{strings.Repeat("a", 72) + "1", "password too long (max 72 bytes)"},
		{"1" + strings.Repeat("é", 36), "password too long (max 72 bytes)"}, // 73 bytes, 37 characters
		{"abcdefgh", "password must include at least one letter and one number"},
		{"12345678", "password must include at least one letter and one number"},
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
