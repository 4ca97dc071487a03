// Package identity is the contract between the gRPC authentication layer and the services: who
// the caller of an RPC is, once the token and the jumpstarter-* metadata (wire contract §3.2)
// were checked and the caller was matched to its Client or Exporter object.
//
// The authentication interceptors (package grpcauth) put an Identity into the request context;
// the services read it with FromContext and never look at metadata or tokens themselves.
package identity
