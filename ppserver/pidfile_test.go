package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPIDFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ppserver.pid")
	if err := writePIDFile(path, 1234); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(path); err != nil || string(data) != "1234\n" {
		t.Fatalf("pid file holds %q, %v", data, err)
	}
	// A newer ppserver took the file over: the old one leaves it alone.
	if err := writePIDFile(path, 5678); err != nil {
		t.Fatal(err)
	}
	if err := removePIDFile(path, 1234); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the other server's pid file is gone: %v", err)
	}
	if err := removePIDFile(path, 5678); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("pid file still there: %v", err)
	}
	if err := removePIDFile(path, 5678); err != nil {
		t.Errorf("removing a missing pid file: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind: %v", entries)
	}
}

func TestPIDFileInMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "ppserver.pid")
	err := writePIDFile(path, 1)
	if err == nil {
		t.Fatal("no error")
	}
	if want := "pid file " + path; len(err.Error()) < len(want) || err.Error()[:len(want)] != want {
		t.Errorf("error %q does not start with %q", err, want)
	}
}
