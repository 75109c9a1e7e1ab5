package kubernetes

import (
	"bytes"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/ppgo/ppgo/core/metrics"
)

// The names the manifests and docs/DEPLOY.md agree on.
const (
	namespace      = "ppgo"
	serviceName    = "ppserver"
	metricsService = "ppserver-metrics" // the Service Prometheus finds the pods' metrics by
	deployName     = "ppserver"
	serverName     = "ppserver" // the Deployment's container
	jobName        = "ppgo-client"
	clientName     = "client" // the Job's container
	secretName     = "ppgo-secret"
	secretKey      = "secret"
	secretFileVar  = "PP_SECRET_FILE"
	ppserversVar   = "PPSERVERS"
	deployDocsPath = "../../docs/DEPLOY.md"
	healthPath     = "/healthz" // what the probes ask, on the metrics listener
	metricsPath    = "/metrics"
	metricsFlag    = "--metrics"
	scraperLabel   = "ppgo/metrics-scraper" // the pods the NetworkPolicy lets scrape
)

func container(t *testing.T, spec *corev1.PodSpec, name string) *corev1.Container {
	t.Helper()
	for i := range spec.Containers {
		if spec.Containers[i].Name == name {
			return &spec.Containers[i]
		}
	}
	t.Fatalf("no container %q in the pod spec", name)
	return nil
}

func envVar(c *corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

// manifests are the objects the checks look at, found by the names the
// docs use, and what follows from them.
type manifests struct {
	service  *corev1.Service
	metrics  *corev1.Service // metricsService
	deploy   *appsv1.Deployment
	server   *corev1.Container
	job      *batchv1.Job
	client   *corev1.Container
	script   *corev1.ConfigMap
	policy   *networkingv1.NetworkPolicy
	all      []runtime.Object
	ppPort   corev1.ContainerPort // the server container's port the Service targets
	svcPort  corev1.ServicePort
	expanded []string // ppserver's args as Kubernetes expands them
}

func load(t *testing.T) *manifests {
	t.Helper()
	all := loadManifests(t)
	m := &manifests{
		all:     all,
		service: named[*corev1.Service](t, all, serviceName),
		metrics: named[*corev1.Service](t, all, metricsService),
		deploy:  named[*appsv1.Deployment](t, all, deployName),
		job:     named[*batchv1.Job](t, all, jobName),
		script:  named[*corev1.ConfigMap](t, all, jobName),
		policy:  named[*networkingv1.NetworkPolicy](t, all, serviceName),
	}
	m.server = container(t, &m.deploy.Spec.Template.Spec, serverName)
	m.client = container(t, &m.job.Spec.Template.Spec, clientName)
	if len(m.service.Spec.Ports) != 1 {
		t.Fatalf("Service %s: want one port, has %d", serviceName, len(m.service.Spec.Ports))
	}
	m.svcPort = m.service.Spec.Ports[0]
	p, err := containerPort(m.server, m.svcPort.TargetPort)
	if err != nil {
		t.Fatalf("Service %s targets %s: %v", serviceName, m.svcPort.TargetPort.String(), err)
	}
	m.ppPort = p
	env, err := containerEnv(m.server)
	if err != nil {
		t.Fatal(err)
	}
	if m.expanded, err = expandArgs(m.server.Args, env); err != nil {
		t.Fatalf("container %s: %v", serverName, err)
	}
	return m
}

// containerPort finds the container port a Service or probe port names, by
// name or by number.
func containerPort(c *corev1.Container, port intstr.IntOrString) (corev1.ContainerPort, error) {
	for _, p := range c.Ports {
		if (port.Type == intstr.String && p.Name == port.StrVal) ||
			(port.Type == intstr.Int && p.ContainerPort == port.IntVal) {
			return p, nil
		}
	}
	return corev1.ContainerPort{}, fmt.Errorf("container %s has no port %s", c.Name, port.String())
}

// containerEnv is the environment Kubernetes gives the container: literal
// values, and resource fields computed as the kubelet computes them.
func containerEnv(c *corev1.Container) (map[string]string, error) {
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.ResourceFieldRef != nil:
			v, err := resourceField(c, e.ValueFrom.ResourceFieldRef)
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
			env[e.Name] = v
		default:
			return nil, fmt.Errorf("env %s: only values and resource fields are understood here", e.Name)
		}
	}
	return env, nil
}

