// Package h2relay is the router's HTTP/2 server for gRPC tunnel streams: a small server of its
// own, instead of grpc-go's, that relays the gRPC message bytes of two paired streams without
// re-encoding them and without goroutine hand-offs on the hot path. The goroutine that reads
// connection A decodes a DATA frame of stream a and writes its bytes, as DATA frames of the
// linked stream b, straight onto connection B (under B's write lock), then flushes. A flush of
// 16 KiB or more (a bulk transfer) goes to B's flusher goroutine, which lives while there is
// something to write, so that decrypting A and encrypting B run on two cores; smaller flushes
// (interactive traffic) are written by the reader itself, without a wake-up. A flush reaches
// the socket as one write: crypto/tls writes each 16 KiB record with a syscall of its own, so
// the socket under TLS gathers a flush's records (package tlsbatch), and the flusher writes the
// buffers queued meanwhile together, up to maxWriteBatch. In the benchmark of e2e/bench/router,
// the first took the router's gRPC throughput from 0.76x/0.70x to 0.85x/0.79x of a direct
// stream (two runs each, A/B), the second from 0.80x/0.73x to 0.84x/0.91x.
//
// Wire: RFC 9113 and gRPC over HTTP/2. A connection is TLS with ALPN h2; the server sends its
// SETTINGS (INITIAL_WINDOW_SIZE = wire.GRPCStreamWindow, MAX_CONCURRENT_STREAMS) and raises
// the connection window to wire.GRPCConnWindow, answers PINGs, honours the peer's
// MAX_FRAME_SIZE and windows, and ends with GOAWAY. Requests must be POST with content-type
// application/grpc[+proto|;...]; grpc-timeout is honoured. Responses are headers, messages and
// trailers (grpc-status, percent-encoded grpc-message, grpc-status-details-bin), or
// trailers-only for refusals. One method (Options.Method) is relayed and handed to
// Options.Handler; grpc.health.v1.Health/Check is served natively; any other method gets
// UNIMPLEMENTED.
//
// Messages: each DATA byte stream is split into gRPC messages (5-byte prefix, compressed flag
// must be 0) holding a StreamRequest/StreamResponse (wire contract §2.3). A message wholly in
// hand is classified before any of it goes on: DATA and unknown types are forwarded verbatim,
// PING is dropped (a keepalive of one hop), GOAWAY is forwarded and ends the direction,
// RST_STREAM aborts. A larger message that spans frames is forwarded as it arrives (a 4 MiB
// message is not held back) and classified at its end. END_STREAM without a GOAWAY counts as
// one: a GOAWAY message is sent on.
//
// Flow control: the source gets credit (WINDOW_UPDATE for stream and connection) only for
// bytes delivered to its sink. When the sink's windows are short, the bytes are queued on the
// sink stream, bounded by the credit already granted, and sent by the sink connection's reader
// when its WINDOW_UPDATE arrives. A connection's reader never waits for another connection's
// window, so one slow tunnel does not block the other streams of its source connection. A
// sink that is not a stream of this server (ByteSink, a QUIC stream) blocks on write: bytes
// for it are queued and written by a goroutine that exists only while there are some.
//
// Memory: an idle stream has no goroutine; each connection has its reader goroutine alone. The
// write buffer is taken from a pool for a burst of writes and returned once flushed, and DATA
// payloads are read into pooled buffers, so an idle connection holds no large buffer.
//
// Locks: a stream's receive lock (Stream.rmu) may be held while taking a connection's write
// lock (conn.wmu); the write lock is a leaf, and callbacks into the caller (done, gone) run
// with no lock held.
package h2relay
