// Package wire is the tunnel protocol as bytes: the RouterService frames (wire contract §2.3,
// §3.10) in their serialized form, the gRPC codec that carries them without parsing, and the
// small versioned header that opens a tunnel over QUIC, with its status codes. The router
// (package router) and the peers' dialers (package tunnel) share it, so that both ends of
// every hop agree on one definition.
//
// Why frames stay serialized: StreamRequest and StreamResponse have the same layout (payload =
// field 1, bytes; frame_type = field 2, enum), so a router can send the bytes it received as
// they are. Codec hands a *Frame the received buffers with a reference instead of
// unmarshalling them, and hands them back to the transport on send instead of marshalling:
// the router never copies a payload. Only the frame type is read (Frame.Info), which skips the
// payload by its length.
//
// The QUIC header, sent by a peer on the single bidirectional stream of its connection:
//
//	magic "JT" (2 bytes) | version (1 byte, Version) | token length (2 bytes, big endian) | token
//
// answered by the router with one status byte (Code); a refusal adds a uint16 length and a
// human-readable message, then the router closes the connection with the same Code as the
// QUIC application error code. After CodeOK the stream carries raw tunnel bytes in both
// directions, and FIN is the end of stream of its direction (what GOAWAY is in frames). A
// tunnel that fails later (the peer never came, the lease ended, the other peer aborted) ends
// with the connection closed with the Code saying why.
//
// The tuning constants (flow-control windows, frame sizes) are here too, in one place.
package wire
