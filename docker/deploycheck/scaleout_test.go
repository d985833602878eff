package deploycheck

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/example/authapi/config"
)

// TestComposeScaleOut checks the "pgbouncer" and "redis-cluster" profiles: PgBouncer in
// transaction mode in front of the postgres service, an app that queries through it and
// migrates past it, six cluster-enabled Redis nodes joined with one replica per primary, and an
// app on them whose settings the real configuration loader accepts.
func TestComposeScaleOut(t *testing.T) {
	p := loadCompose(t)
	env := func(s types.ServiceConfig) map[string]string {
		out := map[string]string{}
		for k, v := range s.Environment {
			if v != nil {
				out[k] = *v
			}
		}
		return out
	}
	// accepted runs the app's environment through the real configuration validation.
	accepted := func(name string, e map[string]string) {
		values := map[string]string{"JWT_SECRET": rand.Text() + rand.Text()}
		for k, v := range e {
			if _, ok := defaults()[k]; !ok {
				t.Errorf("%s environment sets %s, which the binary does not read", name, k)
			}
			if v != "" { // empty means unset, as the binary reads the environment
				values[k] = v
			}
		}
		if _, err := config.FromValues(values); err != nil {
			t.Errorf("%s environment is refused by the service: %v", name, err)
		}
	}

	t.Run("OKPgBouncerProfile", func(t *testing.T) {
		pb, a := service(t, p, "pgbouncer"), service(t, p, "app-pgbouncer")
		for _, s := range []types.ServiceConfig{pb, a} {
			if !slices.Equal(s.Profiles, []string{"pgbouncer"}) {
				t.Errorf("%s profiles = %v, want [pgbouncer]", s.Name, s.Profiles)
			}
		}
		script, err := os.ReadFile(filepath.Join(dockerDir(t), "pgbouncer", "entrypoint.sh"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(script), "pool_mode = transaction") || env(pb)["DB_HOST"] != "postgres" {
			t.Errorf("pgbouncer: not transaction pooling in front of the postgres service")
		}
		e := env(a)
		if !strings.Contains(e["DATABASE_URL"], "@pgbouncer:6432/") || !strings.Contains(e["MIGRATE_DATABASE_URL"], "@postgres:5432/") {
			t.Errorf("app-pgbouncer DATABASE_URL=%q MIGRATE_DATABASE_URL=%q: want queries through pgbouncer, migrations direct", e["DATABASE_URL"], e["MIGRATE_DATABASE_URL"])
		}
		if d, ok := a.DependsOn["pgbouncer"]; !ok || d.Condition != types.ServiceConditionHealthy {
			t.Errorf("app-pgbouncer depends_on pgbouncer = %+v", d)
		}
		accepted("app-pgbouncer", e)
	})

	t.Run("OKRedisClusterProfile", func(t *testing.T) {
		var nodes []string
		for i := 1; i <= 6; i++ {
			name := "redis-node-" + string(rune('0'+i))
			n := service(t, p, name)
			cmd := strings.Join(n.Command, " ")
			if !slices.Equal(n.Profiles, []string{"redis-cluster"}) || !strings.Contains(cmd, "--cluster-enabled yes") {
				t.Errorf("%s: profiles %v, command %q", name, n.Profiles, cmd)
			}
			nodes = append(nodes, name+":6379")
		}
		init := service(t, p, "redis-cluster-init")
		if cmd := strings.Join(init.Command, " "); !strings.Contains(cmd, "--cluster create") || !strings.Contains(cmd, "--cluster-replicas 1") {
			t.Errorf("redis-cluster-init command %q does not create a cluster with a replica per primary", cmd)
		}
		a := service(t, p, "app-cluster")
		e := env(a)
		if got := strings.Split(e["REDIS_CLUSTER_ADDRS"], ","); !slices.Equal(got, nodes) {
			t.Errorf("app-cluster REDIS_CLUSTER_ADDRS = %q, want %q", got, nodes)
		}
		if d, ok := a.DependsOn["redis-cluster-init"]; !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("app-cluster depends_on redis-cluster-init = %+v", d)
		}
		accepted("app-cluster", e)
	})
}