// resourceField is a CPU request or limit as the downward API gives it:
// divided by the divisor and rounded up.
func resourceField(c *corev1.Container, ref *corev1.ResourceFieldSelector) (string, error) {
	if ref.ContainerName != "" && ref.ContainerName != c.Name {
		return "", fmt.Errorf("refers to container %q, not its own, %q", ref.ContainerName, c.Name)
	}
	var q resource.Quantity
	var ok bool
	switch ref.Resource {
	case "requests.cpu":
		q, ok = c.Resources.Requests[corev1.ResourceCPU]
	case "limits.cpu":
		q, ok = c.Resources.Limits[corev1.ResourceCPU]
	default:
		return "", fmt.Errorf("resource %q: only requests.cpu and limits.cpu are understood here", ref.Resource)
	}
	if !ok {
		return "", fmt.Errorf("%s is not set", ref.Resource)
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	n := math.Ceil(float64(q.MilliValue()) / float64(divisor.MilliValue()))
	return strconv.FormatInt(int64(n), 10), nil
}

// varRef is Kubernetes' $(NAME) reference to an environment variable in a
// container's command and args.
var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// expandArgs replaces $(NAME) in args with the container's variables, as
// Kubernetes does. A reference to an undefined variable is an error here
// (Kubernetes would pass it on literally, which is never what was meant).
func expandArgs(args []string, env map[string]string) ([]string, error) {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.Contains(a, "$$") {
			return nil, fmt.Errorf("argument %q: escaped $$ is not understood here", a)
		}
		var missing []string
		out[i] = varRef.ReplaceAllStringFunc(a, func(ref string) string {
			name := varRef.FindStringSubmatch(ref)[1]
			v, ok := env[name]
			if !ok {
				missing = append(missing, name)
			}
			return v
		})
		if len(missing) > 0 {
			return nil, fmt.Errorf("argument %q refers to undefined variables %v", a, missing)
		}
	}
	return out, nil
}

// secretFile is where a container's PP_SECRET_FILE points, as the Secret
// volume mounted there lays it out: it must name the Secret's key.
func secretFile(t *testing.T, spec *corev1.PodSpec, c *corev1.Container) (mountPath, file string) {
	t.Helper()
	e := envVar(c, secretFileVar)
	if e == nil || e.Value == "" {
		t.Fatalf("container %s: no %s", c.Name, secretFileVar)
	}
	dir, file := filepath.Split(e.Value)
	dir = filepath.Clean(dir)
	var volume string
	for _, m := range c.VolumeMounts {
		if filepath.Clean(m.MountPath) == dir {
			if !m.ReadOnly {
				t.Errorf("container %s: the secret's mount %s is not read-only", c.Name, m.MountPath)
			}
			volume = m.Name
		}
	}
	if volume == "" {
		t.Fatalf("container %s: %s=%s is in no volume mounted at %s", c.Name, secretFileVar, e.Value, dir)
	}
	for _, v := range spec.Volumes {
		if v.Name != volume {
			continue
		}
		if v.Secret == nil || v.Secret.SecretName != secretName {
			t.Fatalf("container %s: volume %s mounted at %s is not the Secret %s", c.Name, volume, dir, secretName)
		}
		for _, item := range v.Secret.Items {
			if item.Path == file {
				if item.Key != secretKey {
					t.Errorf("container %s: %s is the Secret's key %q, not %q", c.Name, e.Value, item.Key, secretKey)
				}
				if !secretReadable(spec, v.Secret, item) {
					t.Errorf("container %s: %s is not readable by the pod's user", c.Name, e.Value)
				}
				return dir, file
			}
		}
		t.Fatalf("container %s: the Secret volume %s has no item at %s", c.Name, volume, file)
	}
	t.Fatalf("container %s: no volume %s in the pod", c.Name, volume)
	return "", ""
}

