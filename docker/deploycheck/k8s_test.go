package deploycheck

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// manifests is the kustomize build of docker/k8s, each object decoded strictly into its
// Kubernetes API type, so a misspelt field fails here instead of being dropped by kubectl.
type manifests struct {
	deployment *appsv1.Deployment
	service    *corev1.Service
	configMap  *corev1.ConfigMap
	pdb        *policyv1.PodDisruptionBudget
	hpa        *autoscalingv2.HorizontalPodAutoscaler
	policies   []*networkingv1.NetworkPolicy
}

func build(t *testing.T) manifests {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(dockerDir(t), "k8s"))
	if err != nil {
		t.Fatalf("kustomize build docker/k8s: %v", err)
	}
	var m manifests
	for _, r := range resMap.Resources() {
		raw, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		var obj any
		switch r.GetKind() {
		case "Deployment":
			m.deployment = &appsv1.Deployment{}
			obj = m.deployment
		case "Service":
			m.service = &corev1.Service{}
			obj = m.service
		case "ConfigMap":
			m.configMap = &corev1.ConfigMap{}
			obj = m.configMap
		case "PodDisruptionBudget":
			m.pdb = &policyv1.PodDisruptionBudget{}
			obj = m.pdb
		case "HorizontalPodAutoscaler":
			m.hpa = &autoscalingv2.HorizontalPodAutoscaler{}
			obj = m.hpa
		case "NetworkPolicy":
			np := &networkingv1.NetworkPolicy{}
			m.policies = append(m.policies, np)
			obj = np
		default:
			t.Fatalf("unexpected kind %s in the kustomize build", r.GetKind())
		}
		if err := yaml.UnmarshalStrict(raw, obj); err != nil {
			t.Fatalf("%s %s: %v", r.GetKind(), r.GetName(), err)
		}
	}
	if m.deployment == nil || m.service == nil || m.configMap == nil || m.pdb == nil || m.hpa == nil {
		t.Fatalf("kustomize build lacks a Deployment, Service, ConfigMap, PDB or HPA: %+v", m)
	}
	return m
}

// containerPort resolves a probe's or service's port (a name or a number) on the container.
func containerPort(c corev1.Container, name string, number int32) (int32, error) {
	for _, p := range c.Ports {
		if (name != "" && p.Name == name) || (name == "" && p.ContainerPort == number) {
			return p.ContainerPort, nil
		}
	}
	return 0, fmt.Errorf("container %s has no port %q/%d", c.Name, name, number)
}

