package models

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
	"github.com/uptrace/bun"
)

// MFAOptions configures the second factor.
type MFAOptions struct {
	// Issuer names the service in authenticator apps (MFA_ISSUER).
	Issuer string
	// Keys encrypts secrets and keys recovery-code hashes; nil: MFA is not configured.
	Keys *MFAKeys
	// ChallengeTTL is the life of an mfa_token (5 minutes).
	ChallengeTTL time.Duration
	// MaxFailures is the number of wrong codes that kills an mfa_token (5).
	MaxFailures int
}

// The TOTP parameters of the contract: RFC 6238, SHA-1, 6 digits, 30 s, ±1 step.
const (
	totpPeriod        = 30
	totpDigits        = otp.DigitsSix
	recoveryCodeCount = 10
)

// MFA is the second factor: TOTP secrets (encrypted), recovery codes (hashed) and the second
// step of logins. Replay protection is the factor row's last accepted step, moved forward by one
// conditional UPDATE, so one code is accepted once across every instance.
type MFA struct {
	db      *bun.DB
	opts    MFAOptions
	timeout time.Duration
	now     func() time.Time
}

// NewMFA returns the service; now is the clock (time.Now outside tests).
func NewMFA(db *bun.DB, opts MFAOptions, timeout time.Duration, now func() time.Time) *MFA {
	return &MFA{db: db, opts: opts, timeout: timeout, now: now}
}

// Options returns the settings in force.
func (m *MFA) Options() MFAOptions { return m.opts }

var (
	errInvalidCode       = Errorf(CodeUnauthorized, "invalid code")
	errInvalidMFAToken   = Errorf(CodeUnauthorized, "invalid or expired mfa token")
	errMFANotConfigured  = &Error{Code: CodeUnavailable, Message: "mfa is not configured (MFA_ENCRYPTION_KEY)", RetryAfter: time.Minute}
	errMFAAlreadyEnabled = Errorf(CodeConflict, "mfa already enabled")
	// ErrMFARequired is Sessions.Open's answer to a password-only proof for a user with MFA on.
	ErrMFARequired = Errorf(CodeUnauthorized, "second factor required")
)

// ErrInvalidCode is the 401 of a wrong, replayed or malformed code.
func ErrInvalidCode() error { return errInvalidCode }

func (m *MFA) keys() (*MFAKeys, error) {
	if m.opts.Keys == nil {
		return nil, errMFANotConfigured
	}
	return m.opts.Keys, nil
}

// Setup makes a new secret for the user, not active until Confirm; it replaces an unconfirmed
// one. With MFA on it is a conflict.
func (m *MFA) Setup(ctx context.Context, userID uuid.UUID, email string) (secret, uri string, err error) {
	keys, err := m.keys()
	if err != nil {
		return "", "", err
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: m.opts.Issuer, AccountName: email, Period: totpPeriod, SecretSize: 20, Digits: totpDigits, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", "", err
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(key.Secret())
	if err != nil {
		return "", "", err
	}
	sealed, id, err := keys.Seal(userID, raw)
	if err != nil {
		return "", "", err
	}
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	res, err := m.db.ExecContext(ctx, `INSERT INTO mfa_factors (user_id, secret, key_id) VALUES (?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, key_id = excluded.key_id, created_at = clock_timestamp(), last_step = 0
		WHERE mfa_factors.confirmed_at IS NULL`, userID, sealed, id)
	if err != nil {
		return "", "", dbError(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return "", "", errMFAAlreadyEnabled
	}
	return key.Secret(), key.URL(), nil
}

// factor is a user's secret, decrypted, with its state.
type factor struct {
	secret    string // base32, as the otp library takes it
	confirmed bool
	lastStep  int64
}

// loadFactor reads and decrypts the user's factor in db (FOR UPDATE when lock).
func (m *MFA) loadFactor(ctx context.Context, db bun.IDB, userID uuid.UUID, lock bool) (*factor, error) {
	keys, err := m.keys()
	if err != nil {
		return nil, err
	}
	var sealed []byte
	var id string
	var confirmedAt *time.Time
	var f factor
	q := "SELECT secret, key_id, confirmed_at, last_step FROM mfa_factors WHERE user_id = ?"
	if lock {
		q += " FOR UPDATE"
	}
	if err := db.QueryRowContext(ctx, q, userID).Scan(&sealed, &id, &confirmedAt, &f.lastStep); err != nil {
		return nil, err
	}
	raw, openErr := keys.Open(userID, sealed, id)
	if openErr != nil {
		// Another user's row copied here, a key that is not configured, tampering: no code can
		// match. Not a server error: the code is refused like a wrong one.
		f.confirmed = confirmedAt != nil
		return &f, nil //nolint:nilerr // refused as a wrong code, on purpose
	}
	f.secret = base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw)
	f.confirmed = confirmedAt != nil
	return &f, nil
}

// matchStep returns the time step (of now-1, now, now+1) whose code is code, comparing each in
// constant time, or -1.
func (m *MFA) matchStep(secret, code string) int64 {
	if secret == "" || len(code) != int(totpDigits) {
		return -1
	}
	for _, c := range code {
		if c < '0' || c > '9' {
			return -1
		}
	}
	step := m.now().Unix() / totpPeriod
	found := int64(-1)
	for s := max(step-1, 0); s <= step+1; s++ {
		want, err := hotp.GenerateCodeCustom(secret, uint64(s), hotp.ValidateOpts{Digits: totpDigits, Algorithm: otp.AlgorithmSHA1}) //nolint:gosec // s >= 0
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			found = s
		}
	}
	return found
}

