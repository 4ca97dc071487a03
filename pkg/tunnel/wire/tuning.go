package wire

import "time"

// Transport tuning shared by the router and the peers' dialers. A tunnel is one stream on a
// connection of its own, so the stream and connection windows are sized alike: large enough
// for a loopback or LAN bandwidth-delay product with room to spare, so that throughput is
// bounded by CPU, not by waiting for window updates. Windows are credit, not allocations: a
// receiver only buffers what a sender actually sent ahead of the reader.
const (
	// GRPCStreamWindow and GRPCConnWindow are the HTTP/2 flow-control windows (static, which
	// also turns off grpc-go's BDP probing pings).
	GRPCStreamWindow = 4 << 20
	GRPCConnWindow   = 8 << 20
	// GRPCWriteBuffer batches HTTP/2 frames into fewer TLS records and writes; grpc-go
	// releases it to a shared pool when a connection goes idle.
	GRPCWriteBuffer = 64 << 10
	// GRPCReadBuffer is 0: over TLS the framer reads from the record the TLS connection has
	// already decrypted, and a bufio layer on top would only add a copy and 32 KiB per idle
	// connection.
	GRPCReadBuffer = 0
	// MaxFrameMessage bounds a DATA frame's payload that we create (peer writes, QUIC reads
	// relayed to gRPC): the Python peers read at most 64 KiB at a time too.
	MaxFrameMessage = 64 << 10
	// MaxRecvMessage is the largest frame a hop accepts: grpc-go's default, which the
	// reference router keeps as well.
	MaxRecvMessage = 4 << 20

	// QUICInitialStreamWindow ... QUICMaxConnWindow bound quic-go's auto-tuned windows. They
	// do not bound loopback throughput: the sender's congestion window (~0.3 MiB) stays far
	// below them, and CPU per packet is the limit, since quic-go caps packets at 1452 bytes
	// (e2e/bench/quicceiling). Fixed 16/24 MiB windows measured no faster, and with larger
	// packets they let a sender overrun the receiver's UDP buffer.
	QUICInitialStreamWindow = 1 << 20
	QUICMaxStreamWindow     = 16 << 20
	QUICInitialConnWindow   = 2 << 20
	QUICMaxConnWindow       = 24 << 20
	// QUICIdleReadBuffer is what a relay holds for an idle QUIC stream's pending read; it
	// switches to MaxFrameMessage while reads fill the buffer.
	QUICIdleReadBuffer = 4 << 10

	// KeepaliveTime is how often an idle peer connection is pinged (gRPC) or sent a keepalive
	// (QUIC); within the router's enforcement policy (1 s) and under NAT idle timeouts.
	KeepaliveTime = 20 * time.Second
	// QUICMaxIdleTimeout closes a QUIC connection that heard nothing this long; keepalives
	// (quic-go sends them at least every half of it) keep a live one above it. It is also how
	// a peer learns that the router died, since UDP brings no reset: this long after its next
	// keepalive, so at most 22.5 s after the death (at 60 s it was 80 s, where gRPC hears the
	// TCP reset at once).
	QUICMaxIdleTimeout = 15 * time.Second
	// CloseLinger bounds how long a cleanly finished QUIC tunnel waits for the other end to
	// confirm that every byte arrived before its connection is closed.
	CloseLinger = 5 * time.Second
)
