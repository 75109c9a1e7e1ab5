package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// script writes an executable shell script; a stand-in interpreter is a
// real process, as the probe needs.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// lookIn is exec.LookPath over a fixed list of directories.
func lookIn(dirs ...string) func(string) (string, error) {
	return func(name string) (string, error) {
		for _, d := range dirs {
			p := filepath.Join(d, name)
			if checkExecutable(p) == nil {
				return p, nil
			}
		}
		return "", exec.ErrNotFound
	}
}

func TestPythonSearch(t *testing.T) {
	root := t.TempDir()
	venv := filepath.Join(root, "venv", "bin")
	onPath := filepath.Join(root, "usr", "bin")
	empty := filepath.Join(root, "empty")
	os.MkdirAll(empty, 0o755)
	venvPython := script(t, venv, "python3", "")
	pathPython := script(t, onPath, "python3", "")
	script(t, onPath, "python3.12", "")
	notExec := filepath.Join(root, "python-not-exec")
	os.WriteFile(notExec, nil, 0o644)

	tests := []struct {
		name     string
		search   pythonSearch
		wantPath string
		wantFrom string
		wantErr  string
	}{
		{"--python path", pythonSearch{Named: pathPython, Exe: filepath.Join(venv, "ppserver"), LookPath: lookIn(onPath)},
			pathPython, "--python", ""},
		{"--python name looked up on PATH", pythonSearch{Named: "python3.12", Exe: filepath.Join(venv, "ppserver"), LookPath: lookIn(onPath)},
			filepath.Join(onPath, "python3.12"), "--python", ""},
		{"--python name not on PATH", pythonSearch{Named: "python9", LookPath: lookIn(onPath)},
			"", "", "--python python9: not found on PATH"},
		{"--python missing file", pythonSearch{Named: filepath.Join(root, "nope"), LookPath: lookIn(onPath)},
			"", "", "no such file"},
		{"--python not executable", pythonSearch{Named: notExec, LookPath: lookIn(onPath)},
			"", "", "not executable"},
		{"--python a directory", pythonSearch{Named: venv, LookPath: lookIn(onPath)},
			"", "", "is a directory"},
		{"beside ppserver first", pythonSearch{Exe: filepath.Join(venv, "ppserver"), LookPath: lookIn(onPath)},
			venvPython, "beside ppserver", ""},
		{"then PATH", pythonSearch{Exe: filepath.Join(empty, "ppserver"), LookPath: lookIn(onPath)},
			pathPython, "PATH", ""},
		{"none", pythonSearch{Exe: filepath.Join(empty, "ppserver"), LookPath: lookIn(empty)},
			"", "", "no python3 in " + empty + " nor on PATH; name one with --python PATH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, from, err := tt.search.find()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || path != tt.wantPath || from != tt.wantFrom {
				t.Errorf("got %q, %q, %v; want %q, %q", path, from, err, tt.wantPath, tt.wantFrom)
			}
		})
	}
}

func TestProbeRealPython(t *testing.T) {
	path, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("no python3 on PATH")
	}
	ip := &interpreter{Path: path, From: "PATH", Env: os.Environ()}
	if err := ip.probe(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !versionAtLeast(ip.Version, 3, 8) || ip.HighestProto < 4 {
		t.Errorf("version %q, highest protocol %d", ip.Version, ip.HighestProto)
	}
}

func TestProbeOldPython(t *testing.T) {
	// Real old Pythons where pyenv installed some; a stand-in always.
	home, _ := os.UserHomeDir()
	olds, _ := filepath.Glob(filepath.Join(home, ".pyenv/versions/[23].[0-7].*/bin/python[23].[0-7]"))
	olds = append(olds, script(t, t.TempDir(), "python3", `echo 3.6.15`))
	for _, old := range olds {
		ip := &interpreter{Path: old, From: "--python", Env: os.Environ()}
		err := ip.probe(context.Background())
		if err == nil || !strings.Contains(err.Error(), "need Python 3.8 or newer") ||
			!strings.Contains(err.Error(), "is Python "+ip.Version) {
			t.Errorf("%s: err = %v", old, err)
		}
	}
}

func TestProbeFailures(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, body, want string
	}{
		{"crashes", `echo "ImportError: no site" >&2; exit 1`, "cannot run the workers: ImportError: no site"},
		{"cannot compile the worker", `echo 3.9.1; echo 5; echo "SyntaxError: bad" >&2; exit 1`, "cannot run the workers: SyntaxError: bad"},
		{"answers nonsense", `echo 3.12.0; echo five; echo ok`, "unexpected answer"},
		{"prints nothing", `exit 0`, "cannot run the workers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ip := &interpreter{Path: script(t, dir, strings.ReplaceAll(tt.name, " ", "-"), tt.body), From: "--python"}
			err := ip.probe(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestProbeHungPython(t *testing.T) {
	ip := &interpreter{Path: script(t, t.TempDir(), "python3", "exec sleep 60"), From: "PATH"}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := ip.probe(ctx)
	if err == nil || !strings.Contains(err.Error(), "did not answer") {
		t.Errorf("err = %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("probe took %v", d)
	}
}

func TestVersionAtLeast(t *testing.T) {
	for v, want := range map[string]bool{
		"3.8.0": true, "3.14.6": true, "4.0.0": true, "3.7.16": false, "2.7.18": false, "3": false, "x.y": false,
	} {
		if got := versionAtLeast(v, 3, 8); got != want {
			t.Errorf("versionAtLeast(%q) = %v", v, got)
		}
	}
}

func TestFindInterpreterNamed(t *testing.T) {
	_, err := findInterpreter(context.Background(), filepath.Join(t.TempDir(), "missing"), nil, t.Logf)
	if err == nil || !strings.Contains(err.Error(), "--python") || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v", err)
	}
}
