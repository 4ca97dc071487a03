package quicceiling

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go"

	"jumpstarter.dev/service/pkg/tunnel"
)

const (
	transferSize = 256 << 20
	// defaultWriteSize is what e2e/bench/router writes at a time.
	defaultWriteSize = 64 << 10
	// defaultRelayBuffer is the router's read size (wire.MaxFrameMessage).
	defaultRelayBuffer = 64 << 10
	alpn               = "quicceiling"
)

// pathCase is one way of carrying the transfer.
type pathCase struct {
	name string
	// quic selects quic-go instead of TLS over TCP; relay puts a copying hop in the middle.
	quic, relay bool
	// writeSize is the sender's write size; readSize the receiver's and relayBuffer the relay's.
	writeSize, readSize, relayBuffer int
	// pipelined makes the relay read ahead into a second buffer while it writes the first,
	// instead of alternating reads and writes in one goroutine as the router's pump does.
	pipelined bool
	// config changes the QUIC configuration of both ends of every connection.
	config func(*quic.Config)
}

// result is what one transfer measured.
type result struct {
	mbps        float64
	allocPerMiB float64
	gso         bool
	// sent and lost are the sender's QUIC packets, lost as quic-go declared them; cwnd and
	// srtt its congestion window and smoothed RTT at the end.
	sent, lost uint64
	cwnd       uint64
	srtt       time.Duration
	// userPerMiB and sysPerMiB are the process's CPU time (all ends and the relay are in it)
	// per MiB carried: throughput varies with what else runs, CPU per byte much less.
	userPerMiB, sysPerMiB time.Duration
	// udpDrops counts datagrams the kernel dropped for full receive buffers during the run.
	udpDrops uint64
}

func BenchmarkCeiling(b *testing.B) {
	bigWindows := func(c *quic.Config) {
		c.InitialStreamReceiveWindow, c.MaxStreamReceiveWindow = 16<<20, 16<<20
		c.InitialConnectionReceiveWindow, c.MaxConnectionReceiveWindow = 24<<20, 24<<20
	}
	cases := []pathCase{
		{name: "tcp"},
		{name: "tcp-relay", relay: true},
		{name: "quic", quic: true},
		{name: "quic-relay", quic: true, relay: true},
		{name: "quic.write-1MiB", quic: true, writeSize: 1 << 20, readSize: 1 << 20},
		{name: "quic.big-windows", quic: true, config: bigWindows},
		{name: "quic-relay.buffer-16KiB", quic: true, relay: true, relayBuffer: 16 << 10},
		{name: "quic-relay.buffer-256KiB", quic: true, relay: true, relayBuffer: 256 << 10},
		{name: "quic-relay.buffer-1MiB", quic: true, relay: true, relayBuffer: 1 << 20},
		{name: "quic-relay.pipelined", quic: true, relay: true, pipelined: true},
		{name: "quic-relay.big-windows", quic: true, relay: true, config: bigWindows},
		{name: "quic-relay.buffer-1MiB+big-windows", quic: true, relay: true, relayBuffer: 1 << 20, config: bigWindows},
	}
	serverTLS, clientTLS := newTLS(b)
	results := make(map[string]result)
	for _, pc := range cases {
		pc.withDefaults()
		b.Run(pc.name, func(b *testing.B) {
			b.SetBytes(transferSize)
			var runs []result
			for b.Loop() {
				r, err := pc.run(b, serverTLS, clientTLS)
				if err != nil {
					b.Fatal(err)
				}
				runs = append(runs, r)
			}
			// The median run by throughput: -benchtime Nx gives N runs.
			slices.SortFunc(runs, func(x, y result) int { return cmp.Compare(x.mbps, y.mbps) })
			median := runs[len(runs)/2]
			b.ReportMetric(median.mbps, "MB/s-median")
			results[pc.name] = median
		})
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "\n%-36s %8s %6s %9s %9s %12s %5s %8s %7s %6s %9s %9s\n", "path", "MB/s", "ratio",
		"user/MiB", "sys/MiB", "alloc B/MiB", "gso", "packets", "lost", "drops", "cwnd KiB", "srtt")
	for _, pc := range cases {
		r, ok := results[pc.name]
		if !ok {
			continue
		}
		base := results["tcp"]
		if pc.relay {
			base = results["tcp-relay"]
		}
		ratio := 0.0
		if base.mbps > 0 {
			ratio = r.mbps / base.mbps
		}
		fmt.Fprintf(&sb, "%-36s %8.1f %6.2f %9s %9s %12.0f %5v %8d %7d %6d %9d %9s\n", pc.name, r.mbps, ratio,
			r.userPerMiB.Round(time.Microsecond), r.sysPerMiB.Round(time.Microsecond), r.allocPerMiB, r.gso, r.sent, r.lost, r.udpDrops, r.cwnd>>10, r.srtt.Round(time.Microsecond))
	}
	fmt.Fprint(os.Stdout, sb.String())
}

