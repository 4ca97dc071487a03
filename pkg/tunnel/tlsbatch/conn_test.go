package tlsbatch

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"sync"
	"testing"

	"jumpstarter.dev/service/pkg/lab"
)

// countingConn counts the writes that reach the socket.
type countingConn struct {
	net.Conn
	mu     sync.Mutex
	writes []int
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes = append(c.writes, len(p))
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *countingConn) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.writes)
}

// serverCert is a serving certificate for 127.0.0.1, and a pool that trusts its CA.
func serverCert(tb testing.TB) (tls.Certificate, *x509.CertPool) {
	tb.Helper()
	cert, roots, err := lab.NewServingTLS("server", []string{"127.0.0.1"})
	if err != nil {
		tb.Fatal(err)
	}
	return cert, roots
}

func TestBatchIsOneWrite(t *testing.T) {
	cert, roots := serverCert(t)

	serverSide, clientSide := net.Pipe()
	counted := &countingConn{Conn: serverSide}
	cc := &Conn{Conn: counted}
	server := tls.Server(cc, &tls.Config{Certificates: []tls.Certificate{cert}})
	client := tls.Client(clientSide, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	// Closing the pipe, not the TLS connections: a close_notify alert would wait for a reader.
	defer serverSide.Close()
	defer clientSide.Close()

	// The handshake writes through (no batch): it must complete.
	errc := make(chan error, 1)
	go func() { errc <- client.Handshake() }()
	if err := server.Handshake(); err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("client handshake: %v", err)
	}

	// Without a batch, crypto/tls writes each record (at most 16 KiB) on its own.
	tests := []struct {
		name  string
		size  int
		batch bool
	}{
		{name: "a batch of several records is one write", size: 5*16<<10 - 100, batch: true},
		{name: "a small batch is one write", size: 64, batch: true},
		{name: "a batch larger than the pooled buffer is still one write", size: 4 * BufferSize, batch: true},
		{name: "outside a batch every record is a write", size: 3 * 16 << 10, batch: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := bytes.Repeat([]byte{0xa5}, tt.size)
			got := make(chan []byte, 1)
			go func() {
				buf := make([]byte, tt.size)
				_, _ = io.ReadFull(client, buf)
				got <- buf
			}()
			before := counted.count()
			if tt.batch {
				cc.Begin()
			}
			if _, err := server.Write(payload); err != nil {
				t.Fatalf("write: %v", err)
			}
			if tt.batch {
				if err := cc.Flush(); err != nil {
					t.Fatalf("flush: %v", err)
				}
			}
			if !bytes.Equal(<-got, payload) {
				t.Fatal("the client read other bytes than were written")
			}
			n := counted.count() - before
			if tt.batch && n != 1 {
				t.Errorf("%d writes reached the socket, want 1", n)
			}
			if !tt.batch && n < 2 {
				t.Errorf("%d writes reached the socket, want one per record", n)
			}
			if cc.holding() {
				t.Error("the batch buffer is still held after the flush")
			}
		})
	}
}
