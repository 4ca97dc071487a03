// Package lease reconciles Leases. A pending lease becomes a placeholder pod that asks the
// scheduler for one jumpstarter.dev/exporter; the pod's binding, accepted by the node agent,
// is the grant. The reconciler turns what happened to the pod into the lease's status,
// conditions and events, and ends leases on release, expiry, or loss of their placeholder.
//
// Everything is derived from the lease and its pod, so a restarted controller picks up where
// the last one stopped; an ended lease is checked first and written with an optimistic lock,
// so it is never granted again.
package lease
