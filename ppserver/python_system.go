//go:build !standalone

package main

// standalone says whether this build embeds a Python; see
// python_standalone.go.
const standalone = false

// embeddedInterpreter: this build has none, so the workers use a Python
// found on the machine.
func embeddedInterpreter([]string, func(string, ...any)) (*interpreter, error) {
	return nil, nil
}
