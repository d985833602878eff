package config

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestSecretRules(t *testing.T) {
	raw := make([]byte, 48)
	_, _ = rand.Read(raw)
	for _, tc := range []struct {
		name, value, reason string
	}{
		{"OKBase64", base64.StdEncoding.EncodeToString(raw), ""},
		{"OKHex64", hex.EncodeToString(raw[:32]), ""},
		{"OKHex32", hex.EncodeToString(raw[:16]), ""},
		{"ErrShort", "too-short", "at least 32 bytes"},
		{"ErrPublished", publishedSecrets[0], "published"},
		{"ErrChangeMe", "change-me-" + hex.EncodeToString(raw[:16]), "placeholder"},
		{"ErrChangeMeInside", "xK2" + "-CHANGEME-" + hex.EncodeToString(raw[:16]), "placeholder"},
		{"ErrSecretPrefix", "secret-" + hex.EncodeToString(raw[:16]), "placeholder"},
		{"ErrOneCharacter", strings.Repeat("x", 48), "not random (1 distinct"},
		{"ErrFewCharacters", strings.Repeat("ab12", 12), "not random (4 distinct"},
		{"ErrAscendingRun", "Zq8" + "0123456789" + hex.EncodeToString(raw[:12]), "run"},
		{"ErrDescendingRun", "Zq8" + "zyxwvuts" + hex.EncodeToString(raw[:12]), "run"},
		{"ErrRepeatedRun", "Zq8" + "kkkkkkkk" + hex.EncodeToString(raw[:12]), "run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromValues(map[string]string{"JWT_SECRET": tc.value})
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("a random secret is refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "JWT_SECRET: ") || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("error %v, want JWT_SECRET refused for %q", err, tc.reason)
			}
			if strings.Contains(err.Error(), tc.value) || !strings.Contains(err.Error(), "openssl rand") {
				t.Fatalf("error quotes the secret or says nothing of how to make one: %v", err)
			}
		})
	}
}

// secretValue finds JWT_SECRET values as examples write them: NAME=value, NAME: value, and
// the justfile's env_var_or_default("JWT_SECRET", "value").
var secretValue = regexp.MustCompile(`JWT_SECRET"?\s*(?:[:=]|,)\s*["']?([^"'\s)]*)`)

// TestPublishedSecretsRefused reads every place in the repository that shows a JWT_SECRET
// value to copy (examples, manifests, recipes, README) and fails unless the service refuses
// each one. Values computed by a shell ($(…), ${…}) are not examples.
func TestPublishedSecretsRefused(t *testing.T) {
	var files []string
	for _, pattern := range []string{"../.env.example", "../justfile", "../README.md", "../docker/*.yaml", "../docker/*.yml",
		"../docker/k8s/*.yaml", "../docker/k8s/*/*.yaml", "../docker/*/*.yml", "../docker/*.md", "../docker/*/*.md",
		"../docker/k8s/*/*.md", "../config/*.md"} {
		matches, _ := filepath.Glob(pattern)
		files = append(files, matches...)
	}
	found := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range secretValue.FindAllStringSubmatch(string(raw), -1) {
			v := m[1]
			if v == "" || strings.HasPrefix(v, "$") || strings.HasPrefix(v, "…") {
				continue
			}
			found++
			if err := checkSecret(v); err == nil {
				t.Errorf("%s shows JWT_SECRET %q, which the service accepts: use a placeholder it refuses", f, v)
			}
		}
	}
	// The k8s Secret example must show one, so the scan is known to work.
	if found == 0 {
		t.Fatalf("no JWT_SECRET example found in %v", files)
	}
	for _, p := range publishedSecrets {
		if checkSecret(p) == nil {
			t.Errorf("published secret %q accepted", p)
		}
	}
}
