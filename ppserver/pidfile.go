package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// writePIDFile writes pid to path atomically: a reader sees the old file
// or the whole new one, never a half-written number.
func writePIDFile(path string, pid int) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = fmt.Fprintf(f, "%d\n", pid)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	return nil
}

// removePIDFile removes path if it still holds pid: another ppserver
// started since with the same -P owns it otherwise.
func removePIDFile(path string, pid int) error {
	data, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	if strings.TrimSpace(string(data)) != strconv.Itoa(pid) {
		return nil
	}
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	return nil
}
