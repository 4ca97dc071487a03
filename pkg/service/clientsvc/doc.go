// Package clientsvc serves jumpstarter.client.v1 ClientService, the API that jmp clients use to
// find exporters and to create, watch, change and release leases (wire contract §2.5, §3.4–§3.7).
//
// The server only does I/O: it reads Leases, Exporters and Clients through the manager's cache
// (falling back to the API server for a lease created a moment ago), writes Leases with an
// optimistic lock, and leaves every rule (names, selectors, validation, ownership, the shape of
// the answer) to package leaseapi, which the legacy lease calls of ControllerService share.
// A request is checked completely before the one write it may cause, so a refused request
// changes nothing.
//
// The caller comes from the request context (package identity); the namespace of every
// resource name must pass CheckNamespace, which the authentication layer provides.
package clientsvc
