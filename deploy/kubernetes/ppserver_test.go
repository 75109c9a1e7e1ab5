package kubernetes

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// repoRoot is the ppgo checkout this module sits in.
const repoRoot = "../.."

// venvVar names a virtual environment with the ppgo wheel installed, laid
// out as the image's /opt/ppgo: ppserver beside python3. make test-deploy
// sets it to the checkout's .venv.
const venvVar = "PPGO_VENV"

// runDeadline bounds each process the tests run, so that a broken setup
// (a client that finds no node waits for one) fails instead of hanging.
const runDeadline = 2 * time.Minute

var (
	buildOnce  sync.Once
	builtPath  string
	builtError error
)

// ppserverBinary builds ppserver from this checkout once per test run.
func ppserverBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ppserver-build-")
		if err != nil {
			builtError = err
			return
		}
		builtPath = filepath.Join(dir, "ppserver")
		cmd := exec.Command("go", "build", "-o", builtPath, "./ppserver")
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			builtError = fmt.Errorf("go build ./ppserver: %w\n%s", err, out)
		}
	})
	if builtError != nil {
		t.Fatal(builtError)
	}
	return builtPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtPath != "" {
		os.RemoveAll(filepath.Dir(builtPath))
	}
	os.Exit(code)
}

// podRoot stands in for a pod's file system: paths the manifests name
// (the Secret's file, the client script) are made under it.
type podRoot string

func (r podRoot) path(p string) string { return filepath.Join(string(r), p) }

func (r podRoot) write(t *testing.T, p string, data []byte, mode os.FileMode) string {
	t.Helper()
	full := r.path(p)
	if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, data, mode); err != nil {
		t.Fatal(err)
	}
	return full
}

// withSecret lays out the Secret where the pod's PP_SECRET_FILE points,
// holding a fresh random secret, and returns the container's environment
// with that variable pointing into root.
func withSecret(t *testing.T, root podRoot, env map[string]string) map[string]string {
	t.Helper()
	raw := make([]byte, 32)
	rand.Read(raw)
	secret := base64.StdEncoding.EncodeToString(raw) + "\n" // as `base64` writes it
	out := map[string]string{}
	for k, v := range env {
		out[k] = v
	}
	out[secretFileVar] = root.write(t, env[secretFileVar], []byte(secret), 0o400)
	return out
}

// environ is this process's environment without pp's variables, plus env.
func environ(env map[string]string) []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name != "PP_SECRET" && name != secretFileVar && name != ppserversVar {
			out = append(out, kv)
		}
	}
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// checkFlags has ppserver parse args as it would at start-up, reading the
// secret file too, and stop there: --version comes after every other flag
// has been checked.
func checkFlags(exe string, args []string, env map[string]string) error {
	ctx, cancel := context.WithTimeout(context.Background(), runDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, slices.Concat(args, []string{"--version"})...)
	cmd.Env = environ(env)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("ppserver %q: %w\n%s", args, err, out)
	}
	return nil
}

func TestPPServerAcceptsTheFlags(t *testing.T) {
	m := load(t)
	exe := ppserverBinary(t)
	env, err := containerEnv(m.server)
	if err != nil {
		t.Fatal(err)
	}
	env = withSecret(t, podRoot(t.TempDir()), env)
	if err := checkFlags(exe, m.expanded, env); err != nil {
		t.Fatal(err)
	}
	// The check itself: flags ppserver refuses, or a secret file that is
	// not there, must fail it.
	for _, bad := range [][]string{
		slices.Concat(m.expanded, []string{"-w", "0"}),
		slices.Concat(m.expanded, []string{"--workers", "2"}),
		slices.Concat(m.expanded, []string{"--secret-file", "/nonexistent/secret"}),
		slices.Concat(m.expanded, []string{metricsFlag, "9100"}),
	} {
		if err := checkFlags(exe, bad, env); err == nil {
			t.Errorf("ppserver %q passed the check", bad)
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startServer runs ppserver with the Deployment's flags and environment,
// its pp port and metrics listener moved to free ports on loopback (flags
// given later win), and waits until it listens. It is stopped, by
// SIGTERM, when the test ends.
func startServer(t *testing.T, exe string, args []string, env map[string]string) (port, metricsPort int, stderr func() string) {
	t.Helper()
	port, metricsPort = freePort(t), freePort(t)
	args = slices.Concat(args, []string{"-i", "127.0.0.1", "-p", strconv.Itoa(port),
		metricsFlag, net.JoinHostPort("127.0.0.1", strconv.Itoa(metricsPort))})
	cmd := exec.Command(exe, args...)
	cmd.Env = environ(env)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var log strings.Builder
	listening := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pipe)
		once := sync.Once{}
		for sc.Scan() {
			mu.Lock()
			log.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if strings.Contains(sc.Text(), "Listening on") {
				once.Do(func() { close(listening) })
			}
		}
	}()
	stderr = func() string {
		mu.Lock()
		defer mu.Unlock()
		return log.String()
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		<-done
		if err := cmd.Wait(); err != nil {
			t.Errorf("ppserver exited with %v after SIGTERM; its log:\n%s", err, stderr())
		}
	})
	select {
	case <-listening:
	case <-done:
		t.Fatalf("ppserver %q exited before listening:\n%s", args, stderr())
	case <-time.After(runDeadline):
		t.Fatalf("ppserver %q did not listen within %v:\n%s", args, runDeadline, stderr())
	}
	return port, metricsPort, stderr
}

