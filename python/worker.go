// Package python carries the Python sources that Go binaries ship: a
// ppserver runs its workers from this copy of pp/worker.py, so the worker
// protocol always matches the binary, whatever pp (if any) the node's
// Python has installed.
package python

import _ "embed"

// Worker is the source of pp/worker.py, runnable with `python -c`.
//
//go:embed pp/worker.py
var Worker string
