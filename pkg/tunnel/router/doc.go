// Package router is the Jumpstarter router: it pairs the two streams of every tunnel, the
// client's and the exporter's, by the stream id of the router token they present, and
// forwards between them (wire contract §3.10). One host:port serves both transports, so a
// DialResponse's router_endpoint works for either: RouterService/Stream over TLS gRPC on TCP,
// and the tunnel header of package wire over QUIC on UDP. Each end picks its transport; the
// router bridges frames and bytes (DATA payload <-> bytes, GOAWAY <-> FIN).
//
//	srv, err := router.New(router.Options{BindAddress: ":8083", CertFile: c, KeyFile: k,
//		Verifier: verifier, Leases: watcher, Registerer: registry})
//	err = srv.Start(ctx)
//
// A stream is admitted when its token verifies (signature, issuer, audience, expiry) and its
// lease is active (leasewatch); otherwise it is refused with UNAUTHENTICATED or
// FAILED_PRECONDITION (lease ended), or the matching QUIC status. Admitted, it is answered at
// once (gRPC response headers, QUIC status byte), so a dialer knows its token is good before
// the other end comes, then waits at most the pairing timeout (package rendezvous). A third
// stream with a spent id is refused (ALREADY_EXISTS). Every refusal carries a
// google.rpc.ErrorInfo with the wire.Code reason.
//
// The gRPC side is not grpc-go: it is the router's own HTTP/2 server (package h2relay), which
// relays the gRPC message bytes of two paired streams as they are, without re-encoding and
// without goroutine hand-offs: the goroutine that reads connection A writes the frames of
// stream a, as DATA frames of stream b, straight onto connection B. A QUIC end is bridged
// through the same endpoint abstraction (DATA payload <-> bytes). Only DATA payloads are
// looked at (for the byte counters) besides the frame type.
//
// What a tunnel costs: admission and pairing run on a goroutine per stream that ends once the
// stream is paired (or refused); a paired gRPC tunnel then has no goroutine of its own, only
// the reader goroutine of each connection, and its ends are callbacks (link): both
// directions ended, or one end aborted or gone. A QUIC end keeps its connection's goroutine,
// which reads the stream. Router streams are cut (lease ended, other end gone, shutdown) by
// answering them with the reason's status at once.
//
// Ends: GOAWAY (or FIN, or a gRPC half-close) ends one direction and is passed on; the
// tunnel ends cleanly when both directions have, and both gRPC streams end with OK. PING is a
// hop's keepalive and is not passed on; RST_STREAM aborts both ends (ABORTED). A QUIC
// connection that ended cleanly is closed by its peer once the router confirmed the stream
// complete, so no byte in flight is lost.
//
// Metrics (Prometheus, Options.Registerer): streams open by transport, forwarded bytes by
// transport and direction, pairing wait, refusals by reason, tunnel ends by reason.
package router