// acceptCode checks a TOTP code for userID in db and, if it is right and of a later step than
// the last accepted one, records its step: a code works once, on every instance.
func (m *MFA) acceptCode(ctx context.Context, db bun.IDB, userID uuid.UUID, f *factor, code string) (bool, error) {
	step := m.matchStep(f.secret, code)
	if step < 0 {
		return false, nil
	}
	res, err := db.ExecContext(ctx, "UPDATE mfa_factors SET last_step = ? WHERE user_id = ? AND last_step < ?", step, userID, step)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// CheckCode checks a current TOTP code or a recovery code of a user with MFA on (disable,
// regenerate codes, delete): the code is spent if right. It reports which it was.
func (m *MFA) CheckCode(ctx context.Context, db bun.IDB, userID uuid.UUID, code string) (ok, recovery bool, err error) {
	f, err := m.loadFactor(ctx, db, userID, true)
	if errors.Is(err, sql.ErrNoRows) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	if !f.confirmed {
		return false, false, nil
	}
	if ok, err := m.acceptCode(ctx, db, userID, f, strings.TrimSpace(code)); ok || err != nil {
		return ok, false, err
	}
	ok, err = m.useRecoveryCode(ctx, db, userID, code)
	return ok, ok, err
}

// normalizeRecoveryCode makes "abcd-efgh-…" and "ABCDEFGH…" the same code.
func normalizeRecoveryCode(code string) string {
	return strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(code))
}

// useRecoveryCode spends one unused recovery code of the user, if code is one.
func (m *MFA) useRecoveryCode(ctx context.Context, db bun.IDB, userID uuid.UUID, code string) (bool, error) {
	keys, err := m.keys()
	if err != nil {
		return false, err
	}
	code = normalizeRecoveryCode(code)
	if len(code) != 16 || len(code) > 64 {
		return false, nil
	}
	hashes, _ := keys.codeHashes(userID, code)
	res, err := db.NewRaw("UPDATE mfa_recovery_codes SET used_at = clock_timestamp() WHERE user_id = ? AND code_hash IN (?) AND used_at IS NULL",
		userID, bun.List(hashes)).Exec(ctx)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n >= 1, nil
}

// newRecoveryCodes replaces the user's recovery codes with recoveryCodeCount new ones (16
// base32 characters, 80 random bits each, shown as four groups) and returns them.
func (m *MFA) newRecoveryCodes(ctx context.Context, db bun.IDB, userID uuid.UUID) ([]string, error) {
	keys, err := m.keys()
	if err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx, "DELETE FROM mfa_recovery_codes WHERE user_id = ?", userID); err != nil {
		return nil, err
	}
	codes := make([]string, 0, recoveryCodeCount)
	for len(codes) < recoveryCodeCount {
		raw := make([]byte, 10)
		if _, err := rand.Read(raw); err != nil {
			return nil, err
		}
		code := base32.StdEncoding.EncodeToString(raw) // 16 characters, no padding for 10 bytes
		hashes, ids := keys.codeHashes(userID, code)
		if _, err := db.ExecContext(ctx, "INSERT INTO mfa_recovery_codes (user_id, code_hash, key_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
			userID, hashes[0], ids[0]); err != nil {
			return nil, err
		}
		codes = append(codes, code[0:4]+"-"+code[4:8]+"-"+code[8:12]+"-"+code[12:16])
	}
	return codes, nil
}

