//go:build tools

// Package gotools pins the code generators in a module of their own, so their dependencies
// never move the k8s.io versions of the service.
//
// The protobuf generators are pinned here too. protoc-gen-go is kept at the exact
// google.golang.org/protobuf version that the service links (see the service's go.mod), so
// generated code and runtime always match; buf is pinned to the newest release whose
// google.golang.org/protobuf requirement does not raise that version.
package gotools

import (
	_ "github.com/bufbuild/buf/cmd/buf"
	_ "google.golang.org/grpc/cmd/protoc-gen-go-grpc"
	_ "google.golang.org/protobuf/cmd/protoc-gen-go"
	_ "sigs.k8s.io/controller-tools/cmd/controller-gen"
)