func TestKubernetes(t *testing.T) {
	m := build(t)
	_, adminRoutes := servedRoutes(t)
	known := defaults()
	settings := map[string]string{}
	for k, v := range known {
		settings[k] = v
	}
	for k, v := range m.configMap.Data {
		if _, ok := known[k]; !ok {
			t.Errorf("ConfigMap sets %s, which the binary does not read", k)
		}
		settings[k] = v
	}
	// The service refuses to start without an SMTP server; the links of development's
	// MAIL_LOG_LINKS would put live tokens in the cluster's logs.
	if !strings.HasPrefix(settings["SMTP_URL"], "smtp://") && !strings.HasPrefix(settings["SMTP_URL"], "smtps://") {
		t.Errorf("ConfigMap SMTP_URL = %q, want an SMTP server", settings["SMTP_URL"])
	}
	if _, ok := m.configMap.Data["MAIL_LOG_LINKS"]; ok {
		t.Error("ConfigMap sets MAIL_LOG_LINKS: development only")
	}
	adminPort, _ := strconv.Atoi(settings["ADMIN_PORT"])
	publicPort, _ := strconv.Atoi(settings["PORT"])
	pod := m.deployment.Spec.Template
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]

	t.Run("OKProbes", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			probe *corev1.Probe
			path  string
		}{
			{"startup", c.StartupProbe, "/livez"},
			{"liveness", c.LivenessProbe, "/livez"},
			{"readiness", c.ReadinessProbe, "/readyz"},
		} {
			if tc.probe == nil || tc.probe.HTTPGet == nil {
				t.Errorf("%s probe missing or not httpGet", tc.name)
				continue
			}
			g := tc.probe.HTTPGet
			if g.Path != tc.path || !adminRoutes[g.Path] {
				t.Errorf("%s probe path %s: want %s, served by the admin listener", tc.name, g.Path, tc.path)
			}
			port, err := containerPort(c, g.Port.StrVal, g.Port.IntVal)
			if err != nil || int(port) != adminPort {
				t.Errorf("%s probe port %s = %d (%v), want ADMIN_PORT %d", tc.name, g.Port.String(), port, err, adminPort)
			}
		}
		// A probe must outlast the probes' own 1 s dependency deadline.
		if c.ReadinessProbe != nil && c.ReadinessProbe.TimeoutSeconds <= 1 {
			t.Errorf("readiness timeoutSeconds %d <= the 1 s dependency deadline", c.ReadinessProbe.TimeoutSeconds)
		}
	})

	t.Run("OKShutdown", func(t *testing.T) {
		shutdown, err := time.ParseDuration(settings["SHUTDOWN_TIMEOUT"])
		if err != nil {
			t.Fatalf("SHUTDOWN_TIMEOUT %q: %v", settings["SHUTDOWN_TIMEOUT"], err)
		}
		if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil || c.Lifecycle.PreStop.Sleep.Seconds < 1 {
			t.Fatalf("no preStop pause: %+v", c.Lifecycle)
		}
		pause := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
		grace := pod.Spec.TerminationGracePeriodSeconds
		if grace == nil || time.Duration(*grace)*time.Second <= pause+shutdown {
			t.Errorf("terminationGracePeriodSeconds %v must exceed preStop %s + SHUTDOWN_TIMEOUT %s", grace, pause, shutdown)
		}
	})

	t.Run("OKPodHardening", func(t *testing.T) {
		psc, sc := pod.Spec.SecurityContext, c.SecurityContext
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
			t.Errorf("pod does not require a non-root user")
		}
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("container security context %+v", sc)
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[res]; !ok {
				t.Errorf("no %s request", res)
			}
			if _, ok := c.Resources.Limits[res]; !ok {
				t.Errorf("no %s limit", res)
			}
		}
		if r := m.deployment.Spec.Replicas; r == nil || *r < 2 {
			t.Errorf("replicas %v, want 2 or more", r)
		}
	})

	t.Run("OKConfigAndSecret", func(t *testing.T) {
		var cmRef, secretRef string
		for _, e := range c.EnvFrom {
			if e.ConfigMapRef != nil {
				cmRef = e.ConfigMapRef.Name
			}
			if e.SecretRef != nil {
				secretRef = e.SecretRef.Name
			}
		}
		if cmRef != m.configMap.Name {
			t.Errorf("envFrom ConfigMap %q, the base defines %q", cmRef, m.configMap.Name)
		}
		var secret corev1.Secret
		readYAML(t, filepath.Join(dockerDir(t), "k8s", "secret.example.yaml"), &secret, true)
		if secretRef != secret.Name {
			t.Errorf("envFrom Secret %q, the example defines %q", secretRef, secret.Name)
		}
		for _, k := range []string{"JWT_SECRET", "DATABASE_URL", "REDIS_URL"} {
			if _, ok := secret.StringData[k]; !ok {
				t.Errorf("secret example lacks %s", k)
			}
		}
		for k := range secret.StringData {
			if _, ok := known[k]; !ok {
				t.Errorf("secret example sets %s, which the binary does not read", k)
			}
		}
		if _, leaked := m.configMap.Data["JWT_SECRET"]; leaked {
			t.Errorf("JWT_SECRET is in the ConfigMap")
		}
	})

	t.Run("OKServiceAndScrape", func(t *testing.T) {
		podLabels := labels.Set(pod.Labels)
		if !labels.SelectorFromSet(m.service.Spec.Selector).Matches(podLabels) || len(m.service.Spec.Selector) == 0 {
			t.Errorf("Service selector %v does not select the pods %v", m.service.Spec.Selector, pod.Labels)
		}
		var targets []int32
		for _, p := range m.service.Spec.Ports {
			port, err := containerPort(c, p.TargetPort.StrVal, p.TargetPort.IntVal)
			if err != nil {
				t.Errorf("Service port %s: %v", p.Name, err)
			}
			targets = append(targets, port)
		}
		// The admin port (metrics, probes, pprof) is on no Service: Prometheus scrapes the pods.
		if !slices.Contains(targets, int32(publicPort)) || slices.Contains(targets, int32(adminPort)) {
			t.Errorf("Service targets %v, want PORT %d and not ADMIN_PORT %d", targets, publicPort, adminPort)
		}
		a := pod.Annotations
		if a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != strconv.Itoa(adminPort) || !adminRoutes[a["prometheus.io/path"]] || a["prometheus.io/path"] != "/metrics" {
			t.Errorf("scrape annotations %v, want the admin port and /metrics", a)
		}
	})

	t.Run("OKNetworkPolicies", func(t *testing.T) {
		if len(m.policies) == 0 {
			t.Fatal("no NetworkPolicy in the kustomize build")
		}
		checkNetworkPolicies(t, m, c, labels.Set(pod.Labels), int32(adminPort))
	})

	t.Run("OKDisruptionAndScaling", func(t *testing.T) {
		sel, err := metaSelector(m.pdb.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
			t.Errorf("PDB selector does not select the pods (%v)", err)
		}
		if m.pdb.Spec.MinAvailable == nil && m.pdb.Spec.MaxUnavailable == nil {
			t.Errorf("PDB sets neither minAvailable nor maxUnavailable")
		}
		ref := m.hpa.Spec.ScaleTargetRef
		if ref.Kind != "Deployment" || ref.Name != m.deployment.Name {
			t.Errorf("HPA targets %s/%s", ref.Kind, ref.Name)
		}
		if m.hpa.Spec.MinReplicas == nil || *m.hpa.Spec.MinReplicas < 2 || m.hpa.Spec.MaxReplicas < *m.hpa.Spec.MinReplicas {
			t.Errorf("HPA replicas %v..%d", m.hpa.Spec.MinReplicas, m.hpa.Spec.MaxReplicas)
		}
		if len(c.Resources.Requests) == 0 {
			t.Errorf("an HPA on CPU utilisation needs CPU requests")
		}
	})
}

