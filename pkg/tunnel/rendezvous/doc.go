// Package rendezvous pairs the two streams of a tunnel by their stream id (wire contract
// §3.10, "Pairing and forwarding"), with the bounds the reference router lacks.
//
// The first stream to present an id waits, for at most the table's timeout: a Python client
// throws away the token of its readiness-probe Dial (§3.7 step 5), so the exporter's stream
// for it never gets a peer and must not wait forever. The waiting entry is removed on every
// path out of Wait (paired, timed out, cancelled, table closed), so an abandoned ticket leaves
// nothing behind.
//
// An id that paired two streams is spent: a third stream presenting it is refused with
// ErrDuplicate rather than queued as a new first caller, until the token it came with expires
// (after which the token itself is refused). An id whose first stream left without a peer is
// not spent: that stream may come back, as after a dropped connection.
package rendezvous
