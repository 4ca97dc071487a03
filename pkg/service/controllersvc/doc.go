// Package controllersvc serves the exporter-facing part of jumpstarter.v1.ControllerService
// and the tunnel hand-off (wire contract §2.4, §3.8, §3.9):
//
//   - Register, Unregister, ReportStatus and the Status stream keep the Exporter's status:
//     devices, jumpstarter.dev/* labels, Registered and Online conditions, lastSeen, the
//     reported lifecycle state. An open Status stream is the exporter's heartbeat; the
//     virtual node follows what it writes (package virtualnode).
//   - Status tells the exporter which lease holds it, at once on connect and then on every
//     change, driven by the cache's lease events (Notifier) rather than by polling.
//   - Dial checks a client's lease and the exporter's readiness in the contract's order, with
//     its codes and texts (clients pattern-match them), picks a router (package routers),
//     mints a router token (package routertoken) and hands the same ticket to the exporter's
//     Listen stream for that lease.
//
// The four legacy lease methods are another package's (legacylease); Server promotes them
// from its LegacyLeases field.
//
// Exporter status has other writers (the virtual node reconciler: nodeName, leaseRef, and
// Online=False when the heartbeat stops; the credentials reconciler: credential, endpoint).
// Writes here are merge patches of the fields this package owns; a patch that replaces the
// conditions list carries the resourceVersion, so it never undoes a condition it did not see.
//
// Listen streams live in this process: a Dial reaches the exporter only if it is served by
// the replica that holds the exporter's Listen stream.
package controllersvc
