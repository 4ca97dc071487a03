// Package jmpclient talks to the controller as a Jumpstarter client does: ClientService for
// leases and exporters, ControllerService.Dial for the ticket to a leased exporter. It holds
// the client-side half of the wire contract so that the commands of jmpctl (and tests) need
// not know it:
//
//   - LoadConfig finds the ClientConfig (--config, the JMP_* environment, the user config's
//     current client, §4.1) and Connect dials its endpoint with the trust of its tls block
//     (TLSConfig, §3.1), the Python keepalive defaults overridable by grpcOptions, and the
//     four metadata entries of §3.2 on every call (Credentials).
//   - Lease calls take a bare lease id or a full resource name (§3.4) and list every page
//     (§3.5).
//   - WaitReady and Acquire apply the acquisition rules of §3.6 and §3.7: Ready=True is
//     success; Unsatisfiable=True or Invalid=True, or Pending=False or Ready=False before
//     success, is a *LeaseFailedError; anything else waits, polling every 5 s, until the
//     acquisition timeout gives a *TimeoutError. GetLease errors are retried with back-off.
//   - Dial retries FAILED_PRECONDITION "not ready" and UNAVAILABLE with back-off from 0.3 s
//     doubling to 2 s within dial_timeout, and tells apart a transferred lease
//     (ErrLeaseTransferred) from an unreachable exporter (*UnreachableError).
//
// The typed errors are what lets jmpctl give a CI script distinct exit codes.
package jmpclient