// checkProbes sends the Deployment's probes, as the kubelet would, to a
// ppserver started with its flags whose metrics listener is on
// metricsPort: each must succeed.
func checkProbes(t *testing.T, m *manifests, metricsPort int) {
	t.Helper()
	for name, probe := range map[string]*corev1.Probe{
		"readiness": m.server.ReadinessProbe,
		"liveness":  m.server.LivenessProbe,
	} {
		if probe == nil || probe.HTTPGet == nil {
			t.Errorf("%s probe is no HTTP GET", name)
			continue
		}
		url := fmt.Sprintf("http://127.0.0.1:%d%s", metricsPort, probe.HTTPGet.Path)
		res, err := http.Get(url)
		if err != nil {
			t.Errorf("%s probe: GET %s: %v", name, url, err)
			continue
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		// The kubelet counts 200 to 399 as success.
		if err != nil || res.StatusCode < http.StatusOK || res.StatusCode >= http.StatusBadRequest {
			t.Errorf("%s probe: GET %s: %s %q (%v), want success", name, url, res.Status, body, err)
		}
	}
}

// clientSummary is the client script's last line.
var clientSummary = regexp.MustCompile(`(?m)^(\d+) of (\d+) jobs right, run on (\d+) node\(s\)$`)

// TestClientScriptRunsOnPPServer runs the pieces of the deployment as far
// as this machine allows: ppserver with the Deployment's flags and
// environment, the Secret laid out where the pods mount it, and the Job's
// script from its ConfigMap with the Job's environment, on loopback in
// place of the Service's name.
func TestClientScriptRunsOnPPServer(t *testing.T) {
	venv := os.Getenv(venvVar)
	if venv == "" {
		t.Skipf("%s is not set: it names a virtual environment with ppgo installed (make test-deploy sets it)", venvVar)
	}
	m := load(t)
	root := podRoot(t.TempDir())
	serverEnv, err := containerEnv(m.server)
	if err != nil {
		t.Fatal(err)
	}
	clientEnv, err := containerEnv(m.client)
	if err != nil {
		t.Fatal(err)
	}
	// Both pods mount the same Secret; here they share one file.
	if clientEnv[secretFileVar] != serverEnv[secretFileVar] {
		t.Fatalf("client reads the secret from %s, ppserver from %s",
			clientEnv[secretFileVar], serverEnv[secretFileVar])
	}
	serverEnv = withSecret(t, root, serverEnv)
	port, metricsPort, serverLog := startServer(t, filepath.Join(venv, "bin", "ppserver"), m.expanded, serverEnv)
	checkProbes(t, m, metricsPort)

	clientEnv[secretFileVar] = serverEnv[secretFileVar]
	clientEnv[ppserversVar] = fmt.Sprintf("127.0.0.1:%d", port)
	dir, file := scriptPath(t, m)
	script := root.write(t, filepath.Join(dir, file), []byte(m.script.Data[file]), 0o444)

	ctx, cancel := context.WithTimeout(context.Background(), runDeadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(venv, "bin", "python3"), script)
	cmd.Env = environ(clientEnv)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	t.Logf("client output:\n%s", out)
	if err != nil {
		t.Fatalf("client script: %v; ppserver's log:\n%s", err, serverLog())
	}
	sum := clientSummary.FindSubmatch(out)
	if sum == nil {
		t.Fatalf("client printed no summary line")
	}
	if string(sum[1]) != string(sum[2]) || string(sum[1]) == "0" || string(sum[3]) != "1" {
		t.Errorf("client: %s; want every job right, on the one ppserver", sum[0])
	}
	if !strings.Contains(serverLog(), "client connected") {
		t.Errorf("ppserver logged no client:\n%s", serverLog())
	}
}