func (pc *pathCase) withDefaults() {
	if pc.writeSize == 0 {
		pc.writeSize = defaultWriteSize
	}
	if pc.readSize == 0 {
		pc.readSize = defaultWriteSize
	}
	if pc.relayBuffer == 0 {
		pc.relayBuffer = defaultRelayBuffer
	}
}

// halfConn is one end of a transfer: a byte stream that can end its sending half.
type halfConn interface {
	io.ReadWriter
	CloseWrite() error
	Close() error
	// awaitPeerClose waits until the other end has closed, after which closing cannot drop
	// what was written: QUIC discards unacknowledged data when its connection closes, TCP
	// still delivers it.
	awaitPeerClose(ctx context.Context)
}

// listener hands out the far ends of connections.
type listener interface {
	accept(ctx context.Context) (halfConn, error)
	addr() string
	Close() error
}

// run carries one transfer along the path and measures it.
func (pc *pathCase) run(b *testing.B, serverTLS, clientTLS *tls.Config) (result, error) {
	ctx, cancel := context.WithTimeout(b.Context(), 2*time.Minute)
	defer cancel()
	sink, err := pc.listen(serverTLS)
	if err != nil {
		return result{}, err
	}
	defer func() { _ = sink.Close() }()
	target := sink.addr()
	var wg sync.WaitGroup
	defer wg.Wait()
	if pc.relay {
		front, err := pc.listen(serverTLS)
		if err != nil {
			return result{}, err
		}
		defer func() { _ = front.Close() }()
		wg.Go(func() {
			// The sink's byte count is what proves the relay right; an error here after the
			// acknowledgement (a half-close to a sender that already left) is not a failure.
			if err := pc.relayOne(ctx, front, sink.addr(), clientTLS); err != nil {
				b.Logf("relay: %v", err)
			}
		})
		target = front.addr()
	}
	sinkErr := make(chan error, 1)
	go func() { sinkErr <- pc.sinkOne(ctx, sink) }()

	src, gso, err := pc.dial(ctx, target, clientTLS)
	if err != nil {
		return result{}, err
	}
	var before, after runtime.MemStats
	dropsBefore := udpRcvbufErrors()
	runtime.ReadMemStats(&before)
	userBefore, sysBefore := cpuTimes()
	start := time.Now()
	if err := send(src, pc.writeSize); err != nil {
		_ = src.Close()
		return result{}, err
	}
	elapsed := time.Since(start)
	userAfter, sysAfter := cpuTimes()
	runtime.ReadMemStats(&after)
	r := result{
		mbps:        float64(transferSize) / 1e6 / elapsed.Seconds(),
		allocPerMiB: float64(after.TotalAlloc-before.TotalAlloc) / (transferSize >> 20),
		gso:         gso,
		udpDrops:    udpRcvbufErrors() - dropsBefore,
		userPerMiB:  (userAfter - userBefore) / (transferSize >> 20),
		sysPerMiB:   (sysAfter - sysBefore) / (transferSize >> 20),
	}
	if q, ok := src.(quicHalf); ok {
		st := q.conn.ConnectionStats()
		r.sent, r.lost, r.cwnd, r.srtt = st.PacketsSent, st.PacketsLost, st.CongestionWindow, st.SmoothedRTT
	}
	_ = src.Close()
	if err := <-sinkErr; err != nil {
		return result{}, fmt.Errorf("sink: %w", err)
	}
	return r, nil
}

