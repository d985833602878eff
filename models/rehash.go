package models

import (
	"context"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"
)

// NeedsRehash reports whether hash was made at another cost than the Hasher's (an imported
// hash, or one from before BCRYPT_COST changed). Such an account answers a login faster or
// slower than the dummy hash of an unknown email, which tells the two apart.
func (h *Hasher) NeedsRehash(hash string) bool {
	cost, err := bcrypt.Cost([]byte(hash))
	return err == nil && cost != h.cost
}

// ReplacePasswordHash sets the user's hash to newHash if it is still oldHash, so that a
// password changed meanwhile is never overwritten (a row that changed is left alone, no error).
func (s *BunUserStore) ReplacePasswordHash(ctx context.Context, id uuid.UUID, oldHash, newHash string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	_, err := s.db.NewUpdate().Model((*User)(nil)).
		Set("password_hash = ?", newHash).
		Where("id = ? AND password_hash = ?", id, oldHash).
		Exec(ctx)
	return dbError(err)
}
