package routes

import (
	"encoding/json"
	"regexp"
	"testing"
	"unicode/utf8"

	"github.com/example/authapi/models"
)

// fixedMessages are every message decoding and validation may return: none of them quotes the
// input, so a password or email sent in a malformed body can never come back in an error (nor
// land in a log that records it).
var fixedMessages = regexp.MustCompile(`^(malformed JSON body|request body must hold one JSON value|duplicate name in JSON object|request body must be a JSON \w+|field (email|password) must be a \w+|(email|password) is required|invalid email format|email too long \(max 254 bytes\)|password too short \(min 8\)|password too long \(max 72 bytes\)|password must include at least one letter and one number|password is too common|too many items \(max \d+\)|item \d+ must be a JSON object)$`)

func checkDecodeError(t *testing.T, err error) {
	t.Helper()
	if models.ErrorCode(err) != models.CodeValidation {
		t.Fatalf("error %v is not a validation error (would not be a 400)", err)
	}
	if msg := models.ErrorMessage(err); !fixedMessages.MatchString(msg) {
		t.Fatalf("message %q is not one of the fixed messages", msg)
	}
}

// FuzzDecodeCredentials feeds arbitrary bodies to the decoding and validation of register and
// login. Invariants: no panic; every refusal is a 400 with a fixed message; whatever decodes is
// one JSON value of valid UTF-8; whatever is accepted is a normalised, valid, printable-ASCII
// email and a password of 8..72 bytes.
func FuzzDecodeCredentials(f *testing.F) {
	for _, seed := range []string{
		`{"email":"ada@example.com","password":"correct-horse-9"}`,
		`{"email":" ADA@Example.COM ","password":"correct-horse-9","role":"admin","id":"x"}`,
		`{"email":1,"password":true}`, `[]`, `null`, `""`, `{}`, `{"email":"a@b.c"}`,
		`{"email":"a@b.c","password":"x"}{"email":"a@b.c"}`, `{"email":"\u0000@x.io","password":"abcdefgh1"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		email, password, err := decodeCredentials(body)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		if !json.Valid(body) || !utf8.Valid(body) {
			t.Fatalf("decoded a body that is not one JSON value of valid UTF-8: %q", body)
		}
		normalized, err := models.ValidateCredentials(email, password)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		if normalized != models.NormalizeEmail(normalized) || models.ValidateEmail(normalized) != nil {
			t.Fatalf("accepted email %q is not stable under normalisation", normalized)
		}
		for i := 0; i < len(normalized); i++ {
			if normalized[i] <= ' ' || normalized[i] >= 0x7f {
				t.Fatalf("accepted email %q is not printable ASCII", normalized)
			}
		}
		if len(password) < models.MinPasswordBytes || len(password) > models.MaxPasswordBytes {
			t.Fatalf("accepted a password of %d bytes", len(password))
		}
	})
}

// FuzzDecodeBatch feeds arbitrary bodies to POST /users/batch's decoding. Invariants: no panic,
// refusals are 400s with fixed messages, and accepted bodies hold at most the limit of objects.
func FuzzDecodeBatch(f *testing.F) {
	for _, seed := range []string{
		`[]`, `[{"email":"a@example.com","password":"abcdefgh1"}]`, `[1]`, `[{}, "x"]`, `{}`, `null`, `[[]]`, `[{},{},{},{}]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		items, err := decodeBatch(body, 3)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		if len(items) > 3 {
			t.Fatalf("accepted %d items, limit 3", len(items))
		}
		for _, item := range items {
			in, err := decodeCredentialsValue(item)
			if err != nil {
				checkDecodeError(t, err)
				continue
			}
			if _, _, err := in.fields(); err != nil {
				checkDecodeError(t, err)
			}
		}
	})
}