// defaultSecretMode is a Secret volume's file mode when the manifest
// gives none (corev1.SecretVolumeSourceDefaultMode).
const defaultSecretMode = 0o644

// secretReadable tells whether the pod's user may read a file of a Secret
// volume. The kubelet makes it root's, in the group fsGroup if the pod has
// one (a group the pod's processes are in), else root's group.
func secretReadable(spec *corev1.PodSpec, src *corev1.SecretVolumeSource, item corev1.KeyToPath) bool {
	mode := int32(defaultSecretMode)
	if item.Mode != nil {
		mode = *item.Mode
	} else if src.DefaultMode != nil {
		mode = *src.DefaultMode
	}
	psc := spec.SecurityContext
	switch {
	case mode&0o004 != 0:
		return true
	case psc != nil && psc.RunAsUser != nil && *psc.RunAsUser == 0:
		return mode&0o400 != 0
	case psc != nil && psc.FSGroup != nil:
		return mode&0o040 != 0
	}
	return false
}

func TestNamesAndLabels(t *testing.T) {
	all := loadManifests(t)
	named[*corev1.Namespace](t, all, namespace)
	for _, o := range all {
		meta, err := metaOf(o)
		if err != nil {
			t.Fatal(err)
		}
		kind := fmt.Sprintf("%T %s", o, meta.GetName())
		if _, isNS := o.(*corev1.Namespace); !isNS && meta.GetNamespace() != namespace {
			t.Errorf("%s: namespace %q, want %q", kind, meta.GetNamespace(), namespace)
		}
		for _, msg := range validation.IsDNS1123Label(meta.GetName()) {
			t.Errorf("%s: name: %s", kind, msg)
		}
		checkLabels(t, kind, meta.GetLabels())
	}
}

func metaOf(o runtime.Object) (metav1.Object, error) {
	meta, ok := o.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no object metadata", o)
	}
	return meta, nil
}

func checkLabels(t *testing.T, where string, set map[string]string) {
	t.Helper()
	for k, v := range set {
		for _, msg := range validation.IsQualifiedName(k) {
			t.Errorf("%s: label key %q: %s", where, k, msg)
		}
		for _, msg := range validation.IsValidLabelValue(v) {
			t.Errorf("%s: label %s value %q: %s", where, k, v, msg)
		}
	}
}

func TestServiceSelectsTheServers(t *testing.T) {
	m := load(t)
	if m.service.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("Service %s is not headless (clusterIP %q): its name would resolve to one virtual IP, not to every node",
			serviceName, m.service.Spec.ClusterIP)
	}
	if m.service.Spec.PublishNotReadyAddresses {
		t.Errorf("Service %s publishes pods that are not ready: clients would dial nodes still starting", serviceName)
	}
	tmpl := labels.Set(m.deploy.Spec.Template.Labels)
	checkLabels(t, "Deployment's pod template", tmpl)
	if len(m.service.Spec.Selector) == 0 || !labels.SelectorFromSet(m.service.Spec.Selector).Matches(tmpl) {
		t.Errorf("Service selector %v does not select the Deployment's pods %v", m.service.Spec.Selector, tmpl)
	}
	sel, err := metav1.LabelSelectorAsSelector(m.deploy.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(tmpl) {
		t.Errorf("Deployment selector %v does not select its own pods %v (%v)", m.deploy.Spec.Selector, tmpl, err)
	}
	if m.svcPort.Protocol != corev1.ProtocolTCP || m.ppPort.Protocol != corev1.ProtocolTCP {
		t.Errorf("pp runs over TCP: Service port %s, container port %s", m.svcPort.Protocol, m.ppPort.Protocol)
	}
	if m.svcPort.Port != m.ppPort.ContainerPort {
		// A headless Service does no port mapping: clients dial the pods'
		// addresses at the Service's port.
		t.Errorf("headless Service port %d differs from the container port %d it targets",
			m.svcPort.Port, m.ppPort.ContainerPort)
	}
	if got := flagValue(m.expanded, "-p"); got != strconv.Itoa(int(m.ppPort.ContainerPort)) {
		t.Errorf("ppserver listens on -p %q, the container port is %d", got, m.ppPort.ContainerPort)
	}
}

