package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
)

// Setting is one configuration variable: its environment name, default, meaning, and how it
// lands in Config. The table below is the one list of variables; .env.example is checked
// against it by a test.
type Setting struct {
	Name    string
	Default string
	Help    string
	apply   func(c *Config, raw string) error
}

// Settings lists every variable the service reads, in the order the README documents them.
var Settings = []Setting{
	{"HOST", "0.0.0.0", "public listener address", func(c *Config, raw string) error {
		c.HTTP.Host = raw
		return nil
	}},
	{"PORT", "8080", "public listener port", func(c *Config, raw string) (err error) {
		c.HTTP.Port, err = parseInt(raw, 0, 65535)
		return err
	}},
	{"ADMIN_HOST", "0.0.0.0", "admin listener address (metrics, probes)", func(c *Config, raw string) error {
		c.Admin.Host = raw
		return nil
	}},
	{"ADMIN_PORT", "9090", "admin listener port", func(c *Config, raw string) (err error) {
		c.Admin.Port, err = parseInt(raw, 0, 65535)
		return err
	}},
	{"ENABLE_PPROF", "false", "serve /debug/pprof/ on the admin listener", func(c *Config, raw string) (err error) {
		c.Admin.EnablePprof, err = parseBool(raw)
		return err
	}},
	// JWT_ALG comes before JWT_SECRET and JWT_SIGNING_KEYS_FILE: theirs depend on it.
	{"JWT_ALG", AlgHS256, "token signature: HS256 (with JWT_SECRET) or EdDSA (Ed25519, with JWT_SIGNING_KEYS_FILE)", func(c *Config, raw string) error {
		switch raw {
		case AlgHS256, AlgEdDSA:
			c.JWT.Alg = raw
			return nil
		}
		return fmt.Errorf("%q is not HS256 or EdDSA", raw)
	}},
	{"JWT_SECRET", "", "HS256 signing secret, at least 32 random bytes (required with JWT_ALG=HS256; not used, not checked with EdDSA)", func(c *Config, raw string) error {
		if c.JWT.Alg == AlgEdDSA {
			return nil // not used: neither required nor checked, and not kept
		}
		if raw == "" {
			return fmt.Errorf("is required; %s", howToGenerate)
		}
		if err := checkSecret(raw); err != nil {
			return err
		}
		c.JWT.Secret = []byte(raw)
		return nil
	}},
	{"JWT_SIGNING_KEYS_FILE", "", "PKCS#8 PEM file of Ed25519 keys for JWT_ALG=EdDSA: the first signs, every one verifies (`authapi keys generate` makes one)", func(c *Config, raw string) (err error) {
		switch {
		case c.JWT.Alg != AlgEdDSA && raw != "":
			return errors.New("only used with JWT_ALG=EdDSA")
		case c.JWT.Alg != AlgEdDSA:
			return nil
		case raw == "":
			return errors.New("is required with JWT_ALG=EdDSA; generate a key with `authapi keys generate`")
		}
		c.JWT.SigningKeys, err = readSigningKeys(raw)
		return err
	}},
	{"JWT_EXPIRY_HOURS", "", "older spelling of ACCESS_TOKEN_TTL in whole hours (setting both is an error)", func(c *Config, raw string) (err error) {
		if raw == "" {
			return nil
		}
		c.JWT.ExpiryHours, err = parseInt(raw, 1, 24*366)
		return err
	}},
	{"ACCESS_TOKEN_TTL", "", "access token lifetime (unset: JWT_EXPIRY_HOURS, else 24h)", func(c *Config, raw string) (err error) {
		if raw == "" {
			return nil
		}
		c.JWT.AccessTTL, err = parseDuration(raw, time.Second, 366*24*time.Hour)
		return err
	}},
	{"SESSION_IDLE_TIMEOUT", "720h", "a session not refreshed for this long ends", func(c *Config, raw string) (err error) {
		c.Sessions.IdleTimeout, err = parseDuration(raw, time.Second, 10*366*24*time.Hour)
		return err
	}},
	{"SESSION_MAX_AGE", "2160h", "no refresh carries a session past this age", func(c *Config, raw string) (err error) {
		c.Sessions.MaxAge, err = parseDuration(raw, time.Second, 10*366*24*time.Hour)
		return err
	}},
	{"REFRESH_REUSE_INTERVAL", "10s", "a spent refresh token presented again within this gets the same pair; later it revokes the session", func(c *Config, raw string) (err error) {
		c.Sessions.ReuseInterval, err = parseDuration(raw, 0, time.Hour)
		return err
	}},
	{"MAX_SESSIONS_PER_USER", "100", "live sessions per user; a login past it ends the least recently used", func(c *Config, raw string) (err error) {
		c.Sessions.MaxPerUser, err = parseInt(raw, 1, 100000)
		return err
	}},
	{"JWT_ISSUER", "auth-api", "iss claim written and required", func(c *Config, raw string) error {
		if raw == "" {
			return errors.New("must not be empty")
		}
		c.JWT.Issuer = raw
		return nil
	}},
	{"JWT_LEEWAY", "5s", "clock skew tolerated on nbf (0s..30s)", func(c *Config, raw string) (err error) {
		c.JWT.Leeway, err = parseDuration(raw, 0, 30*time.Second)
		return err
	}},
	{"DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/authapi?sslmode=disable", "Postgres URL", func(c *Config, raw string) (err error) {
		c.DB.URL, err = parseURL(raw, "postgres", "postgresql")
		return err
	}},
	{"DB_MAX_CONNECTIONS", "20", "Postgres pool size", func(c *Config, raw string) (err error) {
		c.DB.MaxConnections, err = parseInt(raw, 1, 1000)
		return err
	}},
	{"DB_TIMEOUT", "3s", "deadline of each Postgres call", func(c *Config, raw string) (err error) {
		c.DB.QueryTimeout, err = parseDuration(raw, 10*time.Millisecond, time.Minute)
		return err
	}},
	{"MIGRATE_ON_START", "true", "apply pending migrations when serve starts", func(c *Config, raw string) (err error) {
		c.DB.MigrateOnStart, err = parseBool(raw)
		return err
	}},
	{"MIGRATE_DATABASE_URL", "", "direct Postgres URL for migrations when DATABASE_URL points at PgBouncer (empty: DATABASE_URL)", func(c *Config, raw string) (err error) {
		if raw == "" {
			return nil
		}
		c.DB.MigrateURL, err = parseURL(raw, "postgres", "postgresql")
		return err
	}},
	{"REDIS_URL", "redis://127.0.0.1:6379/0", "Redis URL (redis://, rediss://; ?addr= for more nodes)", func(c *Config, raw string) (err error) {
		c.Redis.URL, err = parseURL(raw, "redis", "rediss", "unix")
		return err
	}},
	{"REDIS_CLUSTER_ADDRS", "", "comma-separated host:port seeds of a Redis Cluster (instead of REDIS_URL)", func(c *Config, raw string) (err error) {
		c.Redis.ClusterAddrs, err = parseAddrs(raw)
		return err
	}},
	{"REDIS_SENTINEL_ADDRS", "", "comma-separated host:port of Redis Sentinels (instead of REDIS_URL)", func(c *Config, raw string) (err error) {
		c.Redis.SentinelAddrs, err = parseAddrs(raw)
		return err
	}},
	{"REDIS_SENTINEL_MASTER", "", "name of the primary the Sentinels watch (with REDIS_SENTINEL_ADDRS)", func(c *Config, raw string) error {
		c.Redis.SentinelMaster = raw
		return nil
	}},
	{"REDIS_PASSWORD", "", "password of the Redis nodes of REDIS_CLUSTER_ADDRS or REDIS_SENTINEL_ADDRS", func(c *Config, raw string) error {
		c.Redis.Password = raw
		return nil
	}},
	{"REDIS_TIMEOUT", "500ms", "dial/read/write deadline of each Redis call", func(c *Config, raw string) (err error) {
		c.Redis.Timeout, err = parseDuration(raw, 10*time.Millisecond, time.Minute)
		return err
	}},
	{"MAX_PAGE_SIZE", "100", "largest per_page of GET /users", func(c *Config, raw string) (err error) {
		c.Limits.MaxPageSize, err = parseInt(raw, 1, 10000)
		return err
	}},
	{"BATCH_LIMIT", "8", "items of one batch processed at once", func(c *Config, raw string) (err error) {
		c.Limits.BatchLimit, err = parseInt(raw, 1, 1000)
		return err
	}},
	{"BATCH_MAX_ITEMS", "100", "most items in one POST /users/batch", func(c *Config, raw string) (err error) {
		c.Limits.BatchMaxItems, err = parseInt(raw, 1, 100000)
		return err
	}},
	{"BCRYPT_COST", "12", "bcrypt cost of new hashes (4..31)", func(c *Config, raw string) (err error) {
		c.Limits.BcryptCost, err = parseInt(raw, 4, 31)
		return err
	}},
	{"BCRYPT_MAX_COST", "14", "costliest bcrypt hash that is ever run (BCRYPT_COST..31): import refuses a costlier hash, login fails closed on one", func(c *Config, raw string) (err error) {
		c.Limits.BcryptMaxCost, err = parseInt(raw, 4, 31)
		return err
	}},
	{"BCRYPT_CONCURRENCY", "0", "bcrypt hashes at once (0 = GOMAXPROCS, the CPUs Go may use)", func(c *Config, raw string) (err error) {
		c.Limits.BcryptConcurrency, err = parseInt(raw, 0, 4096)
		return err
	}},
	{"BCRYPT_NICE", "10", "niceness of bcrypt threads, so logins yield the CPU to other requests (0 = off, Linux only)", func(c *Config, raw string) (err error) {
		c.Limits.BcryptNice, err = parseInt(raw, 0, 19)
		return err
	}},
	{"BCRYPT_PROCESS", "true", "run bcrypt in a child process in a session of its own, so a login flood cannot slow other requests through the kernel's per-session CPU sharing (false = on threads of the service; needs BCRYPT_NICE > 0)", func(c *Config, raw string) (err error) {
		c.Limits.BcryptProcess, err = parseBool(raw)
		return err
	}},
	{"BCRYPT_QUEUE_TIMEOUT", "2s", "longest wait for a bcrypt slot before 503", func(c *Config, raw string) (err error) {
		c.Limits.BcryptQueueTimeout, err = parseDuration(raw, time.Millisecond, time.Minute)
		return err
	}},
	{"BODY_LIMIT_BYTES", "1048576", "largest request body", func(c *Config, raw string) (err error) {
		c.HTTP.BodyLimitBytes, err = parseInt(raw, 1024, 1<<30)
		return err
	}},
	{"CORS_ALLOWED_ORIGINS", "", "comma-separated origins allowed by CORS (empty: no CORS headers)", func(c *Config, raw string) error {
		c.HTTP.CORSAllowedOrigins = parseList(raw)
		for _, o := range c.HTTP.CORSAllowedOrigins {
			if o == "*" {
				return errors.New(`"*" is not allowed: list the origins`)
			}
			if _, err := parseURL(o, "http", "https"); err != nil {
				return fmt.Errorf("origin %q %w", o, err)
			}
		}
		return nil
	}},
	{"TRUSTED_PROXIES", "", "comma-separated proxy IPs/CIDRs whose X-Forwarded-For is believed", func(c *Config, raw string) (err error) {
		c.HTTP.TrustedProxies, err = parseProxies(raw)
		return err
	}},
	{"LOGIN_MAX_FAILURES_ACCOUNT_ADDR", "10", "failed logins per account and client address per window", func(c *Config, raw string) (err error) {
		c.Login.AccountAddrMax, err = parseInt(raw, 1, 1<<30)
		return err
	}},
	{"LOGIN_WINDOW_ACCOUNT_ADDR", "15m", "window of the account+address counter", func(c *Config, raw string) (err error) {
		c.Login.AccountAddrWindow, err = parseDuration(raw, time.Second, 24*time.Hour)
		return err
	}},
	{"LOGIN_MAX_FAILURES_ACCOUNT", "50", "failed logins per account per window", func(c *Config, raw string) (err error) {
		c.Login.AccountMax, err = parseInt(raw, 1, 1<<30)
		return err
	}},
	{"LOGIN_WINDOW_ACCOUNT", "1h", "window of the account counter", func(c *Config, raw string) (err error) {
		c.Login.AccountWindow, err = parseDuration(raw, time.Second, 24*time.Hour)
		return err
	}},
	{"LOGIN_MAX_FAILURES_ADDR", "100", "failed logins per client address per window", func(c *Config, raw string) (err error) {
		c.Login.AddrMax, err = parseInt(raw, 1, 1<<30)
		return err
	}},
	{"LOGIN_WINDOW_ADDR", "15m", "window of the address counter", func(c *Config, raw string) (err error) {
		c.Login.AddrWindow, err = parseDuration(raw, time.Second, 24*time.Hour)
		return err
	}},
	{"SMTP_URL", "", "smtp://user:pass@host:587 (STARTTLS required) or smtps:// (TLS from the start); required unless MAIL_LOG_LINKS=true", func(c *Config, raw string) (err error) {
		if raw == "" {
			return nil
		}
		c.Mail.SMTPURL, err = parseURL(raw, "smtp", "smtps")
		return err
	}},
	{"SMTP_TLS", "required", "required: smtp:// must STARTTLS (a server that does not offer it is a failed attempt, retried), smtps:// is TLS from the start; none: plain text, to a loopback host only", func(c *Config, raw string) error {
		switch raw {
		case "required", "none":
			c.Mail.SMTPTLS = raw
			return nil
		}
		return fmt.Errorf("%q is not required or none", raw)
	}},
	{"MAIL_LOG_LINKS", "false", "development only: with no SMTP_URL, log each message's link (a live token) instead of refusing to start; `just run` and `just dev` set it", func(c *Config, raw string) (err error) {
		c.Mail.LogLinks, err = parseBool(raw)
		return err
	}},
	{"MAIL_FROM", "no-reply@localhost", "From address of account mail", func(c *Config, raw string) error {
		addr, err := mail.ParseAddress(raw)
		if err != nil {
			return fmt.Errorf("%q is not an email address", raw)
		}
		c.Mail.From = addr.String()
		return nil
	}},
	{"PUBLIC_BASE_URL", "", "base of the links in account mail, whose paths this service serves as pages (empty: http://localhost:PORT)", func(c *Config, raw string) (err error) {
		if raw == "" {
			return nil // set from PORT once every setting is read (Config.defaultLinks)
		}
		c.Mail.PublicBaseURL, err = parseURL(strings.TrimSuffix(raw, "/"), "http", "https")
		return err
	}},
	{"VERIFY_TOKEN_TTL", "24h", "lifetime of an email verification token, from its mail's delivery", func(c *Config, raw string) (err error) {
		c.Mail.VerifyTTL, err = parseDuration(raw, time.Minute, 30*24*time.Hour)
		return err
	}},
	{"RESET_TOKEN_TTL", "1h", "lifetime of a password reset token, from its mail's delivery", func(c *Config, raw string) (err error) {
		c.Mail.ResetTTL, err = parseDuration(raw, time.Minute, 24*time.Hour)
		return err
	}},
	{"EMAIL_CHANGE_TOKEN_TTL", "1h", "lifetime of an email change's confirmation token, from its mail's delivery", func(c *Config, raw string) (err error) {
		c.Mail.EmailChangeTTL, err = parseDuration(raw, time.Minute, 24*time.Hour)
		return err
	}},
	{"MAIL_POLL_INTERVAL", "1s", "how often the mail worker looks for due messages (retries, other replicas' mail)", func(c *Config, raw string) (err error) {
		c.Mail.PollInterval, err = parseDuration(raw, 10*time.Millisecond, time.Hour)
		return err
	}},
	{"MAIL_BATCH_SIZE", "10", "messages one worker claims at once", func(c *Config, raw string) (err error) {
		c.Mail.BatchSize, err = parseInt(raw, 1, 1000)
		return err
	}},
	{"MAIL_MAX_ATTEMPTS", "50", "delivery attempts before a message is marked failed (50 with the default backoff: about 7.5 hours)", func(c *Config, raw string) (err error) {
		c.Mail.MaxAttempts, err = parseInt(raw, 1, 1000)
		return err
	}},
	{"MAIL_RETRY_BASE", "10s", "wait after the first failed attempt; doubles with each failure", func(c *Config, raw string) (err error) {
		c.Mail.RetryBase, err = parseDuration(raw, 10*time.Millisecond, time.Hour)
		return err
	}},
	{"MAIL_RETRY_MAX", "10m", "longest wait between attempts (also the longest delay after an SMTP outage ends)", func(c *Config, raw string) (err error) {
		c.Mail.RetryMax, err = parseDuration(raw, 10*time.Millisecond, 24*time.Hour)
		return err
	}},
	{"MAIL_SEND_TIMEOUT", "30s", "deadline of one SMTP delivery", func(c *Config, raw string) (err error) {
		c.Mail.SendTimeout, err = parseDuration(raw, 100*time.Millisecond, 10*time.Minute)
		return err
	}},
	{"MAIL_REQUEST_MAX_PER_EMAIL", "3", "resend or forgot requests per email per window", func(c *Config, raw string) (err error) {
		c.Mail.RequestMaxPerEmail, err = parseInt(raw, 1, 1<<30)
		return err
	}},
	{"MAIL_REQUEST_MAX_PER_ADDR", "20", "resend or forgot requests per client address per window", func(c *Config, raw string) (err error) {
		c.Mail.RequestMaxPerAddr, err = parseInt(raw, 1, 1<<30)
		return err
	}},
	{"MAIL_REQUEST_WINDOW", "1h", "window of the resend and forgot limits", func(c *Config, raw string) (err error) {
		c.Mail.RequestWindow, err = parseDuration(raw, time.Second, 24*time.Hour)
		return err
	}},
	{"AUDIT_RETENTION", "2160h", "how long audit events are kept; older months are dropped, the rest deleted in small batches", func(c *Config, raw string) (err error) {
		c.Audit.Retention, err = parseDuration(raw, time.Hour, 100*366*24*time.Hour)
		return err
	}},
	{"WEBHOOK_URL", "", "http(s) URL every audit event is POSTed to, signed (empty: no webhooks)", func(c *Config, raw string) (err error) {
		if raw == "" {
			return nil
		}
		c.Webhook.URL, err = parseURL(raw, "http", "https")
		return err
	}},
	{"WEBHOOK_SECRET", "", "Standard Webhooks signing secret: whsec_ and the base64 of at least 24 random bytes", func(c *Config, raw string) error {
		if raw == "" {
			return nil
		}
		key, ok := strings.CutPrefix(raw, "whsec_")
		if !ok {
			return errors.New("must start with whsec_")
		}
		secret, err := base64.StdEncoding.DecodeString(key)
		if err != nil {
			return errors.New("must be whsec_ followed by standard base64")
		}
		if len(secret) < 24 {
			return errors.New("must hold at least 24 bytes")
		}
		c.Webhook.Secret = secret
		return nil
	}},
	{"WEBHOOK_EVENTS", "", "comma-separated event types delivered (empty: all)", func(c *Config, raw string) error {
		c.Webhook.Events = nil
		for _, t := range strings.Split(raw, ",") {
			if t = strings.TrimSpace(t); t != "" {
				c.Webhook.Events = append(c.Webhook.Events, t)
			}
		}
		return nil
	}},
	{"WEBHOOK_POLL_INTERVAL", "1s", "how often the webhook worker looks for due deliveries", func(c *Config, raw string) (err error) {
		c.Webhook.PollInterval, err = parseDuration(raw, 10*time.Millisecond, time.Hour)
		return err
	}},
	{"WEBHOOK_RETRY_BASE", "1s", "wait after the first failed delivery; doubles with each failure", func(c *Config, raw string) (err error) {
		c.Webhook.RetryBase, err = parseDuration(raw, 10*time.Millisecond, time.Hour)
		return err
	}},
	{"WEBHOOK_RETRY_MAX", "1m", "longest wait between attempts; a delivery claimed by a process that died is retried within it", func(c *Config, raw string) (err error) {
		c.Webhook.RetryMax, err = parseDuration(raw, 100*time.Millisecond, 24*time.Hour)
		return err
	}},
	{"WEBHOOK_MAX_ATTEMPTS", "5000", "attempts before a delivery is marked failed (5000 at the 1m cap: about 3.5 days)", func(c *Config, raw string) (err error) {
		c.Webhook.MaxAttempts, err = parseInt(raw, 1, 1<<30)
		return err
	}},
	{"WEBHOOK_TIMEOUT", "10s", "deadline of one POST to the receiver (capped so a batch fits in WEBHOOK_RETRY_MAX)", func(c *Config, raw string) (err error) {
		c.Webhook.Timeout, err = parseDuration(raw, 10*time.Millisecond, 10*time.Minute)
		return err
	}},
	{"REGISTER_MAX_PER_ADDR", "20", "registrations per client address per window (validated ones, 409s included)", func(c *Config, raw string) (err error) {
		c.Register.MaxPerAddr, err = parseInt(raw, 1, 1<<30)
		return err
	}},
	{"REGISTER_WINDOW", "1h", "window of the registration counter", func(c *Config, raw string) (err error) {
		c.Register.Window, err = parseDuration(raw, time.Second, 24*time.Hour)
		return err
	}},
	{"MFA_ENCRYPTION_KEY", "", "32 random bytes, base64, that encrypt TOTP secrets (`openssl rand -base64 32`); unset: MFA routes answer 503", func(c *Config, raw string) (err error) {
		c.MFA.Key, err = parseMFAKey(raw)
		return err
	}},
	{"MFA_ENCRYPTION_KEY_PREVIOUS", "", "the key before MFA_ENCRYPTION_KEY, still opening what it sealed until `mfa rekey`", func(c *Config, raw string) (err error) {
		c.MFA.PreviousKey, err = parseMFAKey(raw)
		return err
	}},
	{"MFA_ISSUER", "authapi", "issuer shown by authenticator apps", func(c *Config, raw string) error {
		if raw == "" || strings.ContainsAny(raw, ":\x00") {
			return errors.New("must be non-empty, without ':'")
		}
		c.MFA.Issuer = raw
		return nil
	}},
	{"LOG_LEVEL", "info", "debug, info, warn or error", func(c *Config, raw string) error {
		switch strings.ToLower(raw) {
		case "debug", "info", "warn", "error":
			c.Log.Level = strings.ToLower(raw)
			return nil
		}
		return fmt.Errorf("%q is not one of debug, info, warn, error", raw)
	}},
	{"LOG_FORMAT", "json", "json or text", func(c *Config, raw string) error {
		switch strings.ToLower(raw) {
		case "json", "text":
			c.Log.Format = strings.ToLower(raw)
			return nil
		}
		return fmt.Errorf("%q is not json or text", raw)
	}},
	{"SHUTDOWN_TIMEOUT", "15s", "longest drain of in-flight requests on SIGTERM", func(c *Config, raw string) (err error) {
		c.HTTP.ShutdownTimeout, err = parseDuration(raw, 0, 10*time.Minute)
		return err
	}},
	{"HTTP_READ_TIMEOUT", "10s", "longest time to read one request", func(c *Config, raw string) (err error) {
		c.HTTP.ReadTimeout, err = parseDuration(raw, 100*time.Millisecond, 10*time.Minute)
		return err
	}},
	{"HTTP_WRITE_TIMEOUT", "30s", "longest time to write one response", func(c *Config, raw string) (err error) {
		c.HTTP.WriteTimeout, err = parseDuration(raw, 100*time.Millisecond, 10*time.Minute)
		return err
	}},
	{"HTTP_IDLE_TIMEOUT", "60s", "keep-alive idle timeout", func(c *Config, raw string) (err error) {
		c.HTTP.IdleTimeout, err = parseDuration(raw, 100*time.Millisecond, 10*time.Minute)
		return err
	}},
}
