package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/env"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// ErrInvalid wraps every configuration problem, so callers can exit with status 2.
var ErrInvalid = errors.New("invalid configuration")

// Load reads defaults, then the YAML file named by CONFIG_FILE (if set), then the non-empty
// environment variables, and returns the validated configuration. Keys in the file are the variable names in lower case
// (jwt_secret: ...). On failure the error lists every problem, never a secret's value.
func Load() (Config, error) {
	k := koanf.New(".")
	defaults := make(map[string]any, len(Settings))
	for _, s := range Settings {
		defaults[strings.ToLower(s.Name)] = s.Default
	}
	if err := k.Load(confmap.Provider(defaults, "."), nil); err != nil {
		return Config{}, fmt.Errorf("%w: defaults: %w", ErrInvalid, err)
	}
	if path := os.Getenv("CONFIG_FILE"); path != "" {
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			return Config{}, fmt.Errorf("%w: CONFIG_FILE %q: %w", ErrInvalid, path, err)
		}
	}
	known := make(map[string]bool, len(Settings))
	for _, s := range Settings {
		known[s.Name] = true
	}
	// Only our variables, and only non-empty ones: an empty variable (as compose files often
	// pass) means "not set", not "set to nothing".
	envProvider := env.ProviderWithValue("", ".", func(name, value string) (string, any) {
		if !known[name] || value == "" {
			return "", nil // skipped
		}
		return strings.ToLower(name), value
	})
	if err := k.Load(envProvider, nil); err != nil {
		return Config{}, fmt.Errorf("%w: environment: %w", ErrInvalid, err)
	}
	return fromValues(func(name string) string { return k.String(strings.ToLower(name)) })
}

// IsSet reports whether the variable name is set (non-empty) in the environment or in the
// YAML file named by CONFIG_FILE, rather than left at its default. It reads nothing else and
// validates nothing, so a command can ask before Load.
func IsSet(name string) bool {
	if os.Getenv(name) != "" {
		return true
	}
	path := os.Getenv("CONFIG_FILE")
	if path == "" {
		return false
	}
	f := koanf.New(".")
	return f.Load(file.Provider(path), yaml.Parser()) == nil && f.String(strings.ToLower(name)) != ""
}

// fromValues applies every setting and collects all problems into one error.
func fromValues(value func(name string) string) (Config, error) {
	var cfg Config
	var problems []string
	for _, s := range Settings {
		raw := strings.TrimSpace(value(s.Name))
		if err := s.apply(&cfg, raw); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", s.Name, err))
		}
	}
	cfg.defaultLinks()
	problems = append(problems, cfg.crossChecks()...)
	switch len(problems) {
	case 0:
		return cfg, nil
	case 1: // one line, so that it reads whole in a container's status or a one-line log
		return Config{}, fmt.Errorf("%w: %s", ErrInvalid, problems[0])
	}
	return Config{}, fmt.Errorf("%w:\n  - %s", ErrInvalid, strings.Join(problems, "\n  - "))
}

// defaultLinks points the links in account mail at this service's own public port when
// PUBLIC_BASE_URL is unset, so they open the pages it serves whatever PORT is.
func (c *Config) defaultLinks() {
	if c.Mail.PublicBaseURL == "" {
		c.Mail.PublicBaseURL = fmt.Sprintf("http://localhost:%d", c.HTTP.Port)
	}
}

// crossChecks are the rules that involve more than one setting.
func (c Config) crossChecks() []string {
	var problems []string
	if c.HTTP.Port != 0 && c.HTTP.Port == c.Admin.Port && c.HTTP.Host == c.Admin.Host {
		problems = append(problems, "ADMIN_PORT: must differ from PORT")
	}
	if c.MFA.PreviousKey != nil && c.MFA.Key == nil {
		problems = append(problems, "MFA_ENCRYPTION_KEY_PREVIOUS: set MFA_ENCRYPTION_KEY too (the new key)")
	}
	if c.JWT.AccessTTL > 0 && c.JWT.ExpiryHours > 0 {
		problems = append(problems, "ACCESS_TOKEN_TTL, JWT_EXPIRY_HOURS: set only one (JWT_EXPIRY_HOURS is the older spelling)")
	}
	if c.Limits.BcryptMaxCost < c.Limits.BcryptCost {
		problems = append(problems, fmt.Sprintf("BCRYPT_MAX_COST: %d is below BCRYPT_COST (%d): new hashes could not be verified", c.Limits.BcryptMaxCost, c.Limits.BcryptCost))
	}
	problems = append(problems, c.Mail.smtpChecks()...)
	if (c.Webhook.URL == "") != (len(c.Webhook.Secret) == 0) {
		problems = append(problems, "WEBHOOK_URL, WEBHOOK_SECRET: set both (webhooks on) or neither")
	}
	if c.Webhook.RetryMax < c.Webhook.RetryBase {
		problems = append(problems, "WEBHOOK_RETRY_MAX: must be at least WEBHOOK_RETRY_BASE")
	}
	return append(problems, c.Redis.topologyChecks()...)
}