// flagValue is the last value of a ppserver flag given as "-p VALUE".
func flagValue(args []string, flag string) string {
	v := ""
	for i := 0; i+1 < len(args); i++ {
		if args[i] == flag {
			v = args[i+1]
		}
	}
	return v
}

// longFlagValue is the last value of a ppserver flag given as "--flag
// VALUE" or "--flag=VALUE", as ppserver reads it (later flags win), and
// whether it is there at all.
func longFlagValue(args []string, flag string) (string, bool) {
	v, found := "", false
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == flag && i+1 < len(args):
			v, found = args[i+1], true
			i++
		case strings.HasPrefix(args[i], flag+"="):
			v, found = strings.TrimPrefix(args[i], flag+"="), true
		}
	}
	return v, found
}

// metricsListen is the container port ppserver's --metrics binds, the
// address parsed as ppserver parses it. The kubelet probes, and
// Prometheus scrapes, the pod's address, so the listener must take every
// address: no host, or "::" (IPv6 and IPv4 alike, as -i :: does); an IPv4
// wildcard would miss an IPv6 cluster, and any one address the others.
func metricsListen(m *manifests) (corev1.ContainerPort, error) {
	raw, ok := longFlagValue(m.expanded, metricsFlag)
	if !ok {
		return corev1.ContainerPort{}, fmt.Errorf("ppserver has no %s: the probes have no /healthz to ask", metricsFlag)
	}
	addr, err := metrics.ParseAddr(raw)
	if err != nil {
		return corev1.ContainerPort{}, err
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return corev1.ContainerPort{}, fmt.Errorf("%s %q: %w", metricsFlag, raw, err)
	}
	if host != "" && host != "::" {
		return corev1.ContainerPort{}, fmt.Errorf("%s %q listens on %s only: the pod's address must reach it (\":PORT\")",
			metricsFlag, raw, host)
	}
	n, _ := strconv.Atoi(port) // ParseAddr checked it
	if n == 0 {
		return corev1.ContainerPort{}, fmt.Errorf("%s %q: port 0 is a random port nothing else could name", metricsFlag, raw)
	}
	p, err := containerPort(m.server, intstr.FromInt32(int32(n)))
	if err != nil {
		return corev1.ContainerPort{}, fmt.Errorf("%s %q: %w", metricsFlag, raw, err)
	}
	return p, nil
}

func TestProbesAskHealthz(t *testing.T) {
	m := load(t)
	listen, err := metricsListen(m)
	if err != nil {
		t.Fatal(err)
	}
	for name, probe := range map[string]*corev1.Probe{
		"readiness": m.server.ReadinessProbe,
		"liveness":  m.server.LivenessProbe,
	} {
		if probe == nil || probe.HTTPGet == nil {
			// A TCP probe of the pp port is a failed handshake each time,
			// and cannot tell a draining node from a serving one.
			t.Errorf("%s probe: want an HTTP GET of %s, have %+v", name, healthPath, probe)
			continue
		}
		get := probe.HTTPGet
		if get.Path != healthPath {
			t.Errorf("%s probe asks %q, want %q", name, get.Path, healthPath)
		}
		if get.Scheme != "" && get.Scheme != corev1.URISchemeHTTP {
			t.Errorf("%s probe uses %s: the metrics listener speaks plain HTTP", name, get.Scheme)
		}
		p, err := containerPort(m.server, get.Port)
		if err != nil || p.ContainerPort != listen.ContainerPort {
			t.Errorf("%s probe asks port %s, not %d where %s listens (%v)",
				name, get.Port.String(), listen.ContainerPort, metricsFlag, err)
		}
	}
	// A slow node must be restarted only after it stops being ready, not
	// as soon as a readiness probe fails.
	r, l := m.server.ReadinessProbe, m.server.LivenessProbe
	if r != nil && l != nil && l.PeriodSeconds*max(l.FailureThreshold, 1) <= r.PeriodSeconds*max(r.FailureThreshold, 1) {
		t.Errorf("liveness gives up (%ds) no later than readiness (%ds)",
			l.PeriodSeconds*l.FailureThreshold, r.PeriodSeconds*r.FailureThreshold)
	}
}