// send writes transferSize bytes, ends the stream and waits for the acknowledgement.
func send(c halfConn, writeSize int) error {
	chunk := make([]byte, writeSize)
	_, _ = rand.Read(chunk)
	for sent := 0; sent < transferSize; sent += writeSize {
		if _, err := c.Write(chunk); err != nil {
			return fmt.Errorf("write after %d bytes: %w", sent, err)
		}
	}
	if err := c.CloseWrite(); err != nil {
		return fmt.Errorf("close write: %w", err)
	}
	var ack [1]byte
	if _, err := io.ReadFull(c, ack[:]); err != nil {
		return fmt.Errorf("read acknowledgement: %w", err)
	}
	return nil
}

// sinkOne accepts one connection, reads it to the end and acknowledges.
func (pc *pathCase) sinkOne(ctx context.Context, ln listener) error {
	c, err := ln.accept(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	buf := make([]byte, pc.readSize)
	n, err := io.CopyBuffer(io.Discard, onlyReader{c}, buf)
	if err != nil {
		return fmt.Errorf("read after %d bytes: %w", n, err)
	}
	if n != transferSize {
		return fmt.Errorf("received %d bytes, want %d", n, transferSize)
	}
	if _, err := c.Write([]byte{1}); err != nil {
		return fmt.Errorf("acknowledge: %w", err)
	}
	if err := c.CloseWrite(); err != nil {
		return fmt.Errorf("close write: %w", err)
	}
	c.awaitPeerClose(ctx)
	return nil
}

// relayOne accepts one connection, dials target and copies both ways, passing half-closes on.
func (pc *pathCase) relayOne(ctx context.Context, ln listener, target string, clientTLS *tls.Config) error {
	in, err := ln.accept(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	out, _, err := pc.dial(ctx, target, clientTLS)
	if err != nil {
		return err
	}
	defer func() { _ = out.Close() }()
	errs := make(chan error, 2)
	pipe := func(dst, src halfConn) {
		var err error
		if pc.pipelined {
			err = copyPipelined(dst, src, pc.relayBuffer)
		} else {
			_, err = io.CopyBuffer(onlyWriter{dst}, onlyReader{src}, make([]byte, pc.relayBuffer))
		}
		if err == nil {
			err = dst.CloseWrite()
		}
		errs <- err
	}
	go pipe(out, in)
	go pipe(in, out)
	err = errors.Join(<-errs, <-errs)
	in.awaitPeerClose(ctx)
	return err
}

// copyPipelined copies src to dst until EOF with two buffers: one being read into while the
// other is written, since a quic-go stream's Write returns only once the data is packed.
func copyPipelined(dst io.Writer, src io.Reader, size int) error {
	type chunk struct {
		buf []byte
		n   int
	}
	free := make(chan []byte, 2)
	full := make(chan chunk, 2)
	free <- make([]byte, size)
	free <- make([]byte, size)
	readErr := make(chan error, 1)
	done := make(chan struct{})
	defer close(done)
	go func() {
		defer close(full)
		for {
			var buf []byte
			select {
			case buf = <-free:
			case <-done:
				return
			}
			n, err := src.Read(buf)
			if n > 0 {
				full <- chunk{buf, n}
			}
			if err != nil {
				if err == io.EOF {
					err = nil
				}
				readErr <- err
				return
			}
		}
	}()
	for c := range full {
		if _, err := dst.Write(c.buf[:c.n]); err != nil {
			return err
		}
		free <- c.buf
	}
	return <-readErr
}

// onlyReader and onlyWriter hide ReadFrom/WriteTo so that io.CopyBuffer uses the buffer given.
type onlyReader struct{ io.Reader }
type onlyWriter struct{ io.Writer }

func (pc *pathCase) quicConfig(server bool) *quic.Config {
	c := tunnel.QUICConfig()
	if server {
		c.MaxIncomingStreams = 1 // the router's limit
	}
	if pc.config != nil {
		pc.config(c)
	}
	return c
}

func (pc *pathCase) listen(serverTLS *tls.Config) (listener, error) {
	if pc.quic {
		ln, err := quic.ListenAddr("127.0.0.1:0", serverTLS, pc.quicConfig(true))
		if err != nil {
			return nil, fmt.Errorf("listen QUIC: %w", err)
		}
		return quicListener{ln}, nil
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverTLS)
	if err != nil {
		return nil, fmt.Errorf("listen TLS: %w", err)
	}
	return tlsListener{ln}, nil
}

// dial opens a connection to addr; gso tells whether quic-go sends with GSO on it.
func (pc *pathCase) dial(ctx context.Context, addr string, clientTLS *tls.Config) (c halfConn, gso bool, err error) {
	if pc.quic {
		qc, err := quic.DialAddr(ctx, addr, clientTLS, pc.quicConfig(false))
		if err != nil {
			return nil, false, fmt.Errorf("dial QUIC %s: %w", addr, err)
		}
		st, err := qc.OpenStreamSync(ctx)
		if err != nil {
			_ = qc.CloseWithError(0, "")
			return nil, false, fmt.Errorf("open stream: %w", err)
		}
		return quicHalf{Stream: st, conn: qc}, qc.ConnectionState().GSO, nil
	}
	var d tls.Dialer
	d.Config = clientTLS
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, false, fmt.Errorf("dial TLS %s: %w", addr, err)
	}
	return tlsHalf{nc.(*tls.Conn)}, false, nil
}

// tlsHalf is a TLS connection as a halfConn.
type tlsHalf struct{ *tls.Conn }

func (tlsHalf) awaitPeerClose(context.Context) {}

type tlsListener struct{ net.Listener }

func (l tlsListener) addr() string { return l.Addr().String() }

func (l tlsListener) accept(ctx context.Context) (halfConn, error) {
	stop := context.AfterFunc(ctx, func() { _ = l.Close() })
	defer stop()
	c, err := l.Accept()
	if err != nil {
		return nil, fmt.Errorf("accept TLS: %w", err)
	}
	tc := c.(*tls.Conn)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = tc.Close()
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return tlsHalf{tc}, nil
}

type quicListener struct{ *quic.Listener }

func (l quicListener) addr() string { return l.Addr().String() }

func (l quicListener) accept(ctx context.Context) (halfConn, error) {
	qc, err := l.Accept(ctx)
	if err != nil {
		return nil, fmt.Errorf("accept QUIC: %w", err)
	}
	st, err := qc.AcceptStream(ctx)
	if err != nil {
		_ = qc.CloseWithError(0, "")
		return nil, fmt.Errorf("accept stream: %w", err)
	}
	return quicHalf{Stream: st, conn: qc}, nil
}

// quicHalf is a QUIC stream as a halfConn: Close ends the stream's connection as well.
type quicHalf struct {
	*quic.Stream
	conn *quic.Conn
}

func (q quicHalf) CloseWrite() error { return q.Stream.Close() }
func (q quicHalf) Close() error      { return q.conn.CloseWithError(0, "") }

func (q quicHalf) awaitPeerClose(ctx context.Context) {
	select {
	case <-q.conn.Context().Done():
	case <-ctx.Done():
	}
}

// newTLS is a self-signed ECDSA P-256 server certificate for 127.0.0.1 and a client that
// trusts it, both offering TLS 1.3 only, so that TCP and QUIC use the same cipher suite.
func newTLS(b *testing.B) (server, client *tls.Config) {
	b.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "quicceiling"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		b.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		b.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	server = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}},
		NextProtos:   []string{alpn},
		MinVersion:   tls.VersionTLS13,
	}
	client = &tls.Config{RootCAs: roots, NextProtos: []string{alpn}, MinVersion: tls.VersionTLS13}
	return server, client
}

// udpRcvbufErrors is the RcvbufErrors counter of /proc/net/snmp (0 where it cannot be read):
// datagrams dropped because a socket's receive buffer was full.
func udpRcvbufErrors() uint64 {
	data, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0
	}
	var names []string
	for line := range strings.Lines(string(data)) {
		fields := strings.Fields(line)
		if len(fields) == 0 || fields[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = fields
			continue
		}
		for i, name := range names {
			if name == "RcvbufErrors" && i < len(fields) {
				n, _ := strconv.ParseUint(fields[i], 10, 64)
				return n
			}
		}
	}
	return 0
}

// cpuTimes is the user and system CPU time of this process so far.
func cpuTimes() (user, sys time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}