// smtpChecks: mail goes out over TLS unless it never leaves the machine. (That serve needs
// SMTP_URL or MAIL_LOG_LINKS is MailSenderProblem: the other commands send no mail.)
func (m Mail) smtpChecks() []string {
	if m.SMTPURL == "" || m.SMTPTLS != "none" {
		return nil
	}
	u, err := url.Parse(m.SMTPURL)
	if err != nil {
		return nil // SMTP_URL's own check has said so
	}
	if u.Scheme == "smtps" {
		return []string{"SMTP_TLS: none contradicts SMTP_URL's smtps:// (TLS from the start)"}
	}
	if !IsLoopbackHost(u.Hostname()) {
		return []string{"SMTP_TLS: none (plain text) is allowed only to a loopback host (localhost, 127.0.0.0/8, ::1), not SMTP_URL's host; set SMTP_TLS=required"}
	}
	return nil
}

// MailSenderProblem says why serve cannot deliver account mail as configured: no SMTP_URL, and
// MAIL_LOG_LINKS not set to log the links (live tokens) instead. "" when it can.
func (m Mail) MailSenderProblem() string {
	if m.SMTPURL == "" && !m.LogLinks {
		return "SMTP_URL: required (account mail carries live tokens); in development set MAIL_LOG_LINKS=true to log each message's link instead"
	}
	return ""
}

// IsLoopbackHost reports whether host is "localhost" or a loopback IP address. No name is
// resolved: a name that resolves to a loopback address today may not tomorrow.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// topologyChecks asks for exactly one Redis topology. REDIS_URL has a default, so it counts as
// chosen only when it differs from that default.
func (r Redis) topologyChecks() []string {
	var chosen []string
	if r.URL != "" && r.URL != defaultOf("REDIS_URL") {
		chosen = append(chosen, "REDIS_URL")
	}
	if len(r.ClusterAddrs) > 0 {
		chosen = append(chosen, "REDIS_CLUSTER_ADDRS")
	}
	if len(r.SentinelAddrs) > 0 {
		chosen = append(chosen, "REDIS_SENTINEL_ADDRS")
	}
	var problems []string
	if len(chosen) > 1 {
		problems = append(problems, fmt.Sprintf("%s: set only one Redis topology (REDIS_URL, REDIS_CLUSTER_ADDRS or REDIS_SENTINEL_ADDRS)", strings.Join(chosen, ", ")))
	}
	if len(r.SentinelAddrs) > 0 && r.SentinelMaster == "" {
		problems = append(problems, "REDIS_SENTINEL_MASTER: required with REDIS_SENTINEL_ADDRS (the name the Sentinels know the primary by)")
	}
	if len(r.SentinelAddrs) == 0 && r.SentinelMaster != "" {
		problems = append(problems, "REDIS_SENTINEL_MASTER: only used with REDIS_SENTINEL_ADDRS, which is empty")
	}
	return problems
}

func defaultOf(name string) string {
	for _, s := range Settings {
		if s.Name == name {
			return s.Default
		}
	}
	return ""
}

// parseAddrs takes a comma-separated list of host:port.
func parseAddrs(raw string) ([]string, error) {
	list := parseList(raw)
	for _, a := range list {
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" {
			return nil, fmt.Errorf("%q is not host:port", a)
		}
		if _, err := parseInt(port, 1, 65535); err != nil {
			return nil, fmt.Errorf("%q: port %w", a, err)
		}
	}
	return list, nil
}

func joinHostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

func parseInt(raw string, minimum, maximum int) (int, error) {
	n, err := strconv.Atoi(raw)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", raw)
	}
	if n < minimum || n > maximum {
		return 0, fmt.Errorf("%d is out of range %d..%d", n, minimum, maximum)
	}
	return n, nil
}

// parseDuration takes a Go duration ("15s", "1m30s") or a whole number of seconds.
func parseDuration(raw string, minimum, maximum time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(raw)
	if err != nil {
		secs, intErr := strconv.Atoi(raw)
		if intErr != nil {
			return 0, fmt.Errorf("%q is not a duration (e.g. 15s) or a number of seconds", raw)
		}
		d = time.Duration(secs) * time.Second
	}
	if d < minimum || d > maximum {
		return 0, fmt.Errorf("%s is out of range %s..%s", d, minimum, maximum)
	}
	return d, nil
}

func parseBool(raw string) (bool, error) {
	b, err := strconv.ParseBool(raw)
	if err != nil {
		return false, fmt.Errorf("%q is not true or false", raw)
	}
	return b, nil
}

func parseList(raw string) []string {
	var out []string
	for _, item := range strings.Split(raw, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func parseURL(raw string, schemes ...string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		// url.Parse's error repeats the URL, which may hold a password: say less.
		return "", errors.New("is not a valid URL")
	}
	for _, s := range schemes {
		if u.Scheme == s {
			return raw, nil
		}
	}
	return "", fmt.Errorf("scheme %q is not one of %s", u.Scheme, strings.Join(schemes, ", "))
}

func parseProxies(raw string) ([]string, error) {
	list := parseList(raw)
	for _, p := range list {
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				return nil, fmt.Errorf("%q is not an IP address or CIDR", p)
			}
		}
	}
	return list, nil
}

// FromValues builds a configuration from the defaults overridden by values (keyed by variable
// name), with the same validation as Load. Tests use it instead of the process environment.
func FromValues(values map[string]string) (Config, error) {
	return fromValues(func(name string) string {
		if v, ok := values[name]; ok {
			return v
		}
		for _, s := range Settings {
			if s.Name == name {
				return s.Default
			}
		}
		return ""
	})
}
