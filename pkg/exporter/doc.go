// Package exporter is the Go exporter agent: it serves a lab host's devices to the clients
// that lease it, speaking the Jumpstarter protocol to the controller and, through a router,
// to the clients (wire contract §3.8, §3.11). cmd/exporter is its thin main.
//
// One Agent runs one ExporterConfig (§4.3):
//
//  1. it builds the driver tree from `export:` with a drivers.Registry (package
//     drivers/builtin by default): a Composite root, then each entry with a fresh UUID, its
//     parent's UUID and labels jumpstarter.dev/client (the driver's client class) and
//     jumpstarter.dev/name, as the Python exporter reports them;
//  2. it connects to the controller over TLS (tls.ca, or tls.insecure / JMP_GRPC_INSECURE:
//     ClientTLSConfig) with the exporter's metadata (authorization Bearer, jumpstarter-kind
//     Exporter, jumpstarter-namespace, jumpstarter-name), calls Register and reports
//     AVAILABLE;
//  3. it keeps the Status stream open, reopening it as §3.8 says (5 retries, 0.5 s after
//     UNAVAILABLE, 1 s otherwise, at once after a clean end; the count resets on every
//     message), and follows the lease it announces;
//  4. on leased=true it starts the lease's session, opens Listen(lease) and reports
//     LEASE_READY; for every Listen ticket it opens a tunnel with the injected Dialer and
//     serves, on that connection, a plaintext HTTP/2 gRPC server with ExporterService and
//     RouterService/Stream (driver byte streams chosen by the `request` metadata);
//  5. on leased=false it reports AVAILABLE, cancels Listen and closes the session, which
//     ends every tunnel, call and stream of the lease;
//  6. when Run's context ends (SIGTERM in cmd/exporter) it reports OFFLINE and Unregisters,
//     within 10 s.
//
// Unary calls (Register, ReportStatus, Unregister) are retried on UNAVAILABLE and
// DEADLINE_EXCEEDED, up to 20 times, 1 s doubling to 30 s, 30 s per call; status reports are
// "latest wins": a report that is still being retried gives way to a newer one.
//
// A session belongs to one lease and there is one at a time: a new lease closes the previous
// one's session before it starts its own. All tunnels of a lease share its session, because
// a client may Dial several times (probe Dials whose tickets are never used are normal).
//
// The tunnel is whatever net.Conn the Dialer returns; cmd/exporter plugs in package tunnel
// (RouterService/Stream over TLS gRPC, or QUIC), with ClientTLSConfig for the router's
// endpoint.
//
// Not done (yet): lease hooks (hooks.beforeLease/afterLease are logged and skipped),
// telemetry (GetServiceEndpoints is not called), grpcOptions, proxy (`ref:`) driver
// instances and `resource` byte streams (UNIMPLEMENTED). exitOnLeaseEnd is honoured.
package exporter
