// Package config loads the service's configuration from defaults, an optional YAML file
// (CONFIG_FILE) and the environment, in that order, and validates all of it at once.
package config

import (
	"crypto/ed25519"
	"time"
)

// Config is the whole configuration of the service, grouped by concern.
type Config struct {
	HTTP  HTTP
	Admin Admin
	DB    DB
	Redis Redis
	JWT   JWT
	// Sessions holds the session lifetimes and limits.
	Sessions Sessions
	Limits   Limits
	Login    Login
	// Register holds the per-address registration limit.
	Register Register
	Log      Log
	Mail     Mail
	MFA      MFA
	// Audit keeps the audit trail; Webhook delivers its events.
	Audit   Audit
	Webhook Webhook
}

// Audit configures the audit trail.
type Audit struct {
	// Retention is how long events are kept; older ones are removed in bulk.
	Retention time.Duration
}

// Webhook configures the delivery of events to one receiver, signed per Standard Webhooks.
// Off unless URL and Secret are both set.
type Webhook struct {
	URL string
	// Secret is the HMAC key: WEBHOOK_SECRET's base64 after its whsec_ prefix, decoded.
	Secret []byte
	// Events lists the event types delivered; empty: all.
	Events       []string
	PollInterval time.Duration
	RetryBase    time.Duration
	RetryMax     time.Duration
	MaxAttempts  int
	// Timeout bounds one POST.
	Timeout time.Duration
}

// Enabled reports whether events are delivered.
func (w Webhook) Enabled() bool { return w.URL != "" && len(w.Secret) > 0 }

// HTTP configures the public listener.
type HTTP struct {
	Host               string
	Port               int
	BodyLimitBytes     int
	CORSAllowedOrigins []string
	// TrustedProxies lists the peers (IPs or CIDRs) whose X-Forwarded-For is believed.
	TrustedProxies  []string
	ShutdownTimeout time.Duration
	ReadTimeout     time.Duration
	WriteTimeout    time.Duration
	IdleTimeout     time.Duration
}

// Addr is the public listener's host:port.
func (h HTTP) Addr() string { return joinHostPort(h.Host, h.Port) }

// Admin configures the admin listener (metrics, probes, optional pprof).
type Admin struct {
	Host        string
	Port        int
	EnablePprof bool
}

// Addr is the admin listener's host:port.
func (a Admin) Addr() string { return joinHostPort(a.Host, a.Port) }

// DB configures Postgres.
type DB struct {
	URL            string
	MaxConnections int
	// QueryTimeout bounds every Postgres call made for a request.
	QueryTimeout   time.Duration
	MigrateOnStart bool
	// MigrateURL is a direct (session) connection for migrations, which hold an advisory lock
	// that a PgBouncer in transaction mode would not keep; empty means URL.
	MigrateURL string
}

// MigrationURL is the URL migrations connect to: MigrateURL, or else URL.
func (d DB) MigrationURL() string {
	if d.MigrateURL != "" {
		return d.MigrateURL
	}
	return d.URL
}

// Redis configures the token whitelist and rate-limit store. Exactly one topology is set: URL
// (one node, or the older ?addr= / ?master_name= URL forms), ClusterAddrs, or SentinelAddrs with
// SentinelMaster.
type Redis struct {
	URL string
	// ClusterAddrs are seed nodes of a Redis Cluster.
	ClusterAddrs []string
	// SentinelAddrs are the Sentinels watching the primary named SentinelMaster.
	SentinelAddrs  []string
	SentinelMaster string
	// Password authenticates to the cluster nodes or to the primary and replicas.
	Password string
	// Timeout bounds every Redis call (dial, read, write) so a dead Redis turns into a fast 503.
	Timeout time.Duration
}

