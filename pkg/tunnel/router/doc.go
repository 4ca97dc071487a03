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
// Forwarding is the hot path and copies nothing itself: gRPC frames stay serialized
// (wire.Codec); the buffers received from one stream are the buffers sent on the other, from a
// pool that does not zero them (wire.BufferPool). Each stream's handler goroutine forwards its
// own peer's direction; no goroutine is added per tunnel. What an idle tunnel costs is then
// mostly grpc-go's: four goroutines per server connection (reader, writer, keepalive,
// handler) and the TLS and HTTP/2 state of two connections. Token verification runs on a
// short-lived goroutine (admitShallow), because its JSON decoding would otherwise leave the
// handler, which then blocks for the tunnel's life, with a stack twice the size it needs. grpc-go cannot interrupt a handler's blocked receive, so router streams get a
// context the router can cancel (tapStream); that is how a tunnel whose lease ended, or
// whose other end vanished, is cut.
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
