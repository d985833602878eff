package models

import (
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// SessionOptions are the lifetimes and limits of sessions.
type SessionOptions struct {
	// AccessTTL is the life of an access token (ACCESS_TOKEN_TTL).
	AccessTTL time.Duration
	// IdleTimeout ends a session not refreshed for that long (SESSION_IDLE_TIMEOUT).
	IdleTimeout time.Duration
	// MaxAge ends a session that long after its login, refreshed or not (SESSION_MAX_AGE).
	MaxAge time.Duration
	// ReuseInterval is how long a spent refresh token still gets the pair its spending produced
	// (REFRESH_REUSE_INTERVAL); later, presenting it revokes the session.
	ReuseInterval time.Duration
	// MaxPerUser is the number of live sessions a user may have; a login past it ends the least
	// recently used one (MAX_SESSIONS_PER_USER).
	MaxPerUser int
}

// Session is a row of the sessions table: one signed-in device.
type Session struct {
	bun.BaseModel `bun:"table:sessions,alias:s"`

	ID           uuid.UUID  `bun:"id,pk,type:uuid"`
	UserID       uuid.UUID  `bun:"user_id,type:uuid"`
	CreatedAt    time.Time  `bun:"created_at"`
	LastUsedAt   time.Time  `bun:"last_used_at"`
	ExpiresAt    time.Time  `bun:"expires_at"`
	IP           string     `bun:"ip"`
	UserAgent    string     `bun:"user_agent"`
	AMR          []string   `bun:"amr,array"`
	RevokedAt    *time.Time `bun:"revoked_at"`
	RevokeReason *string    `bun:"revoke_reason"`
}

// EndsAt is when the session ends unless it is refreshed before: its idle deadline, or its
// max age, whichever comes first.
func (s *Session) EndsAt(idle time.Duration) time.Time {
	if idle := s.LastUsedAt.Add(idle); idle.Before(s.ExpiresAt) {
		return idle
	}
	return s.ExpiresAt
}

// Client describes the device a session belongs to, as the request showed it.
type Client struct {
	// IP is the client address as the rate limits see it.
	IP string
	// UserAgent is cut to MaxUserAgentBytes.
	UserAgent string
}

// MaxUserAgentBytes is how much of a User-Agent a session keeps.
const MaxUserAgentBytes = 256

// LoginProof is what a login proved before it asks for a session: the user, the hash its
// password matched, the user's session epoch as read before the password check, and how it
// was authenticated (["pwd"], or with a second factor ["pwd","otp"] / ["pwd","recovery"]).
type LoginProof struct {
	UserID       uuid.UUID
	VerifiedHash string
	SessionEpoch int64
	AMR          []string
}

// Grant is what a login or a refresh hands out: an access token and a refresh token of one
// session.
type Grant struct {
	SessionID        uuid.UUID
	UserID           uuid.UUID
	AccessToken      string
	AccessExpiresAt  time.Time
	RefreshToken     string
	RefreshExpiresAt time.Time
}

// Session end reasons, recorded in revoke_reason.
const (
	EndLogout       = "logout"
	EndRevoked      = "revoked"
	EndLogoutAll    = "logout_all"
	EndPassword     = "password_changed"
	EndReset        = "password_reset"
	EndSuspended    = "suspended"
	EndEvicted      = "evicted"
	EndReused       = "refresh_reused"
	EndAdmin        = "admin"
	EndVerified     = "verified"
	EndMFA          = "mfa_changed"
	EndUserDeleted  = "user_deleted"
	EndEmailChanged = "email_changed"
)

// cutUserAgent keeps at most MaxUserAgentBytes of ua, never splitting a UTF-8 sequence, and
// only printable ASCII (a session list is shown to people; control bytes have no place in it).
func cutUserAgent(ua string) string {
	b := make([]byte, 0, min(len(ua), MaxUserAgentBytes))
	for i := 0; i < len(ua) && len(b) < MaxUserAgentBytes; i++ {
		if c := ua[i]; c >= 0x20 && c < 0x7f {
			b = append(b, c)
		}
	}
	return string(b)
}
