package router

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"jumpstarter.dev/service/pkg/tunnel"
	"jumpstarter.dev/service/pkg/tunnel/wire"
)

var transports = []string{tunnel.TransportGRPC, tunnel.TransportQUIC}

func (e *env) dial(transport, token string) (tunnel.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return tunnel.Dial(ctx, transport, e.endpoint, token, e.clientTLS)
}

func (e *env) mustDial(transport, token string) tunnel.Conn {
	e.t.Helper()
	c, err := e.dial(transport, token)
	if err != nil {
		e.t.Fatalf("dial %s: %v", transport, err)
	}
	return c
}

// pair dials the exporter end (first) and the client end (second) of one tunnel.
func (e *env) pair(exporterTransport, clientTransport string) (exporter, client tunnel.Conn) {
	e.t.Helper()
	return e.pairWith(e.token(e.lease("l-"+exporterTransport+"-"+clientTransport)), exporterTransport, clientTransport)
}

func (e *env) pairWith(tok, exporterTransport, clientTransport string) (exporter, client tunnel.Conn) {
	e.t.Helper()
	exporter = e.mustDial(exporterTransport, tok)
	waitFor(e.t, "exporter waiting", func() bool { return e.srv.Waiting() == 1 })
	client = e.mustDial(clientTransport, tok)
	return exporter, client
}

// sendRecv writes payload and closes the write side, while reading everything the other end
// sends until EOF; it returns the checksum of what it read.
func sendRecv(c tunnel.Conn, payload []byte) (sum [32]byte, n int64, err error) {
	werr := make(chan error, 1)
	go func() {
		// Uneven writes exercise frame boundaries.
		rest := payload
		for i := 0; len(rest) > 0; i++ {
			k := min(len(rest), 1000+i*7919%70000)
			if _, err := c.Write(rest[:k]); err != nil {
				werr <- err
				return
			}
			rest = rest[k:]
		}
		werr <- c.CloseWrite()
	}()
	h := sha256.New()
	n, err = io.Copy(h, c)
	if err == nil {
		err = <-werr
	}
	copy(sum[:], h.Sum(nil))
	return sum, n, err
}

func TestTunnelBytesBothWays(t *testing.T) {
	e := newEnv(t, envOptions{})
	const size = 1 << 20
	for _, et := range transports {
		for _, ct := range transports {
			t.Run(et+"-exporter/"+ct+"-client", func(t *testing.T) {
				toClient, toExporter := random(t, size), random(t, size)
				exporter, client := e.pair(et, ct)
				type result struct {
					sum [32]byte
					n   int64
					err error
				}
				res := make(chan result, 1)
				go func() {
					s, n, err := sendRecv(exporter, toClient)
					res <- result{s, n, err}
				}()
				gotAtClient, n, err := sendRecv(client, toExporter)
				if err != nil {
					t.Fatalf("client: %v", err)
				}
				r := <-res
				if r.err != nil {
					t.Fatalf("exporter: %v", r.err)
				}
				if n != size || gotAtClient != sha256.Sum256(toClient) {
					t.Errorf("client read %d bytes, checksum match %v; want %d and a match", n, gotAtClient == sha256.Sum256(toClient), size)
				}
				if r.n != size || r.sum != sha256.Sum256(toExporter) {
					t.Errorf("exporter read %d bytes, checksum match %v; want %d and a match", r.n, r.sum == sha256.Sum256(toExporter), size)
				}
				closeBoth(t, exporter, client)
				waitFor(t, "tunnel gone", func() bool { return e.srv.open() == 0 })
			})
		}
	}
	if got := testutil.ToFloat64(e.srv.metrics.tunnelEnds.WithLabelValues("ok")); got != 4 {
		var ends []string
		for _, code := range []wire.Code{wire.CodeAborted, wire.CodeUnavailable, wire.CodeTimeout, wire.CodeLeaseEnded} {
			if n := testutil.ToFloat64(e.srv.metrics.tunnelEnds.WithLabelValues(code.String())); n > 0 {
				ends = append(ends, fmt.Sprintf("%s=%v", code, n))
			}
		}
		t.Errorf("tunnels ended ok = %v, want 4 (other ends: %v)", got, ends)
	}
	if got := testutil.ToFloat64(e.srv.metrics.streamsOpen.WithLabelValues("grpc")) + testutil.ToFloat64(e.srv.metrics.streamsOpen.WithLabelValues("quic")); got != 0 {
		t.Errorf("streams open = %v after every tunnel ended, want 0", got)
	}
	// Each tunnel carried size bytes each way: 8 MiB received and sent in all.
	var received, sent float64
	for _, tr := range transports {
		received += testutil.ToFloat64(e.srv.metrics.bytes.WithLabelValues(tr, "received"))
		sent += testutil.ToFloat64(e.srv.metrics.bytes.WithLabelValues(tr, "sent"))
	}
	if received != 8*size || sent != 8*size {
		t.Errorf("forwarded bytes received %v, sent %v; want %d each", received, sent, 8*size)
	}
}

// closeBoth closes both ends at once: a clean Close waits for the router's confirmation.
func closeBoth(t *testing.T, a, b tunnel.Conn) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		_ = a.Close()
		close(done)
	}()
	_ = b.Close()
	<-done
}

