package app

import (
	"github.com/example/authapi/config"
	"github.com/example/authapi/models"
)

// signingKeys are the EdDSA keys of JWT_SIGNING_KEYS_FILE with their kids, in file order; nil
// under HS256.
func signingKeys(cfg config.JWT) []models.SigningKey {
	if cfg.Alg != config.AlgEdDSA {
		return nil
	}
	keys := make([]models.SigningKey, len(cfg.SigningKeys))
	for i, priv := range cfg.SigningKeys {
		keys[i] = models.NewSigningKey(priv)
	}
	return keys
}

// firstKey is the key that signs: the first of the file; nil under HS256.
func firstKey(keys []models.SigningKey) *models.SigningKey {
	if len(keys) == 0 {
		return nil
	}
	return &keys[0]
}