func TestMetricsServiceFindsEveryPod(t *testing.T) {
	m := load(t)
	listen, err := metricsListen(m)
	if err != nil {
		t.Fatal(err)
	}
	svc := m.metrics.Spec
	tmpl := labels.Set(m.deploy.Spec.Template.Labels)
	if len(svc.Selector) == 0 || !labels.SelectorFromSet(svc.Selector).Matches(tmpl) {
		t.Errorf("Service %s selector %v does not select the Deployment's pods %v", metricsService, svc.Selector, tmpl)
	}
	if svc.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("Service %s is not headless: Prometheus must reach every pod, not one of them", metricsService)
	}
	if !svc.PublishNotReadyAddresses {
		t.Errorf("Service %s leaves out pods that are not ready: a draining pod's last figures go unscraped", metricsService)
	}
	if len(svc.Ports) != 1 {
		t.Fatalf("Service %s: want one port, has %d", metricsService, len(svc.Ports))
	}
	sp := svc.Ports[0]
	p, err := containerPort(m.server, sp.TargetPort)
	if err != nil || p.ContainerPort != listen.ContainerPort || sp.Port != listen.ContainerPort {
		t.Errorf("Service %s port %d targets %s, not %d where %s listens (%v)",
			metricsService, sp.Port, sp.TargetPort.String(), listen.ContainerPort, metricsFlag, err)
	}
	// The prometheus.io annotations some Prometheus configurations follow.
	ann := m.metrics.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/path"] != metricsPath ||
		ann["prometheus.io/port"] != strconv.Itoa(int(listen.ContainerPort)) {
		t.Errorf("Service %s annotations %v: want scrape \"true\", path %s, port %d",
			metricsService, ann, metricsPath, listen.ContainerPort)
	}
}

func TestWorkersFollowTheCPURequest(t *testing.T) {
	m := load(t)
	res := m.server.Resources
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := res.Requests[r]
		lim, hasLim := res.Limits[r]
		if !hasReq || !hasLim {
			t.Errorf("container %s: %s needs a request and a limit", serverName, r)
		} else if req.Cmp(lim) > 0 {
			t.Errorf("container %s: %s request %s above its limit %s", serverName, r, req.String(), lim.String())
		}
	}
	// -w must come from the CPU request by the downward API, not be a
	// number kept in step by hand.
	raw := flagValue(m.server.Args, "-w")
	ref := varRef.FindStringSubmatch(raw)
	if ref == nil || ref[0] != raw {
		t.Fatalf("-w %q: want $(VAR) of a variable set from the CPU request", raw)
	}
	e := envVar(m.server, ref[1])
	if e == nil || e.ValueFrom == nil || e.ValueFrom.ResourceFieldRef == nil ||
		e.ValueFrom.ResourceFieldRef.Resource != "requests.cpu" {
		t.Fatalf("-w %s: %s is not the container's requests.cpu", raw, ref[1])
	}
	cpu := res.Requests[corev1.ResourceCPU]
	want := strconv.FormatInt(int64(math.Ceil(float64(cpu.MilliValue())/1000)), 10)
	if got := flagValue(m.expanded, "-w"); got != want {
		t.Errorf("-w expands to %s workers for a request of %s CPUs, want %s", got, cpu.String(), want)
	}
	if n, _ := strconv.Atoi(want); n < 1 {
		t.Errorf("a CPU request of %s gives no worker", cpu.String())
	}
}

func TestSecretComesFromTheSecret(t *testing.T) {
	m := load(t)
	for _, pod := range []struct {
		spec *corev1.PodSpec
		c    *corev1.Container
	}{{&m.deploy.Spec.Template.Spec, m.server}, {&m.job.Spec.Template.Spec, m.client}} {
		secretFile(t, pod.spec, pod.c)
		if e := envVar(pod.c, "PP_SECRET"); e != nil {
			t.Errorf("container %s: PP_SECRET is set; the secret comes from %s", pod.c.Name, secretFileVar)
		}
		for _, a := range append(slices.Clone(pod.c.Command), pod.c.Args...) {
			if a == "-s" || strings.HasPrefix(a, "-s") && !strings.HasPrefix(a, "--") {
				t.Errorf("container %s: the secret is on the command line (%q)", pod.c.Name, a)
			}
		}
	}
	// The Secret is made by hand, as docs/DEPLOY.md says: its command must
	// make the name and key the pods mount.
	docs, err := os.ReadFile(deployDocsPath)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("kubectl -n %s create secret generic %s --from-file=%s=", namespace, secretName, secretKey)
	if !bytes.Contains(docs, []byte(want)) {
		t.Errorf("%s does not show how to create the Secret (%q)", deployDocsPath, want)
	}
}

