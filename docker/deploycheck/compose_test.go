package deploycheck

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"sigs.k8s.io/yaml"
)

// loadCompose loads docker/compose.yaml with the Compose specification's own loader (as
// `docker compose config` does), every profile enabled, and an empty environment so the
// defaults written in the file are what is checked.
func loadCompose(t *testing.T, env ...string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(dockerDir(t), "compose.yaml")},
		cli.WithWorkingDirectory(dockerDir(t)),
		cli.WithEnv(env),
		cli.WithProfiles([]string{"*"}),
		cli.WithConsistency(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatalf("compose.yaml does not load: %v", err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	return s
}

func healthTest(s types.ServiceConfig) string {
	if s.HealthCheck == nil {
		return ""
	}
	return strings.Join(s.HealthCheck.Test, " ")
}

func TestCompose(t *testing.T) {
	p := loadCompose(t)

	t.Run("OKDependencies", func(t *testing.T) {
		pg, rd := service(t, p, "postgres"), service(t, p, "redis")
		if !strings.HasPrefix(pg.Image, "postgres:16") || !strings.Contains(healthTest(pg), "pg_isready") {
			t.Errorf("postgres: image %q, healthcheck %q", pg.Image, healthTest(pg))
		}
		if !strings.HasPrefix(rd.Image, "redis:7") || !strings.Contains(healthTest(rd), "redis-cli ping") {
			t.Errorf("redis: image %q, healthcheck %q", rd.Image, healthTest(rd))
		}
		if !slices.ContainsFunc(pg.Volumes, func(v types.ServiceVolumeConfig) bool {
			return v.Target == "/var/lib/postgresql/data" && v.Type == "volume"
		}) {
			t.Errorf("postgres data is not on a named volume: %+v", pg.Volumes)
		}
		// AOF is what keeps live tokens across a Redis restart (README, Operations); an evicted
		// key logs users out or resets login limits.
		if cmd := strings.Join(rd.Command, " "); !strings.Contains(cmd, "--appendonly yes") || !strings.Contains(cmd, "--maxmemory-policy noeviction") {
			t.Errorf("redis command %q does not enable AOF and noeviction", rd.Command)
		}
	})

	t.Run("OKApp", func(t *testing.T) {
		a := service(t, p, "app")
		for _, dep := range []string{"postgres", "redis"} {
			if d, ok := a.DependsOn[dep]; !ok || d.Condition != types.ServiceConditionHealthy {
				t.Errorf("app depends_on %s = %+v, want condition service_healthy", dep, d)
			}
		}
		known := defaults()
		env := map[string]string{}
		for k, v := range a.Environment {
			if _, ok := known[k]; !ok {
				t.Errorf("app environment sets %s, which the binary does not read", k)
			}
			if v != nil {
				env[k] = *v
			}
		}
		// The container listens where the published ports point, and those are the defaults.
		for _, tc := range []struct{ setting, listen string }{{"PORT", "HOST"}, {"ADMIN_PORT", "ADMIN_HOST"}} {
			want := uint32(defaultPort(t, tc.setting))
			if v, ok := env[tc.setting]; ok && v != known[tc.setting] {
				t.Errorf("app %s=%s, default is %s", tc.setting, v, known[tc.setting])
			}
			if h := env[tc.listen]; h != "" && h != "0.0.0.0" {
				t.Errorf("app %s=%s: unreachable from the published port", tc.listen, h)
			}
			if !slices.ContainsFunc(a.Ports, func(pc types.ServicePortConfig) bool { return pc.Target == want && pc.Published != "" }) {
				t.Errorf("app does not publish container port %d (%s): %+v", want, tc.setting, a.Ports)
			}
		}
		for name, host := range map[string]string{"DATABASE_URL": "@postgres:5432/", "REDIS_URL": "//redis:6379/"} {
			if !strings.Contains(env[name], host) {
				t.Errorf("app %s=%q does not point at the compose service (%s)", name, env[name], host)
			}
		}
		if len(a.EnvFiles) == 0 || !strings.HasSuffix(a.EnvFiles[0].Path, ".env") {
			t.Errorf("app env_file = %+v, want the repository's .env", a.EnvFiles)
		}
		// The health command is the binary's own (the image has no curl); it reads ADMIN_PORT.
		if h := healthTest(a); !strings.Contains(h, "/authapi healthcheck") {
			t.Errorf("app healthcheck %q, want the binary's healthcheck subcommand", h)
		}
		if a.StopGracePeriod == nil || time.Duration(*a.StopGracePeriod) <= defaultDuration(t, "SHUTDOWN_TIMEOUT") {
			t.Errorf("app stop_grace_period %v must exceed SHUTDOWN_TIMEOUT %s", a.StopGracePeriod, known["SHUTDOWN_TIMEOUT"])
		}
		if a.Build == nil || a.Build.Dockerfile != "docker/Dockerfile" {
			t.Errorf("app build = %+v", a.Build)
		}
		if !a.ReadOnly {
			t.Errorf("app root filesystem is writable")
		}
	})

	t.Run("OKMailProfile", func(t *testing.T) {
		s, a := service(t, p, "mailpit"), service(t, p, "app")
		if !slices.Equal(s.Profiles, []string{"mail"}) {
			t.Errorf("mailpit profiles = %v, want [mail]: a mail catcher is for development only", s.Profiles)
		}
		// Mailpit speaks plain text, which the service sends only to a loopback host: it runs
		// in the app's network namespace, and the app publishes its ports (SMTP for `just run`
		// on the host, the web page for the developer), on 127.0.0.1 only.
		if s.NetworkMode != "service:app" {
			t.Errorf("mailpit network_mode = %q, want service:app (the app reaches it on loopback)", s.NetworkMode)
		}
		for _, port := range []uint32{1025, 8025} {
			if !slices.ContainsFunc(a.Ports, func(pc types.ServicePortConfig) bool {
				return pc.Target == port && pc.Published != "" && pc.HostIP == "127.0.0.1"
			}) {
				t.Errorf("app does not publish mailpit's port %d on 127.0.0.1: %+v", port, a.Ports)
			}
		}
	})

	// Every instance of the app has an SMTP server (the service refuses to start without one),
	// and none logs mail links: MAIL_LOG_LINKS is for `just run` and `just dev` only.
	t.Run("OKMailSettings", func(t *testing.T) {
		for name, s := range p.Services {
			if _, ok := s.Environment["MAIL_LOG_LINKS"]; ok {
				t.Errorf("%s sets MAIL_LOG_LINKS: development only, never in compose", name)
			}
			if s.Image == "" || !strings.HasPrefix(s.Image, "authapi:") {
				continue
			}
			if v := s.Environment["SMTP_URL"]; v == nil || *v == "" {
				t.Errorf("%s has no SMTP_URL", name)
			}
		}
	})

	// Published ports are bound to the loopback by default; PUBLISH_ADDR opens the API port and
	// only it. Grafana lets no anonymous visitor in.
	t.Run("OKExposure", func(t *testing.T) {
		for _, tc := range []struct {
			env     []string
			openAPI bool
		}{{nil, false}, {[]string{"PUBLISH_ADDR=0.0.0.0"}, true}} {
			for name, s := range loadCompose(t, tc.env...).Services {
				for _, pc := range s.Ports {
					if pc.Published == "" {
						continue
					}
					want := "127.0.0.1"
					if tc.openAPI && strings.HasPrefix(name, "app") && pc.Target == uint32(defaultPort(t, "PORT")) {
						want = "0.0.0.0"
					}
					if pc.HostIP != want {
						t.Errorf("env %v: %s publishes %s:%s->%d, want host IP %s", tc.env, name, pc.HostIP, pc.Published, pc.Target, want)
					}
				}
			}
		}
		g := service(t, p, "grafana")
		if v := g.Environment["GF_AUTH_ANONYMOUS_ENABLED"]; v == nil || *v != "false" {
			t.Errorf("grafana GF_AUTH_ANONYMOUS_ENABLED = %v, want false", v)
		}
	})

	t.Run("OKMonitoringProfile", func(t *testing.T) {
		for _, name := range []string{"prometheus", "grafana"} {
			if s := service(t, p, name); !slices.Equal(s.Profiles, []string{"monitoring"}) {
				t.Errorf("%s profiles = %v, want [monitoring]", name, s.Profiles)
			}
		}
		var prom struct {
			ScrapeConfigs []struct {
				MetricsPath   string `json:"metrics_path"`
				StaticConfigs []struct {
					Targets []string `json:"targets"`
				} `json:"static_configs"`
			} `json:"scrape_configs"`
		}
		readYAML(t, filepath.Join(dockerDir(t), "prometheus", "prometheus.yml"), &prom, false)
		want := "app:" + defaults()["ADMIN_PORT"]
		if len(prom.ScrapeConfigs) == 0 || prom.ScrapeConfigs[0].MetricsPath != "/metrics" ||
			len(prom.ScrapeConfigs[0].StaticConfigs) == 0 || !slices.Contains(prom.ScrapeConfigs[0].StaticConfigs[0].Targets, want) {
			t.Errorf("prometheus.yml does not scrape %s/metrics: %+v", want, prom)
		}
		for _, f := range []string{"grafana/provisioning/datasources/prometheus.yaml", "grafana/provisioning/dashboards/authapi.yaml"} {
			var v map[string]any
			readYAML(t, filepath.Join(dockerDir(t), f), &v, true)
		}
	})
}

// readYAML decodes a YAML file; strictly (an unknown or misspelt field is an error) when v
// describes the whole file.
func readYAML(t *testing.T, path string, v any, strict bool) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	decode := yaml.Unmarshal
	if strict {
		decode = yaml.UnmarshalStrict
	}
	if err := decode(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
