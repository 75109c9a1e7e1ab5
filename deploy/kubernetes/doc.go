// Package kubernetes holds no code: its test checks the manifests beside
// it against the Kubernetes API types. It is a module of its own so that
// ppgo's core module does not depend on the Kubernetes libraries.
package kubernetes