// checkNetworkPolicies asserts that NetworkPolicies selecting the pods allow ingress to every
// container port, each port by a rule of its own, and that no rule opens the admin port to
// every source.
func checkNetworkPolicies(t *testing.T, m manifests, c corev1.Container, podLabels labels.Set, adminPort int32) {
	t.Helper()
	covered := map[int32]bool{}
	for _, np := range m.policies {
		sel, err := metaSelector(&np.Spec.PodSelector)
		if err != nil || !sel.Matches(podLabels) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
			continue
		}
		for _, rule := range np.Spec.Ingress {
			var ports []int32
			for _, p := range rule.Ports {
				if p.Port == nil {
					continue
				}
				port, err := containerPort(c, p.Port.StrVal, p.Port.IntVal)
				if err != nil {
					t.Errorf("NetworkPolicy %s: %v", np.Name, err)
					continue
				}
				ports = append(ports, port)
			}
			if len(rule.Ports) == 0 {
				t.Errorf("NetworkPolicy %s has a rule for every port; name each port", np.Name)
			}
			for _, port := range ports {
				covered[port] = true
				if port == adminPort && len(rule.From) == 0 {
					t.Errorf("NetworkPolicy %s opens the admin port %d to every source", np.Name, adminPort)
				}
			}
		}
	}
	for _, p := range c.Ports {
		if !covered[p.ContainerPort] {
			t.Errorf("no NetworkPolicy allows ingress to container port %s (%d)", p.Name, p.ContainerPort)
		}
	}
}