// Confirm turns MFA on with a code of the unconfirmed secret (in db: the caller's transaction,
// which also ends the user's other sessions) and returns the recovery codes, shown once.
func (m *MFA) Confirm(ctx context.Context, db bun.IDB, userID uuid.UUID, code string) ([]string, error) {
	f, err := m.loadFactor(ctx, db, userID, true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, Errorf(CodeValidation, "invalid code")
	}
	if err != nil {
		return nil, err
	}
	if f.confirmed {
		return nil, errMFAAlreadyEnabled
	}
	ok, err := m.acceptCode(ctx, db, userID, f, strings.TrimSpace(code))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, Errorf(CodeValidation, "invalid code")
	}
	if _, err := db.ExecContext(ctx, "UPDATE mfa_factors SET confirmed_at = clock_timestamp() WHERE user_id = ?", userID); err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx, "UPDATE users SET mfa_enabled = true WHERE id = ?", userID); err != nil {
		return nil, err
	}
	return m.newRecoveryCodes(ctx, db, userID)
}

// RegenerateCodes replaces the recovery codes (in db, after the caller checked a code).
func (m *MFA) RegenerateCodes(ctx context.Context, db bun.IDB, userID uuid.UUID) ([]string, error) {
	return m.newRecoveryCodes(ctx, db, userID)
}

// Remove turns MFA off for the user: the secret and the codes are deleted (in db).
func Remove(ctx context.Context, db bun.IDB, userID uuid.UUID) error {
	if _, err := db.ExecContext(ctx, "DELETE FROM mfa_factors WHERE user_id = ?", userID); err != nil {
		return err
	}
	if _, err := db.ExecContext(ctx, "DELETE FROM mfa_recovery_codes WHERE user_id = ?", userID); err != nil {
		return err
	}
	_, err := db.ExecContext(ctx, "UPDATE users SET mfa_enabled = false WHERE id = ?", userID)
	return err
}

// Challenge records the second step of a login whose password was right and returns its
// mfa_token (32 random bytes; stored as SHA-256).
func (m *MFA) Challenge(ctx context.Context, proof LoginProof, email string, client Client) (string, error) {
	if _, err := m.keys(); err != nil {
		return "", err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	sum := sha256.Sum256(raw)
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	_, err := m.db.ExecContext(ctx, `INSERT INTO mfa_challenges (token_hash, user_id, email, verified_hash, session_epoch, ip, user_agent, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, sum[:], proof.UserID, email, proof.VerifiedHash, proof.SessionEpoch,
		client.IP, cutUserAgent(client.UserAgent), m.now().Add(m.opts.ChallengeTTL))
	if err != nil {
		return "", dbError(err)
	}
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// challengeHash decodes a presented mfa_token.
func challengeHash(token string) ([]byte, error) {
	if len(token) != 43 {
		return nil, errInvalidMFAToken
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(raw) != 32 {
		return nil, errInvalidMFAToken
	}
	sum := sha256.Sum256(raw)
	return sum[:], nil
}

// Pending is a live mfa_token's login: who, and for the login limits, which email.
type Pending struct {
	UserID uuid.UUID
	Email  string
}

// PendingOf returns the login a live mfa_token belongs to (for the login limits, counted
// before the code is checked), or the 401 of an unknown, used, expired or killed token.
func (m *MFA) PendingOf(ctx context.Context, token string) (*Pending, error) {
	hash, err := challengeHash(token)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	var p Pending
	err = m.db.QueryRowContext(ctx, "SELECT user_id, email FROM mfa_challenges WHERE token_hash = ? AND used_at IS NULL AND expires_at > ? AND failures < ?",
		hash, m.now(), m.opts.MaxFailures).Scan(&p.UserID, &p.Email)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errInvalidMFAToken
	}
	if err != nil {
		return nil, dbError(err)
	}
	return &p, nil
}

// Verify spends a live mfa_token with a TOTP code or a recovery code and returns the login's
// proof, with amr ["pwd","otp"] or ["pwd","recovery"], and the client of the password step. A
// wrong code counts against the token (the MaxFailures-th kills it) and is a 401; so is a
// replayed code. The token and the code are spent in one transaction under the token's row
// lock: two verifies of one code, on any instances, give one session.
func (m *MFA) Verify(ctx context.Context, token, code string, recovery bool) (*LoginProof, Client, error) {
	hash, err := challengeHash(token)
	if err != nil {
		return nil, Client{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	var proof LoginProof
	var client Client
	wrong := false
	err = m.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT user_id, verified_hash, session_epoch, ip, user_agent FROM mfa_challenges
			WHERE token_hash = ? AND used_at IS NULL AND expires_at > ? AND failures < ? FOR UPDATE`, hash, m.now(), m.opts.MaxFailures).
			Scan(&proof.UserID, &proof.VerifiedHash, &proof.SessionEpoch, &client.IP, &client.UserAgent)
		if errors.Is(err, sql.ErrNoRows) {
			return errInvalidMFAToken
		}
		if err != nil {
			return err
		}
		ok := false
		if recovery {
			ok, err = m.useRecoveryCode(ctx, tx, proof.UserID, code)
			proof.AMR = []string{"pwd", "recovery"}
		} else {
			var f *factor
			f, err = m.loadFactor(ctx, tx, proof.UserID, true)
			if errors.Is(err, sql.ErrNoRows) {
				return errInvalidMFAToken // MFA was turned off meanwhile: log in again
			}
			if err == nil {
				ok, err = m.acceptCode(ctx, tx, proof.UserID, f, code)
			}
			proof.AMR = []string{"pwd", "otp"}
		}
		if err != nil {
			return err
		}
		if !ok {
			wrong = true
			_, err := tx.ExecContext(ctx, "UPDATE mfa_challenges SET failures = failures + 1 WHERE token_hash = ?", hash)
			return err // committed: the failure counts
		}
		_, err = tx.ExecContext(ctx, "UPDATE mfa_challenges SET used_at = ? WHERE token_hash = ?", m.now(), hash)
		return err
	})
	if err != nil {
		return nil, Client{}, sessionError(err)
	}
	if wrong {
		return nil, Client{}, errInvalidCode
	}
	return &proof, client, nil
}

