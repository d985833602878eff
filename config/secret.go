package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// publishedSecrets are JWT_SECRET values that have appeared in this repository (examples,
// defaults, tests): anyone can read them, so anyone could sign tokens with them. The rules of
// checkSecret refuse them too; they are listed so that relaxing a rule cannot let one back in.
// TestPublishedSecretsRefused finds every JWT_SECRET value in the repository's examples and
// manifests and fails unless checkSecret refuses it.
var publishedSecrets = []string{
	"change-me-to-at-least-32-random-bytes-0000",
	"change-me-to-at-least-32-random-bytes-0123456789",
	"dev-only-secret-change-me-0123456789abcdef",
	"test-secret-0123456789-abcdefghijklmnop",
	"bench-only-secret-0123456789abcdef-0123",
	"deploycheck-secret-0123456789-abcdefgh",
	"0123456789abcdef0123456789abcdef",
}

// minSecretBytes is the contract's minimum length of JWT_SECRET.
const minSecretBytes = 32

// howToGenerate ends every refusal, so the operator knows what to do.
const howToGenerate = "generate one with `openssl rand -base64 48`"

// checkSecret refuses a JWT_SECRET that is short, published, a placeholder, or plainly not
// random. Its messages never quote the value.
func checkSecret(raw string) error {
	if len(raw) < minSecretBytes {
		return fmt.Errorf("must be at least %d bytes (got %d); %s", minSecretBytes, len(raw), howToGenerate)
	}
	for _, p := range publishedSecrets {
		if raw == p {
			return fmt.Errorf("is a published example value; %s", howToGenerate)
		}
	}
	lower := strings.ToLower(raw)
	for _, marker := range []string{"change-me", "changeme", "change_me", "replace-me", "replace_me"} {
		if strings.Contains(lower, marker) {
			return fmt.Errorf("is a placeholder (%q); %s", marker, howToGenerate)
		}
	}
	if strings.HasPrefix(lower, "secret") {
		return fmt.Errorf("is a placeholder (starts with \"secret\"); %s", howToGenerate)
	}
	if err := looksRandom(raw); err != nil {
		return fmt.Errorf("is plainly not random (%w); %s", err, howToGenerate)
	}
	return nil
}

// minDistinctBytes is the fewest distinct bytes a secret may have. 32 random hex digits (the
// shortest random secret that passes the length rule) have fewer than 8 distinct ones with a
// probability below 1e-7; base64 output has far more.
const minDistinctBytes = 8

// maxRun is the longest run of repeated or consecutive characters ("aaaa", "1234", "dcba")
// allowed. In random hex a run of 8 turns up about once in a million secrets of 64 digits.
const maxRun = 7

// looksRandom catches the values people type instead of generating: few distinct characters
// (one repeated character included), and long runs of repeated or consecutive characters
// ("0123456789", "abcdefgh").
func looksRandom(s string) error {
	distinct := map[byte]bool{}
	for i := 0; i < len(s); i++ {
		distinct[s[i]] = true
	}
	if len(distinct) < minDistinctBytes {
		return fmt.Errorf("%d distinct characters", len(distinct))
	}
	for _, step := range []int{0, 1, -1} {
		run := 1
		for i := 1; i < len(s); i++ {
			if int(s[i])-int(s[i-1]) == step {
				run++
				if run > maxRun {
					return errors.New("a run of repeated or consecutive characters")
				}
				continue
			}
			run = 1
		}
	}
	return nil
}

// parseMFAKey reads an MFA encryption key: empty is unset; otherwise 32 bytes in standard
// base64, held to the same rules as JWT_SECRET (not published, no placeholder, plainly random).
func parseMFAKey(raw string) ([]byte, error) {
	if raw == "" {
		return nil, nil
	}
	if err := checkSecret(raw); err != nil {
		return nil, err
	}
	key, err := base64.StdEncoding.DecodeString(raw)
	if err != nil || len(key) != 32 {
		return nil, errors.New("must be 32 bytes in base64 (`openssl rand -base64 32`)")
	}
	return key, nil
}