func TestHalfClose(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, et := range transports {
		for _, ct := range transports {
			t.Run(et+"-exporter/"+ct+"-client", func(t *testing.T) {
				exporter, client := e.pair(et, ct)
				// The client asks and closes its side, as `echo q | nc` would.
				if _, err := client.Write([]byte("question")); err != nil {
					t.Fatal(err)
				}
				if err := client.CloseWrite(); err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(exporter)
				if err != nil || string(got) != "question" {
					t.Fatalf("exporter read %q, %v; want the question and EOF", got, err)
				}
				// Its own side is still open: the answer comes after the question's EOF.
				if _, err := exporter.Write([]byte("answer")); err != nil {
					t.Fatalf("exporter write after its peer's EOF: %v", err)
				}
				if err := exporter.CloseWrite(); err != nil {
					t.Fatal(err)
				}
				got, err = io.ReadAll(client)
				if err != nil || string(got) != "answer" {
					t.Fatalf("client read %q, %v; want the answer and EOF", got, err)
				}
				closeBoth(t, exporter, client)
				waitFor(t, "tunnel gone", func() bool { return e.srv.open() == 0 })
			})
		}
	}
}

func TestPeerNeverComes(t *testing.T) {
	e := newEnv(t, envOptions{pairingTimeout: 300 * time.Millisecond})
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			c := e.mustDial(tr, e.token(e.lease("alone-"+tr)))
			defer c.Close()
			start := time.Now()
			_, err := c.Read(make([]byte, 1))
			if !errors.Is(err, tunnel.ErrPeerTimeout) {
				t.Fatalf("Read = %v, want ErrPeerTimeout", err)
			}
			if waited := time.Since(start); waited > 5*time.Second {
				t.Errorf("refused after %s, want about the 300 ms pairing timeout", waited)
			}
			waitFor(t, "entry removed", func() bool { return e.srv.Waiting() == 0 && e.srv.open() == 0 })
		})
	}
	if got := testutil.ToFloat64(e.srv.metrics.refusals.WithLabelValues("timeout")); got != 2 {
		t.Errorf("timeout refusals = %v, want 2", got)
	}
}

func TestWaitingSideCancels(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			tok := e.token(e.lease("cancel-" + tr))
			c := e.mustDial(tr, tok)
			waitFor(t, "waiting", func() bool { return e.srv.Waiting() == 1 })
			_ = c.Close()
			waitFor(t, "entry removed", func() bool { return e.srv.Waiting() == 0 && e.srv.open() == 0 })
			// The id was not spent: the same ticket can still make a tunnel.
			a := e.mustDial(tr, tok)
			waitFor(t, "waiting again", func() bool { return e.srv.Waiting() == 1 })
			b := e.mustDial(tr, tok)
			if _, err := a.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 1)
			if _, err := io.ReadFull(b, buf); err != nil || buf[0] != 'x' {
				t.Fatalf("read %q, %v after re-dialing a cancelled ticket", buf, err)
			}
			_ = a.Close()
			_ = b.Close()
		})
	}
}

func TestPairedSideAborts(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, et := range transports {
		for _, ct := range transports {
			t.Run(et+"-exporter/"+ct+"-client", func(t *testing.T) {
				exporter, client := e.pair(et, ct)
				roundTrip(t, client, exporter)
				_ = client.Close() // without CloseWrite: an abort
				_, err := exporter.Read(make([]byte, 1))
				if !errors.Is(err, tunnel.ErrAborted) {
					t.Fatalf("exporter Read after the client aborted = %v, want ErrAborted", err)
				}
				_ = exporter.Close()
				waitFor(t, "tunnel gone", func() bool { return e.srv.open() == 0 })
			})
		}
	}
}

// roundTrip checks that a byte goes from a to b.
func roundTrip(t *testing.T, a, b tunnel.Conn) {
	t.Helper()
	if _, err := a.Write([]byte("!")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	if _, err := io.ReadFull(b, buf); err != nil {
		t.Fatal(err)
	}
}

func TestThirdStreamRefused(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			tok := e.token(e.lease("third-" + tr))
			exporter, client := e.pairWith(tok, tr, tr)
			for _, third := range transports {
				if _, err := e.dial(third, tok); !errors.Is(err, tunnel.ErrDuplicate) {
					t.Errorf("third stream over %s: %v, want ErrDuplicate", third, err)
				}
			}
			if e.srv.Waiting() != 0 {
				t.Errorf("a refused third stream waits")
			}
			roundTrip(t, client, exporter)
			closeBoth(t, exporter, client)
			// Still spent after the tunnel ended: a replay is no new first caller.
			if _, err := e.dial(tr, tok); !errors.Is(err, tunnel.ErrDuplicate) {
				t.Errorf("replay after the tunnel ended: %v, want ErrDuplicate", err)
			}
		})
	}
}

// TestStreamsPerLeaseBounded: a lease cannot hold more tunnel ends open than the limit; the
// next one is refused, and a slot frees when a tunnel ends.
func TestStreamsPerLeaseBounded(t *testing.T) {
	e := newEnv(t, envOptions{maxStreamsPerLease: 2})
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			lease := e.lease("bounded-" + tr)
			exporter, client := e.pairWith(e.token(lease), tr, tr)
			if _, err := e.dial(tr, e.token(lease)); !errors.Is(err, tunnel.ErrUnreachable) || !strings.Contains(err.Error(), "tunnel streams open") {
				t.Errorf("third end of the lease: %v, want it refused for the limit", err)
			}
			if e.srv.Waiting() != 0 {
				t.Errorf("a refused stream waits")
			}
			roundTrip(t, client, exporter)
			closeBoth(t, exporter, client)
			waitFor(t, "the lease's ends untracked", func() bool { return e.srv.open() == 0 })
			exporter, client = e.pairWith(e.token(lease), tr, tr)
			closeBoth(t, exporter, client)
		})
	}
}

func random(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadDeadline(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			exporter, client := e.pair(tr, tr)
			defer exporter.Close()
			defer client.Close()
			if err := client.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err := client.Read(make([]byte, 1))
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Errorf("Read past the deadline = %v, want os.ErrDeadlineExceeded", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("deadline took %s", d)
			}
		})
	}
}
