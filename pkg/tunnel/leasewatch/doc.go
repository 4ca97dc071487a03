// Package leasewatch tells a router whether the lease a router token names is still in force,
// and when it stops being, so that a ticket cannot outlive its lease (issue 4 §1: "a router
// refuses a token whose lease has ended ... established streams are closed when the lease
// ends").
//
// The router is stateless: it learns leases from the API server through a read-only watch of
// jumpstarter.dev Leases in all namespaces (Informer; RBAC get, list and watch on leases), kept
// slim in memory (name, UID and whether it ended). A lease is active while it exists with the
// token's UID (a later lease of the same name is another epoch) and status.ended is false and
// it is not being deleted.
//
// Watcher is the small interface the router uses, so that tests fake it (Memory) and a router
// can run without a cluster (AlwaysActive; the tokens' expiry, at most the lease's end when
// minted, then bounds them).
package leasewatch