// JWT configures token signing and checking.
type JWT struct {
	// Alg is AlgHS256 (Secret signs and verifies) or AlgEdDSA (SigningKeys: the first signs,
	// every one verifies).
	Alg         string
	Secret      []byte
	SigningKeys []ed25519.PrivateKey
	// ExpiryHours is JWT_EXPIRY_HOURS, the older spelling of AccessTTL (0: unset).
	ExpiryHours int
	// AccessTTL is ACCESS_TOKEN_TTL (0: unset).
	AccessTTL time.Duration
	Issuer    string
	// Leeway is the clock skew tolerated on nbf (at most 30 s, per the contract).
	Leeway time.Duration
}

// DefaultAccessTTL is the access token lifetime when neither ACCESS_TOKEN_TTL nor
// JWT_EXPIRY_HOURS is set: a client that never refreshes works as before sessions.
const DefaultAccessTTL = 24 * time.Hour

// Expiry is the lifetime of an access token.
func (j JWT) Expiry() time.Duration {
	switch {
	case j.AccessTTL > 0:
		return j.AccessTTL
	case j.ExpiryHours > 0:
		return time.Duration(j.ExpiryHours) * time.Hour
	}
	return DefaultAccessTTL
}

// Sessions configures sessions and refresh tokens.
type Sessions struct {
	IdleTimeout   time.Duration
	MaxAge        time.Duration
	ReuseInterval time.Duration
	MaxPerUser    int
}

// Limits holds request-shaping and work-bounding limits.
type Limits struct {
	MaxPageSize   int
	BatchLimit    int
	BatchMaxItems int
	BcryptCost    int
	// BcryptMaxCost is the costliest hash ever compared or imported; a costlier stored hash
	// fails closed at login (a hash at cost 31 would hold a slot for days).
	BcryptMaxCost     int
	BcryptConcurrency int
	// BcryptNice is the niceness of the threads bcrypt runs on (0: the caller's thread).
	BcryptNice int
	// BcryptProcess runs bcrypt in a child process in a session of its own (serve only).
	BcryptProcess bool
	// BcryptQueueTimeout is how long a request may wait for a bcrypt slot before it gets 503.
	BcryptQueueTimeout time.Duration
}

// Login holds the failed-login rate limits: a maximum count of failures per window for each key.
type Login struct {
	AccountAddrMax    int
	AccountAddrWindow time.Duration
	AccountMax        int
	AccountWindow     time.Duration
	AddrMax           int
	AddrWindow        time.Duration
}

// Register is the registration rate limit: at most MaxPerAddr registrations per client address
// per Window.
type Register struct {
	MaxPerAddr int
	Window     time.Duration
}

// Log configures the structured logger.
type Log struct {
	Level  string // debug, info, warn, error
	Format string // json or text
}

// MFA configures the second factor.
type MFA struct {
	// Key and PreviousKey are 32-byte keys (nil: unset).
	Key, PreviousKey []byte
	Issuer           string
}

// Mail configures the account lifecycle's mail: SMTP, links, token lifetimes, the delivery
// worker and the limits of the requests that send mail.
type Mail struct {
	// SMTPURL is smtp://[user:pass@]host[:port] (STARTTLS required) or smtps://… (TLS from the
	// start); empty is allowed only with LogLinks.
	SMTPURL string
	// SMTPTLS is "required" (as the scheme says) or "none" (plain text, loopback hosts only).
	SMTPTLS string
	// LogLinks, with no SMTPURL, logs each message's link instead of sending it (development:
	// the log then holds live tokens).
	LogLinks      bool
	From          string
	PublicBaseURL string
	VerifyTTL     time.Duration
	ResetTTL      time.Duration
	// EmailChangeTTL is the life of an email change's confirmation token.
	EmailChangeTTL time.Duration
	// PollInterval is how often the worker looks for due messages written by other replicas
	// or due for a retry; messages written by this process wake it at once.
	PollInterval time.Duration
	BatchSize    int
	MaxAttempts  int
	RetryBase    time.Duration
	RetryMax     time.Duration
	SendTimeout  time.Duration
	// RequestMaxPerEmail and RequestMaxPerAddr bound resend and forgot requests per Window.
	RequestMaxPerEmail int
	RequestMaxPerAddr  int
	RequestWindow      time.Duration
}