// TestKubernetesScaleOut builds the base with the docker/k8s/scale-out component: a PgBouncer Deployment and
// Service whose ports agree, and example Secrets whose settings the service accepts (one Redis
// topology, DATABASE_URL through the PgBouncer Service, MIGRATE_DATABASE_URL past it).
func TestKubernetesScaleOut(t *testing.T) {
	// An overlay as an operator writes one, outside docker/k8s.
	overlay := t.TempDir()
	rel := func(target string) string {
		r, err := filepath.Rel(overlay, target) // kustomize takes no absolute paths
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	kust := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [" + rel(filepath.Join(dockerDir(t), "k8s")) +
		"]\ncomponents: [" + rel(filepath.Join(dockerDir(t), "k8s", "scale-out")) + "]\n"
	if err := os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(kust), 0o600); err != nil {
		t.Fatal(err)
	}
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), overlay)
	if err != nil {
		t.Fatalf("kustomize build of the base with docker/k8s/scale-out: %v", err)
	}
	var pgb *appsv1.Deployment
	var svc *corev1.Service
	var cm *corev1.ConfigMap
	for _, r := range resMap.Resources() {
		raw, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case r.GetKind() == "Deployment" && r.GetName() == "authapi-pgbouncer":
			pgb = &appsv1.Deployment{}
			err = yaml.UnmarshalStrict(raw, pgb)
		case r.GetKind() == "Service" && r.GetName() == "authapi-pgbouncer":
			svc = &corev1.Service{}
			err = yaml.UnmarshalStrict(raw, svc)
		case r.GetKind() == "ConfigMap":
			cm = &corev1.ConfigMap{}
			err = yaml.UnmarshalStrict(raw, cm)
		}
		if err != nil {
			t.Fatalf("%s %s: %v", r.GetKind(), r.GetName(), err)
		}
	}
	if pgb == nil || svc == nil || cm == nil {
		t.Fatalf("scale-out build lacks the PgBouncer Deployment or Service, or the ConfigMap")
	}
	c := pgb.Spec.Template.Spec.Containers[0]
	if port, err := containerPort(c, svc.Spec.Ports[0].TargetPort.StrVal, svc.Spec.Ports[0].TargetPort.IntVal); err != nil || port != 6432 || svc.Spec.Ports[0].Port != 6432 {
		t.Errorf("PgBouncer Service %+v does not reach container port 6432 (%v)", svc.Spec.Ports, err)
	}
	for k, v := range svc.Spec.Selector {
		if pgb.Spec.Template.Labels[k] != v {
			t.Errorf("PgBouncer Service selector %s=%s does not match its pods", k, v)
		}
	}

	// The example Secret plus the ConfigMap must be a configuration the service accepts.
	raw, err := os.ReadFile(filepath.Join(dockerDir(t), "k8s", "scale-out", "secret.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(raw), "\n---\n")
	var secret corev1.Secret
	if err := yaml.UnmarshalStrict([]byte(docs[0]), &secret); err != nil {
		t.Fatal(err)
	}
	values := map[string]string{}
	for k, v := range cm.Data {
		values[k] = v
	}
	for k, v := range secret.StringData {
		if _, ok := defaults()[k]; !ok {
			t.Errorf("secret.example.yaml sets %s, which the binary does not read", k)
		}
		values[k] = v
	}
	// The example's JWT_SECRET is a placeholder the service refuses, as it must; the rest of
	// the settings must be accepted with a real one.
	if _, err := config.FromValues(values); err == nil || !strings.Contains(err.Error(), "JWT_SECRET") {
		t.Errorf("the example's JWT_SECRET placeholder is accepted: %v", err)
	}
	values["JWT_SECRET"] = rand.Text() + rand.Text()
	cfg, err := config.FromValues(values)
	if err != nil {
		t.Fatalf("the scale-out settings are refused by the service: %v", err)
	}
	if !strings.Contains(cfg.DB.URL, "@authapi-pgbouncer:6432/") || !strings.Contains(cfg.DB.MigrateURL, "@postgres:5432/") || len(cfg.Redis.ClusterAddrs) == 0 {
		t.Errorf("scale-out settings: DATABASE_URL %q, MIGRATE_DATABASE_URL %q, cluster %q", cfg.DB.URL, cfg.DB.MigrateURL, cfg.Redis.ClusterAddrs)
	}
}