func TestPodsRunUnprivileged(t *testing.T) {
	m := load(t)
	for _, pod := range []struct {
		spec *corev1.PodSpec
		c    *corev1.Container
	}{{&m.deploy.Spec.Template.Spec, m.server}, {&m.job.Spec.Template.Spec, m.client}} {
		where := "container " + pod.c.Name
		psc, sc := pod.spec.SecurityContext, pod.c.SecurityContext
		if psc == nil || sc == nil {
			t.Errorf("%s: no security context", where)
			continue
		}
		if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
			t.Errorf("%s: not held to a non-root user", where)
		}
		if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("%s: no RuntimeDefault seccomp profile", where)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: privilege escalation allowed", where)
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: root filesystem writable", where)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			t.Errorf("%s: capabilities not all dropped", where)
		}
		if pod.spec.AutomountServiceAccountToken == nil || *pod.spec.AutomountServiceAccountToken {
			t.Errorf("%s: jobs' code could read the service account token", where)
		}
	}
}

func TestClientJobDialsTheService(t *testing.T) {
	m := load(t)
	e := envVar(m.client, ppserversVar)
	want := fmt.Sprintf("%s.%s.svc.cluster.local:%d", serviceName, m.service.Namespace, m.svcPort.Port)
	if e == nil {
		t.Errorf("the client has no %s; want %q", ppserversVar, want)
	} else if e.Value != want {
		t.Errorf("the client's %s is %q, want %q", ppserversVar, e.Value, want)
	}
	if m.job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("the Job's pods restart in place (%q): a failed run should show as a failed pod",
			m.job.Spec.Template.Spec.RestartPolicy)
	}
	if m.job.Spec.ActiveDeadlineSeconds == nil {
		t.Errorf("the Job has no deadline: a client that finds no node waits for ever")
	}
	if m.client.Image != m.server.Image {
		t.Errorf("client image %q differs from ppserver's %q", m.client.Image, m.server.Image)
	}
	scriptDir, scriptFile := scriptPath(t, m)
	if _, ok := m.script.Data[scriptFile]; !ok {
		t.Errorf("ConfigMap %s has no %s, which the Job runs from %s", m.script.Name, scriptFile, scriptDir)
	}
}

// scriptPath is the mount and file name of the script the Job's command
// runs, which must be the ConfigMap's.
func scriptPath(t *testing.T, m *manifests) (dir, file string) {
	t.Helper()
	if len(m.client.Command) != 2 || m.client.Command[0] != "python3" {
		t.Fatalf("the Job's command %q: want python3 SCRIPT", m.client.Command)
	}
	dir, file = filepath.Split(m.client.Command[1])
	dir = filepath.Clean(dir)
	for _, mount := range m.client.VolumeMounts {
		if filepath.Clean(mount.MountPath) != dir {
			continue
		}
		for _, v := range m.job.Spec.Template.Spec.Volumes {
			if v.Name == mount.Name && v.ConfigMap != nil && v.ConfigMap.Name == m.script.Name {
				return dir, file
			}
		}
	}
	t.Fatalf("the Job's script %s is not in the ConfigMap %s", m.client.Command[1], m.script.Name)
	return "", ""
}

// peer is a pod as a NetworkPolicy sees it: its labels, and its
// namespace's name and labels.
type peer struct {
	pod, namespace labels.Set
	namespaceName  string
}

