// Package tunnel is the peers' side of a router tunnel: what the exporter agent and the client
// CLI call with the router endpoint and token of a DialResponse or ListenResponse (wire
// contract §3.9, §3.10) to get a net.Conn that carries the tunnel's bytes.
//
//	conn, err := tunnel.Dial(ctx, tunnel.TransportGRPC, resp.RouterEndpoint, resp.RouterToken, tlsConfig)
//
// Two transports reach the same router on the same host:port:
//
//   - gRPC (TransportGRPC): jumpstarter.v1.RouterService/Stream over TLS, the contract's and the
//     Python tools' transport. Write sends DATA frames, CloseWrite sends GOAWAY and half-closes,
//     Read returns the DATA payloads and io.EOF on GOAWAY or at the end of the stream; PING and
//     unknown frames are skipped and RST_STREAM aborts. Each tunnel has a connection of its own,
//     so one busy tunnel never waits on another's flow control.
//   - QUIC (TransportQUIC): one QUIC stream on a connection of its own over UDP, ALPN
//     "jumpstarter-tunnel/1", opened by the header of package wire; then plain bytes, FIN for
//     end of stream. No frames, and flow control in the transport itself.
//
// The router pairs the two ends whatever transport each picked. Dial returns once the router
// has accepted the token (not when the other end has come): errors say which it was, matched
// with errors.Is: ErrUnreachable (no answer, TLS failure, shutting down), ErrUnauthenticated
// (bad, expired or foreign token), ErrLeaseEnded, ErrDuplicate. Later, Read and Write fail with
// ErrPeerTimeout when the other end never came, ErrLeaseEnded when the lease ended mid-tunnel,
// and ErrAborted when the other end or the router cut the tunnel.
//
// Closing: CloseWrite when done writing, read to io.EOF, then Close, which waits (at most
// wire.CloseLinger) until the router confirms that every byte arrived. Close without both
// halves finished aborts the tunnel, like a TCP reset. A deadline that passes also aborts: a
// gRPC stream cannot abandon a read half-way.
package tunnel
