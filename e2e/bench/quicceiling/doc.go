// Package quicceiling measures what quic-go itself can carry on this machine, to tell the
// router's QUIC overhead apart from the transport's ceiling, in one run, TLS on everywhere:
//
//	go test -count=1 -run '^$' -bench Ceiling -benchtime 1x ./e2e/bench/quicceiling/
//
// Each path is a 256 MiB one-way transfer in one process over loopback, timed from the first
// write until the receiver's 1-byte acknowledgement of the end of stream is back, as
// e2e/bench/router times it:
//
//   - tcp: one TLS 1.3 connection over TCP, the floor;
//   - tcp-relay: two TLS connections joined by a relay that copies each direction with a
//     64 KiB buffer, as a router hop does;
//   - quic: one quic-go connection with one stream, configured as our peers' dialer
//     (tunnel.QUICConfig, the router's stream limit of one on the server side);
//   - quic-relay: two such connections joined by the same copying relay;
//   - variants (quic.X, quic-relay.X) that change one thing each: the write size, the relay's
//     buffer, a relay that reads ahead while it writes, the flow-control windows.
//
// -benchtime Nx runs each path N times and keeps the median. The summary lists per path: MB/s
// and the ratio to tcp (relays: to tcp-relay); the process's user and system CPU time per MiB
// carried (every end and the relay run in this process, so on a CPU-bound machine this, not
// MB/s, is the stable figure: two cores give at most 2 s of CPU per second); allocations per
// MiB; whether quic-go sends with GSO; the sender's QUIC packets, those quic-go declared lost,
// its final congestion window and smoothed RTT; and the kernel's UDP receive-buffer drops
// (RcvbufErrors of /proc/net/snmp) during the run. quic-go reads QUIC_GO_DISABLE_GSO,
// QUIC_GO_DISABLE_ECN and QUIC_GO_LOG_LEVEL from the environment, so runs with each compare
// them. The machine is shared: take ratios within one run.
//
// quic-go caps every packet at 1452 bytes (internal/protocol.MaxPacketBufferSize, not
// configurable) where loopback TCP moves 64 KiB segments, and that cap is what this benchmark
// found to bound QUIC on loopback. To measure a quic-go with larger packets without touching
// the repository, build against a patched copy through a scratch module file:
//
//	cp -r $(go env GOMODCACHE)/github.com/quic-go/quic-go@v0.65.0 /tmp/quic-go-jumbo
//	chmod -R u+w /tmp/quic-go-jumbo
//	# in /tmp/quic-go-jumbo/internal/protocol/protocol.go:
//	#   MaxPacketBufferSize = 16000, MaxLargePacketBufferSize = 64000
//	cp go.mod /tmp/jumbo.mod && cp go.sum /tmp/jumbo.sum
//	echo 'replace github.com/quic-go/quic-go => /tmp/quic-go-jumbo' >> /tmp/jumbo.mod
//	go test -modfile /tmp/jumbo.mod -count=1 -run '^$' -bench Ceiling -benchtime 1x ./e2e/bench/quicceiling/
package quicceiling