// admits tells whether pol lets from reach the ppserver pods' port (TCP),
// by the rules of NetworkPolicy: a rule admits its peers on its ports; no
// peers is everyone, no ports every port; a pod selector alone picks pods
// of the policy's own namespace, a namespace selector alone every pod of
// the namespaces it picks, both together the pods it picks there.
func admits(t *testing.T, m *manifests, from peer, port int32) bool {
	t.Helper()
	pol := m.policy
	for _, rule := range pol.Spec.Ingress {
		peerOK := len(rule.From) == 0 || slices.ContainsFunc(rule.From, func(p networkingv1.NetworkPolicyPeer) bool {
			return peerMatches(t, p, pol.Namespace, from)
		})
		portOK := len(rule.Ports) == 0 || slices.ContainsFunc(rule.Ports, func(p networkingv1.NetworkPolicyPort) bool {
			if p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP {
				return false
			}
			if p.Port == nil {
				return true // every port
			}
			cp, err := containerPort(m.server, *p.Port)
			if err != nil {
				return false
			}
			if p.EndPort != nil {
				return cp.ContainerPort <= port && port <= *p.EndPort
			}
			return cp.ContainerPort == port
		})
		if peerOK && portOK {
			return true
		}
	}
	return false
}

func peerMatches(t *testing.T, p networkingv1.NetworkPolicyPeer, policyNamespace string, from peer) bool {
	t.Helper()
	if p.IPBlock != nil {
		t.Fatalf("NetworkPolicy %s: an ipBlock peer; pods are let in by their labels only", serviceName)
	}
	selects := func(sel *metav1.LabelSelector, set labels.Set) bool {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil {
			t.Fatalf("NetworkPolicy %s: selector %v: %v", serviceName, sel, err)
		}
		return s.Matches(set)
	}
	if p.NamespaceSelector == nil {
		return from.namespaceName == policyNamespace && selects(p.PodSelector, from.pod)
	}
	if !selects(p.NamespaceSelector, from.namespace) {
		return false
	}
	return p.PodSelector == nil || selects(p.PodSelector, from.pod)
}

func TestNetworkPolicyLetsInClientsAndScrapers(t *testing.T) {
	m := load(t)
	pol := m.policy.Spec
	sel, err := metav1.LabelSelectorAsSelector(&pol.PodSelector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(m.deploy.Spec.Template.Labels)) {
		t.Fatalf("NetworkPolicy %s does not apply to the ppserver pods (%v)", m.policy.Name, err)
	}
	if !slices.Contains(pol.PolicyTypes, networkingv1.PolicyTypeIngress) {
		t.Fatalf("NetworkPolicy %s does not restrict ingress (types %v)", m.policy.Name, pol.PolicyTypes)
	}
	listen, err := metricsListen(m)
	if err != nil {
		t.Fatal(err)
	}
	pp, metricsPort := m.ppPort.ContainerPort, listen.ContainerPort
	inNamespace := func(name string, pod labels.Set) peer {
		return peer{pod: pod, namespaceName: name, namespace: labels.Set{"kubernetes.io/metadata.name": name}}
	}
	client := inNamespace(namespace, labels.Set(m.job.Spec.Template.Labels))
	scraper := inNamespace("monitoring", labels.Set{"app.kubernetes.io/name": "prometheus", scraperLabel: "true"})
	stranger := inNamespace(namespace, labels.Set{"app.kubernetes.io/name": "other"})
	for _, c := range []struct {
		who   string
		from  peer
		port  int32
		admit bool
	}{
		{"the client Job's pods", client, pp, true},
		{"a scraper from another namespace", scraper, metricsPort, true},
		{"a scraper", scraper, pp, false},
		{"another pod of the namespace", stranger, pp, false},
		{"another pod of the namespace", stranger, metricsPort, false},
	} {
		if got := admits(t, m, c.from, c.port); got != c.admit {
			t.Errorf("NetworkPolicy %s: %s %v reach port %d: %v, want %v", m.policy.Name, c.who, c.from.pod, c.port, got, c.admit)
		}
	}
	// The label to give a scraper is documented.
	docs, err := os.ReadFile(deployDocsPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(docs, []byte(scraperLabel)) {
		t.Errorf("%s does not say which label lets a scraper in (%s)", deployDocsPath, scraperLabel)
	}
}
