// Package routerd runs a router as a process: its flags, the shared router key (a file, or
// the Secret the controller creates), the lease watch, the metrics and health endpoints, and
// the router itself (package router). cmd/router is only its flag parsing.
//
// The router reads from the API server and writes nothing: get on the Secret
// jumpstarter-router-key in its namespace (unless --router-key-file is given) and get, list
// and watch on leases.jumpstarter.dev in all namespaces (unless --lease-watch=false, which
// runs it without a cluster: then token expiry alone bounds a ticket).
package routerd
