package config

import (
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// secret is a fresh random JWT_SECRET: any value written here would be a published one.
var secret = rand.Text() + rand.Text()

func TestFromValuesDefaults(t *testing.T) {
	cfg, err := FromValues(map[string]string{"JWT_SECRET": secret})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Addr() != "0.0.0.0:8080" || cfg.Admin.Addr() != "0.0.0.0:9090" {
		t.Fatalf("addrs %s %s", cfg.HTTP.Addr(), cfg.Admin.Addr())
	}
	if cfg.Limits.BcryptCost != 12 || cfg.Limits.BcryptMaxCost != 14 || cfg.JWT.Expiry() != 24*time.Hour || cfg.HTTP.BodyLimitBytes != 1<<20 {
		t.Fatalf("defaults: %+v", cfg)
	}
	if cfg.Limits.MaxPageSize != 100 || cfg.Limits.BatchLimit != 8 || cfg.Limits.BatchMaxItems != 100 {
		t.Fatalf("limits: %+v", cfg.Limits)
	}
	if cfg.Login.AccountAddrMax != 10 || cfg.Login.AccountMax != 50 || cfg.Login.AddrMax != 100 || cfg.Login.AccountWindow != time.Hour {
		t.Fatalf("login limits: %+v", cfg.Login)
	}
}

// TestPublicBaseURLDefault: unset, the links in account mail point at this service's own public
// port (whose pages finish the flows); set, at what was set.
func TestPublicBaseURLDefault(t *testing.T) {
	for _, tc := range []struct {
		values map[string]string
		want   string
	}{
		{map[string]string{}, "http://localhost:8080"},
		{map[string]string{"PORT": "9000"}, "http://localhost:9000"},
		{map[string]string{"PORT": "9000", "PUBLIC_BASE_URL": "https://app.example.com/"}, "https://app.example.com"},
	} {
		tc.values["JWT_SECRET"] = secret
		cfg, err := FromValues(tc.values)
		if err != nil || cfg.Mail.PublicBaseURL != tc.want {
			t.Errorf("%v: PublicBaseURL %q (%v), want %q", tc.values, cfg.Mail.PublicBaseURL, err, tc.want)
		}
	}
}

func TestFromValuesInvalid(t *testing.T) {
	tests := []struct {
		name   string
		values map[string]string
		want   []string
	}{
		{"ErrShortSecret", map[string]string{"JWT_SECRET": "short"}, []string{"JWT_SECRET: must be at least 32 bytes"}},
		{"ErrMissingSecret", map[string]string{}, []string{"JWT_SECRET"}},
		{"ErrBadURL", map[string]string{"JWT_SECRET": secret, "DATABASE_URL": "mysql://x@y/z"}, []string{"DATABASE_URL"}},
		{"ErrBadNumber", map[string]string{"JWT_SECRET": secret, "PORT": "eighty"}, []string{`PORT: "eighty" is not a whole number`}},
		{"ErrCostLow", map[string]string{"JWT_SECRET": secret, "BCRYPT_COST": "3"}, []string{"BCRYPT_COST: 3 is out of range 4..31"}},
		{"ErrCostHigh", map[string]string{"JWT_SECRET": secret, "BCRYPT_COST": "32"}, []string{"BCRYPT_COST"}},
		{"ErrDuration", map[string]string{"JWT_SECRET": secret, "SHUTDOWN_TIMEOUT": "soon"}, []string{"SHUTDOWN_TIMEOUT"}},
		{"ErrLeeway", map[string]string{"JWT_SECRET": secret, "JWT_LEEWAY": "1m"}, []string{"JWT_LEEWAY"}},
		{"ErrCORSWildcard", map[string]string{"JWT_SECRET": secret, "CORS_ALLOWED_ORIGINS": "*"}, []string{"CORS_ALLOWED_ORIGINS"}},
		{"ErrProxy", map[string]string{"JWT_SECRET": secret, "TRUSTED_PROXIES": "10.0.0.0/8,proxy"}, []string{"TRUSTED_PROXIES"}},
		{"ErrMaxCostBelowCost", map[string]string{"JWT_SECRET": secret, "BCRYPT_COST": "13", "BCRYPT_MAX_COST": "12"}, []string{"BCRYPT_MAX_COST: 12 is below BCRYPT_COST (13)"}},
		{"ErrCostAboveDefaultMaxCost", map[string]string{"JWT_SECRET": secret, "BCRYPT_COST": "15"}, []string{"BCRYPT_MAX_COST"}},
		{"ErrSMTPTLSNoneRemote", map[string]string{"JWT_SECRET": secret, "SMTP_URL": "smtp://mail.example.com:25", "SMTP_TLS": "none"}, []string{"SMTP_TLS: none (plain text) is allowed only to a loopback host"}},
		{"ErrSMTPTLSNonePrivateIP", map[string]string{"JWT_SECRET": secret, "SMTP_URL": "smtp://10.0.0.5:25", "SMTP_TLS": "none"}, []string{"loopback host"}},
		{"ErrSMTPTLSNoneWithSMTPS", map[string]string{"JWT_SECRET": secret, "SMTP_URL": "smtps://127.0.0.1:465", "SMTP_TLS": "none"}, []string{"contradicts"}},
		{"ErrSMTPTLSUnknown", map[string]string{"JWT_SECRET": secret, "SMTP_URL": "smtp://127.0.0.1:25", "SMTP_TLS": "opportunistic"}, []string{"SMTP_TLS"}},
		{"ErrSamePorts", map[string]string{"JWT_SECRET": secret, "ADMIN_PORT": "8080"}, []string{"ADMIN_PORT: must differ from PORT"}},
		{"ErrWebhookSecretPrefix", map[string]string{"JWT_SECRET": secret, "WEBHOOK_URL": "https://hooks.example.com/x", "WEBHOOK_SECRET": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}, []string{"WEBHOOK_SECRET: must start with whsec_"}},
		{"ErrWebhookSecretShort", map[string]string{"JWT_SECRET": secret, "WEBHOOK_URL": "https://hooks.example.com/x", "WEBHOOK_SECRET": "whsec_c2hvcnQ="}, []string{"WEBHOOK_SECRET: must hold at least 24 bytes"}},
		{"ErrWebhookURLAlone", map[string]string{"JWT_SECRET": secret, "WEBHOOK_URL": "https://hooks.example.com/x"}, []string{"WEBHOOK_URL, WEBHOOK_SECRET: set both"}},
		{"ErrWebhookURLScheme", map[string]string{"JWT_SECRET": secret, "WEBHOOK_URL": "ftp://hooks.example.com/x"}, []string{"WEBHOOK_URL"}},
		{"ErrWebhookRetry", map[string]string{"JWT_SECRET": secret, "WEBHOOK_RETRY_BASE": "2m"}, []string{"WEBHOOK_RETRY_MAX: must be at least WEBHOOK_RETRY_BASE"}},
		{"ErrAuditRetention", map[string]string{"JWT_SECRET": secret, "AUDIT_RETENTION": "1m"}, []string{"AUDIT_RETENTION"}},
		{"ErrAccessTTLAndExpiryHours", map[string]string{"JWT_SECRET": secret, "ACCESS_TOKEN_TTL": "15m", "JWT_EXPIRY_HOURS": "2"}, []string{"ACCESS_TOKEN_TTL, JWT_EXPIRY_HOURS: set only one"}},
		{"ErrMFAKeyShort", map[string]string{"JWT_SECRET": secret, "MFA_ENCRYPTION_KEY": "c2hvcnQ="}, []string{"MFA_ENCRYPTION_KEY"}},
		{"ErrMFAKeyPlaceholder", map[string]string{"JWT_SECRET": secret, "MFA_ENCRYPTION_KEY": "change-me-openssl-rand-base64-32-bytes"}, []string{"MFA_ENCRYPTION_KEY"}},
		{"ErrMFAKeyNot32Bytes", map[string]string{"JWT_SECRET": secret, "MFA_ENCRYPTION_KEY": "q8Zr3mW8yV0t2J5kN6bH9cP4xL7sD0fG2hA8eR1uT5oXk2Lm"}, []string{"MFA_ENCRYPTION_KEY: must be 32 bytes"}},
		{"ErrMFAPreviousWithoutKey", map[string]string{"JWT_SECRET": secret, "MFA_ENCRYPTION_KEY_PREVIOUS": "j5Qx0Zk2Wv9Rt7Yp3Ln8Hb6Gd4Fs1Ma0Ce9Ui2Ko5Pw="}, []string{"MFA_ENCRYPTION_KEY_PREVIOUS: set MFA_ENCRYPTION_KEY too"}},
		{"ErrSessionMaxPerUser", map[string]string{"JWT_SECRET": secret, "MAX_SESSIONS_PER_USER": "0"}, []string{"MAX_SESSIONS_PER_USER"}},
		{"ErrEveryProblemAtOnce", map[string]string{"JWT_SECRET": "short", "PORT": "x", "BCRYPT_COST": "99", "LOG_FORMAT": "xml"},
			[]string{"JWT_SECRET", "PORT", "BCRYPT_COST", "LOG_FORMAT"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromValues(tc.values)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

// TestSMTPSettings: the mail settings the service starts with. Loopback is decided on the URL
// as written, never by resolving a name.
func TestSMTPSettings(t *testing.T) {
	for _, v := range []map[string]string{
		{"MAIL_LOG_LINKS": "true"},
		{}, // serve refuses to start without SMTP_URL or MAIL_LOG_LINKS; the CLI's other commands send no mail
		{"SMTP_URL": "smtp://user:pw@mail.example.com:587"},
		{"SMTP_URL": "smtps://mail.example.com"},
		{"SMTP_URL": "smtp://mail.example.com:587", "SMTP_TLS": "required"},
		{"SMTP_URL": "smtp://127.0.0.1:1025", "SMTP_TLS": "none"},
		{"SMTP_URL": "smtp://localhost:1025", "SMTP_TLS": "none"},
		{"SMTP_URL": "smtp://[::1]:1025", "SMTP_TLS": "none"},
		{"SMTP_URL": "smtp://127.0.0.2:25", "SMTP_TLS": "none"},
	} {
		v["JWT_SECRET"] = secret
		if _, err := FromValues(v); err != nil {
			t.Errorf("%v: %v", v, err)
		}
	}
	for _, host := range []string{"localhost.example.com", "127.0.0.1.nip.io", "0.0.0.0", "::", "192.168.1.1"} {
		if IsLoopbackHost(host) {
			t.Errorf("%s counted as loopback", host)
		}
	}
}

func TestWebhookSettings(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	cfg, err := FromValues(map[string]string{"JWT_SECRET": secret, "WEBHOOK_URL": "https://hooks.example.com/x",
		"WEBHOOK_SECRET": "whsec_a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=", "WEBHOOK_EVENTS": "login.failed, logout"})
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Webhook
	if !w.Enabled() || string(w.Secret) != string(key) || len(w.Events) != 2 || w.Events[1] != "logout" ||
		w.RetryBase != time.Second || w.RetryMax != time.Minute || w.PollInterval != time.Second || cfg.Audit.Retention != 2160*time.Hour {
		t.Fatalf("webhook %+v, audit %+v", w, cfg.Audit)
	}
	if cfg, _ := FromValues(map[string]string{"JWT_SECRET": secret}); cfg.Webhook.Enabled() {
		t.Fatal("webhooks on by default")
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	const short = "my-secret-value-is-short"
	_, err := FromValues(map[string]string{"JWT_SECRET": short, "DATABASE_URL": "postgres://u:hunter2@/x"})
	if err == nil || strings.Contains(err.Error(), short) || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error leaks a secret: %v", err)
	}
}

func TestLoadFileThenEnvironment(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(file, []byte("jwt_secret: "+secret+"\nport: 7000\nmax_page_size: 50\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CONFIG_FILE", file)
	t.Setenv("PORT", "7100")      // the environment wins over the file
	t.Setenv("JWT_SECRET", "")    // empty means unset: the file's value stays
	t.Setenv("MAX_PAGE_SIZE", "") // (just exports some variables into the tests' environment)
	cfg, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Port != 7100 || cfg.Limits.MaxPageSize != 50 || string(cfg.JWT.Secret) != secret {
		t.Fatalf("port %d max_page_size %d", cfg.HTTP.Port, cfg.Limits.MaxPageSize)
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Setenv("CONFIG_FILE", filepath.Join(t.TempDir(), "absent.yaml"))
	t.Setenv("JWT_SECRET", secret)
	if _, err := Load(); !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v", err)
	}
}

// TestRedisTopology: exactly one of REDIS_URL, REDIS_CLUSTER_ADDRS and REDIS_SENTINEL_ADDRS (with
// REDIS_SENTINEL_MASTER) is chosen; REDIS_URL at its default does not count as a choice.
func TestRedisTopology(t *testing.T) {
	ok := []map[string]string{
		{},
		{"REDIS_URL": "redis://10.0.0.1:6379/0"},
		{"REDIS_URL": "redis://a:7000?addr=b:7001&addr=c:7002"},
		{"REDIS_CLUSTER_ADDRS": "a:7000, b:7001,c:7002", "REDIS_PASSWORD": "pw"},
		{"REDIS_SENTINEL_ADDRS": "s1:26379,s2:26379", "REDIS_SENTINEL_MASTER": "mymaster"},
	}
	for _, v := range ok {
		v["JWT_SECRET"] = secret
		if _, err := FromValues(v); err != nil {
			t.Errorf("%v: %v", v, err)
		}
	}
	cfg, _ := FromValues(map[string]string{"JWT_SECRET": secret, "REDIS_CLUSTER_ADDRS": "a:7000, b:7001"})
	if len(cfg.Redis.ClusterAddrs) != 2 || cfg.Redis.ClusterAddrs[1] != "b:7001" {
		t.Errorf("cluster addrs %q", cfg.Redis.ClusterAddrs)
	}
	bad := []struct {
		values map[string]string
		want   string
	}{
		{map[string]string{"REDIS_URL": "redis://x:1/0", "REDIS_CLUSTER_ADDRS": "a:1"}, "set only one Redis topology"},
		{map[string]string{"REDIS_CLUSTER_ADDRS": "a:1", "REDIS_SENTINEL_ADDRS": "s:2", "REDIS_SENTINEL_MASTER": "m"}, "set only one Redis topology"},
		{map[string]string{"REDIS_SENTINEL_ADDRS": "s:2"}, "REDIS_SENTINEL_MASTER: required"},
		{map[string]string{"REDIS_SENTINEL_MASTER": "m"}, "REDIS_SENTINEL_MASTER: only used with REDIS_SENTINEL_ADDRS"},
		{map[string]string{"REDIS_CLUSTER_ADDRS": "a"}, `REDIS_CLUSTER_ADDRS: "a" is not host:port`},
		{map[string]string{"REDIS_SENTINEL_ADDRS": "s:x", "REDIS_SENTINEL_MASTER": "m"}, "REDIS_SENTINEL_ADDRS"},
		{map[string]string{"MIGRATE_DATABASE_URL": "mysql://x@y/z"}, "MIGRATE_DATABASE_URL"},
	}
	for _, tc := range bad {
		tc.values["JWT_SECRET"] = secret
		_, err := FromValues(tc.values)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want ErrInvalid mentioning %q", tc.values, err, tc.want)
		}
	}
}

// TestMailSenderProblem: serve needs somewhere to send account mail, or to be told (in
// development) to log the links.
func TestMailSenderProblem(t *testing.T) {
	for _, tc := range []struct {
		values map[string]string
		ok     bool
	}{
		{map[string]string{}, false},
		{map[string]string{"MAIL_LOG_LINKS": "false"}, false},
		{map[string]string{"MAIL_LOG_LINKS": "true"}, true},
		{map[string]string{"SMTP_URL": "smtps://mail.example.com"}, true},
	} {
		tc.values["JWT_SECRET"] = secret
		cfg, err := FromValues(tc.values)
		if err != nil {
			t.Fatal(err)
		}
		if p := cfg.Mail.MailSenderProblem(); (p == "") != tc.ok || (!tc.ok && !strings.Contains(p, "MAIL_LOG_LINKS=true")) {
			t.Errorf("%v: problem %q, want ok=%v", tc.values, p, tc.ok)
		}
	}
}

// TestAccessTTL: ACCESS_TOKEN_TTL, or its older spelling JWT_EXPIRY_HOURS, or 24h.
func TestAccessTTL(t *testing.T) {
	for _, tc := range []struct {
		values map[string]string
		want   time.Duration
	}{
		{map[string]string{}, 24 * time.Hour},
		{map[string]string{"ACCESS_TOKEN_TTL": "15m"}, 15 * time.Minute},
		{map[string]string{"JWT_EXPIRY_HOURS": "2"}, 2 * time.Hour},
	} {
		tc.values["JWT_SECRET"] = secret
		cfg, err := FromValues(tc.values)
		if err != nil || cfg.JWT.Expiry() != tc.want {
			t.Errorf("%v: expiry %v, %v; want %v", tc.values, cfg.JWT.Expiry(), err, tc.want)
		}
	}
}
