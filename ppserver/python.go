package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ppgo/ppgo/python"
)

// The oldest Python the worker loop (python/pp/worker.py) runs on:
// pickle protocol 5 and time.perf_counter_ns need 3.8.
const (
	minPythonMajor = 3
	minPythonMinor = 8
)

// probeTimeout bounds the start-up check of the worker interpreter; a
// cold start on a slow disk can take seconds, a hung one must not hang us.
const probeTimeout = 30 * time.Second

// interpreter is the Python that runs the workers.
type interpreter struct {
	Path    string   // argv[0] of every worker
	From    string   // how it was chosen, for the banner and errors
	Env     []string // the workers' environment
	Version string   // e.g. "3.11.7"
	// HighestProto is the newest pickle protocol it speaks.
	HighestProto int
	// cleanup removes what an embedded Python extracted, if anything.
	cleanup func() error
}

// Close releases what the interpreter holds; the workers must be gone.
func (ip *interpreter) Close() error {
	if ip.cleanup == nil {
		return nil
	}
	return ip.cleanup()
}

// pythonSearch finds a worker interpreter on this machine when no
// embedded one is built in: the one named (--python), else python3 in the
// directory of the ppserver executable (its venv, when pip installed it),
// else python3 on PATH.
type pythonSearch struct {
	Named    string                       // --python: a path, or a name to look up on PATH
	Exe      string                       // the ppserver executable, symlinks resolved
	LookPath func(string) (string, error) // exec.LookPath
}

func (ps pythonSearch) find() (path, from string, err error) {
	if ps.Named != "" {
		if !strings.ContainsRune(ps.Named, filepath.Separator) {
			p, err := ps.LookPath(ps.Named)
			if err != nil {
				return "", "", fmt.Errorf("--python %s: not found on PATH", ps.Named)
			}
			return p, "--python", nil
		}
		if err := checkExecutable(ps.Named); err != nil {
			return "", "", fmt.Errorf("--python %s: %w", ps.Named, err)
		}
		return ps.Named, "--python", nil
	}
	if ps.Exe != "" {
		// Not resolved further: a venv's python3 is a symlink whose own
		// path is what tells Python it runs in the venv.
		p := filepath.Join(filepath.Dir(ps.Exe), "python3")
		if checkExecutable(p) == nil {
			return p, "beside ppserver", nil
		}
	}
	if p, err := ps.LookPath("python3"); err == nil {
		return p, "PATH", nil
	}
	where := "on PATH"
	if ps.Exe != "" {
		where = fmt.Sprintf("in %s nor on PATH", filepath.Dir(ps.Exe))
	}
	return "", "", fmt.Errorf("no Python for the workers: no python3 %s; name one with --python PATH", where)
}

func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return errors.New("is a directory")
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return errors.New("is not executable")
	}
	return nil
}

// executable is this program's path with symlinks resolved, so that a
// link to a venv's ppserver still finds that venv's python3.
func executable() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		return r
	}
	return exe
}

// probeScript prints the interpreter's version first, in syntax any
// Python understands, so that an old one gets a clear message; then its
// newest pickle protocol; then whether it can compile the worker loop,
// whose source arrives on stdin.
const probeScript = `import sys
v = sys.version_info
sys.stdout.write("%d.%d.%d\n" % (v[0], v[1], v[2]))
sys.stdout.flush()
import pickle
sys.stdout.write("%d\n" % pickle.HIGHEST_PROTOCOL)
compile(sys.stdin.read(), "pp/worker.py", "exec")
sys.stdout.write("ok\n")
`

// probe runs ip once to check that it can run the workers, and fills in
// its version.
func (ip *interpreter) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, ip.Path, "-c", probeScript)
	cmd.Env = ip.Env
	cmd.Stdin = strings.NewReader(python.Worker)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("python %s (%s) did not answer within %v", ip.Path, ip.From, probeTimeout)
	}
	lines := strings.Fields(stdout.String())
	if len(lines) > 0 {
		ip.Version = lines[0]
		if !versionAtLeast(lines[0], minPythonMajor, minPythonMinor) {
			return fmt.Errorf("python %s (%s) is Python %s; the workers need Python %d.%d or newer (choose one with --python)",
				ip.Path, ip.From, lines[0], minPythonMajor, minPythonMinor)
		}
	}
	if err != nil || len(lines) != 3 || lines[2] != "ok" {
		why := lastLine(stderr.String())
		if why == "" && err != nil {
			why = err.Error()
		}
		return fmt.Errorf("python %s (%s) cannot run the workers: %s", ip.Path, ip.From, why)
	}
	ip.HighestProto, err = strconv.Atoi(lines[1])
	if err != nil {
		return fmt.Errorf("python %s (%s): unexpected answer %q", ip.Path, ip.From, stdout.String())
	}
	return nil
}

// versionAtLeast reports whether a "major.minor.micro" version is at
// least major.minor.
func versionAtLeast(v string, major, minor int) bool {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || ma == major && mi >= minor
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// findInterpreter chooses the worker interpreter: --python if given, else
// the embedded one of a standalone build, else a search of this machine.
// It checks that the one chosen can run the workers.
func findInterpreter(ctx context.Context, named string, env []string, logf func(string, ...any)) (*interpreter, error) {
	var ip *interpreter
	if named == "" {
		var err error
		if ip, err = embeddedInterpreter(env, logf); err != nil {
			return nil, err
		}
	}
	if ip == nil {
		path, from, err := pythonSearch{Named: named, Exe: executable(), LookPath: exec.LookPath}.find()
		if err != nil {
			return nil, err
		}
		ip = &interpreter{Path: path, From: from, Env: env}
	}
	if err := ip.probe(ctx); err != nil {
		ip.Close()
		return nil, err
	}
	return ip, nil
}

// withoutVars is env without the variables named.
func withoutVars(env []string, names ...string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(names, name) {
			out = append(out, kv)
		}
	}
	return out
}