// Rekey re-encrypts every secret not under the current key (sealed under the previous one) and
// returns how many it moved; recovery codes cannot be re-hashed (their plain text is not kept),
// and the number of users whose codes are still under the previous key is returned too.
func (m *MFA) Rekey(ctx context.Context) (moved, codesUnderPrevious int, err error) {
	keys, err := m.keys()
	if err != nil {
		return 0, 0, err
	}
	current := keys.CurrentID()
	rows, err := m.staleFactors(ctx, current)
	if err != nil {
		return 0, 0, err
	}
	for _, x := range rows {
		raw, err := keys.Open(x.userID, x.sealed, x.id)
		if err != nil {
			return moved, 0, errors.New("a secret opens under no configured key (set MFA_ENCRYPTION_KEY_PREVIOUS to the key it was sealed with)")
		}
		sealed, id, err := keys.Seal(x.userID, raw)
		if err != nil {
			return moved, 0, err
		}
		// Only if still the row read: a setup meanwhile sealed a new secret under the current key.
		if _, err := m.db.ExecContext(ctx, "UPDATE mfa_factors SET secret = ?, key_id = ? WHERE user_id = ? AND key_id = ?", sealed, id, x.userID, x.id); err != nil {
			return moved, 0, err
		}
		moved++
	}
	err = m.db.QueryRowContext(ctx, "SELECT count(DISTINCT user_id) FROM mfa_recovery_codes WHERE key_id <> ? AND used_at IS NULL", current).Scan(&codesUnderPrevious)
	return moved, codesUnderPrevious, err
}

// sealedFactor is a factor row as stored.
type sealedFactor struct {
	userID uuid.UUID
	sealed []byte
	id     string
}

// staleFactors reads the factors sealed under another key than current.
func (m *MFA) staleFactors(ctx context.Context, current string) ([]sealedFactor, error) {
	r, err := m.db.QueryContext(ctx, "SELECT user_id, secret, key_id FROM mfa_factors WHERE key_id <> ?", current)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var rows []sealedFactor
	for r.Next() {
		var x sealedFactor
		if err := r.Scan(&x.userID, &x.sealed, &x.id); err != nil {
			return nil, err
		}
		rows = append(rows, x)
	}
	return rows, r.Err()
}
