// Package legacylease serves the lease calls of jumpstarter.v1 ControllerService that older
// clients use (GetLease, RequestLease, ReleaseLease, ListLeases; wire contract §2.4, §3.6):
// bare lease names in the caller's own namespace, structured selectors, and ReleaseLease for
// exporters too, which end the lease they hold.
//
// Service has exactly these four methods so that the ControllerService server can embed it.
// The rules (validation, ownership, release, the shape of the answers) are package leaseapi's,
// shared with ClientService, so both APIs treat a lease alike.
package legacylease
