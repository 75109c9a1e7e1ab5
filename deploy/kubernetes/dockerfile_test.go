package kubernetes

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"golang.org/x/mod/modfile"
)

const (
	dockerfilePath = "../Dockerfile"
	// BuildKit reads the ignore file beside the Dockerfile, named after it.
	dockerignorePath = "../Dockerfile.dockerignore"
	goModPath        = repoRoot + "/go.mod"
)

// image is what the manifests rely on in the image the Dockerfile builds.
type image struct {
	stages     []instructions.Stage
	args       map[string]string // the global ARGs' defaults
	user       string            // the last stage's USER
	exposed    []string
	entrypoint []string
}

// loadDockerfile parses the Dockerfile as BuildKit does. Its linter's
// warnings fail the test: they flag mistakes a build only mentions.
func loadDockerfile(t *testing.T) image {
	t.Helper()
	f, err := os.Open(dockerfilePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("%s: %v", dockerfilePath, err)
	}
	for _, w := range res.Warnings {
		t.Errorf("%s: %s", dockerfilePath, w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []parser.Range) {
		t.Errorf("%s:%v: %s: %s", dockerfilePath, loc, rule, msg)
	}})
	stages, metaArgs, err := instructions.Parse(res.AST, lint)
	if err != nil {
		t.Fatalf("%s: %v", dockerfilePath, err)
	}
	if len(stages) == 0 {
		t.Fatalf("%s has no stage", dockerfilePath)
	}
	img := image{stages: stages, args: map[string]string{}}
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			if kv.Value != nil {
				img.args[kv.Key] = *kv.Value
			}
		}
	}
	for _, cmd := range stages[len(stages)-1].Commands {
		switch c := cmd.(type) {
		case *instructions.UserCommand:
			img.user = c.User
		case *instructions.ExposeCommand:
			img.exposed = append(img.exposed, c.Ports...)
		case *instructions.EntrypointCommand:
			if c.PrependShell {
				t.Errorf("%s: ENTRYPOINT in shell form: the shell, not ppserver, would get SIGTERM", dockerfilePath)
			}
			img.entrypoint = c.CmdLine
		}
	}
	return img
}

func TestImageRunsAsThePodsUser(t *testing.T) {
	img, m := loadDockerfile(t), load(t)
	for _, spec := range []struct {
		name string
		sc   *int64
		grp  *int64
	}{
		{"ppserver", m.deploy.Spec.Template.Spec.SecurityContext.RunAsUser, m.deploy.Spec.Template.Spec.SecurityContext.RunAsGroup},
		{"client", m.job.Spec.Template.Spec.SecurityContext.RunAsUser, m.job.Spec.Template.Spec.SecurityContext.RunAsGroup},
	} {
		if spec.sc == nil || spec.grp == nil {
			t.Errorf("%s pods: runAsUser and runAsGroup must be set", spec.name)
			continue
		}
		if want := fmt.Sprintf("%d:%d", *spec.sc, *spec.grp); img.user != want {
			t.Errorf("the image's USER is %q, the %s pods run as %s", img.user, spec.name, want)
		}
	}
}

func TestImageServesThePPPort(t *testing.T) {
	img, m := loadDockerfile(t), load(t)
	port := strconv.Itoa(int(m.ppPort.ContainerPort))
	if len(img.exposed) != 1 || strings.TrimSuffix(img.exposed[0], "/tcp") != port {
		t.Errorf("the image exposes %v, the pods serve on %s", img.exposed, port)
	}
	// The Deployment gives only args: the entrypoint must be ppserver, so
	// that they are its flags.
	if len(m.server.Command) != 0 {
		t.Errorf("the Deployment replaces the image's entrypoint with %q", m.server.Command)
	}
	if n := len(img.entrypoint); n == 0 || path.Base(img.entrypoint[n-1]) != "ppserver" {
		t.Errorf("the image's ENTRYPOINT %q does not end in ppserver", img.entrypoint)
	}
}

func TestImageBuildsWithTheGoOfGoMod(t *testing.T) {
	img := loadDockerfile(t)
	data, err := os.ReadFile(goModPath)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := modfile.ParseLax(goModPath, data, nil)
	if err != nil || mod.Go == nil {
		t.Fatalf("%s: no go directive (%v)", goModPath, err)
	}
	// golang image tags name a minor release (1.26) that tracks its
	// patches; go.mod's directive may name a patch (1.26.0).
	want := strings.Join(strings.SplitN(mod.Go.Version, ".", 3)[:2], ".")
	if got := img.args["GO_VERSION"]; got != want {
		t.Errorf("the Dockerfile builds with Go %q, go.mod needs %s", got, mod.Go.Version)
	}
}

// TestBuildContextIsTheSources checks what the build sees: the repository
// root less what Dockerfile.dockerignore leaves out. The wheel is built
// from it, so it must keep every file git tracks, and it should leave out
// what a checkout builds and installs locally (hundreds of MB to send).
func TestBuildContextIsTheSources(t *testing.T) {
	data, err := os.ReadFile(dockerignorePath)
	if err != nil {
		t.Fatal(err)
	}
	patterns, err := ignorefile.ReadAll(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s: %v", dockerignorePath, err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatalf("%s: %v", dockerignorePath, err)
	}
	excluded := func(file string) bool {
		ex, err := pm.MatchesOrParentMatches(file)
		if err != nil {
			t.Fatalf("%s: matching %s: %v", dockerignorePath, file, err)
		}
		return ex
	}
	out, err := exec.Command("git", "-C", repoRoot, "ls-files", "-z").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	tracked := strings.Split(strings.TrimRight(string(out), "\x00"), "\x00")
	if len(tracked) < 2 {
		t.Fatalf("git ls-files listed %d files", len(tracked))
	}
	for _, file := range tracked {
		if excluded(file) {
			t.Errorf("%s leaves out %s, which git tracks", dockerignorePath, file)
		}
	}
	for _, local := range []string{".git/HEAD", ".venv/bin/python3", ".bench/pp-1.7.0/bin/python",
		"build/dist/ppgo-0.1.0-cp310-abi3-linux_x86_64.whl", "python/pp/_core.abi3.so",
		"python/pp/__pycache__/_server.cpython-313.pyc"} {
		if !excluded(local) {
			t.Errorf("%s sends %s to the build", dockerignorePath, local)
		}
	}
}
