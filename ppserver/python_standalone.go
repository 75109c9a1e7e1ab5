//go:build standalone

package main

import (
	"fmt"
	"os"
	"path/filepath"

	embedpy "github.com/kluctl/go-embed-python/python"
)

// standalone says whether this build embeds a Python: this one does, for
// nodes that have none.
const standalone = true

// embeddedInterpreter extracts the Python built into this binary and
// returns it as the worker interpreter.
//
// It extracts into the user's cache directory ($XDG_CACHE_HOME/ppgo or
// ~/.cache/ppgo), in a directory named after the content's hash, and
// leaves it there: the next start, or another ppserver running beside this
// one, reuses it after a quick check of the files, and a shared
// world-writable /tmp is not trusted with code we run. Without a cache
// directory it extracts into a private temporary directory that is
// removed on exit.
func embeddedInterpreter(env []string, logf func(string, ...any)) (*interpreter, error) {
	var (
		ep  *embedpy.EmbeddedPython
		err error
	)
	cleanup := false
	if cache, cerr := os.UserCacheDir(); cerr == nil {
		base := filepath.Join(cache, "ppgo", "python")
		if err = os.MkdirAll(filepath.Dir(base), 0o700); err != nil {
			return nil, fmt.Errorf("embedded python: %w", err)
		}
		logf("extracting the embedded Python under %s", filepath.Dir(base))
		ep, err = embedpy.NewEmbeddedPythonWithTmpDir(base, true)
	} else {
		var dir string
		if dir, err = os.MkdirTemp("", "ppserver-python-"); err != nil {
			return nil, fmt.Errorf("embedded python: %w", err)
		}
		logf("no cache directory (%v): extracting the embedded Python to %s for this run", cerr, dir)
		cleanup = true
		ep, err = embedpy.NewEmbeddedPythonWithTmpDir(dir, false)
		if err != nil {
			os.RemoveAll(dir)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("embedded python: extract: %w", err)
	}
	path, err := ep.GetExePath()
	if err != nil {
		return nil, fmt.Errorf("embedded python: %w", err)
	}
	ip := &interpreter{
		Path: path,
		From: "embedded",
		// PYTHONHOME pins the embedded Python to its own standard library,
		// whatever the environment says about another Python.
		Env: append(withoutVars(env, "PYTHONHOME"), "PYTHONHOME="+ep.GetExtractedPath()),
	}
	if cleanup {
		ip.cleanup = ep.Cleanup
	}
	return ip, nil
}
