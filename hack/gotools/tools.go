//go:build tools

// Package gotools pins the code generators in a module of their own, so their dependencies
// never move the k8s.io versions of the service.
package gotools

import (
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)
