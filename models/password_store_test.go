package models_test

import (
	"context"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/example/authapi/app/apptest"
	"github.com/example/authapi/models"
)

// Hash and Verify through the public API: the configured cost, a right and a wrong password.
func TestHasherHashVerify(t *testing.T) {
	t.Parallel()
	const cost = bcrypt.MinCost
	h := models.NewHasher(models.HasherOptions{Cost: cost, Concurrency: 2, QueueTimeout: time.Second})
	ctx := context.Background()
	hash, err := h.Hash(ctx, "correct-horse-1")
	apptest.Must(t, err, "hash")
	if got, err := bcrypt.Cost([]byte(hash)); err != nil || got != cost {
		t.Fatalf("hash cost = %d, %v; want %d", got, err, cost)
	}
	for _, tc := range []struct {
		name, password string
		want           bool
	}{
		{"OK", "correct-horse-1", true},
		{"ErrWrongPassword", "correct-horse-2", false},
		{"ErrEmpty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := h.Verify(ctx, &hash, tc.password)
			if err != nil || ok != tc.want {
				t.Fatalf("Verify(%q) = %v, %v; want %v", tc.password, ok, err, tc.want)
			}
		})
	}
}
