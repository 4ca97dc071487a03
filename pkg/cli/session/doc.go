// Package session gets jmpctl from a lease to the drivers of its exporter: Dial the
// controller for a ticket, open the tunnel through the router, start a driver client on it
// (wire contract §3.7, §3.10, §3.11).
//
// The tunnel and the driver client are other packages' work; this one names exactly what it
// needs of them as two small interfaces, TunnelDialer and Drivers (with OpenDrivers to start
// one over a tunnel), gathered in Deps. jmpctl wires the real ones in one place
// (cli.DefaultSessionDeps); tests use fakes. Without them, sessions fail with ErrNotWired
// rather than pretending.
//
// Acquire is the client flow of `jmp shell`: create, wait for Ready, Dial with retries, and
// on an unreachable exporter release and lease again within retry_timeout. Release and
// EndSession run within a 30 s budget even after Ctrl-C, so a lease is given back on every
// way out. Forward is the accept loop of port forwarding and of the local session socket:
// one fresh stream per accepted connection, bytes copied both ways with half-close passed on.
package session
