package tlsbatch

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"testing"

	"google.golang.org/grpc/credentials"
)

// TestCredentialsWriteEachWriteAtOnce: a connection from Credentials' ClientHandshake puts
// each Write, several TLS records, into one socket write, and its peer reads it whole.
func TestCredentialsWriteEachWriteAtOnce(t *testing.T) {
	cert, roots := serverCert(t)
	clientSide, serverSide := net.Pipe()
	defer clientSide.Close()
	defer serverSide.Close()
	server := tls.Server(serverSide, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}})
	go func() { _ = server.Handshake() }()

	counted := &countingConn{Conn: clientSide}
	creds := Credentials(credentials.NewTLS(&tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}))
	conn, info, err := creds.ClientHandshake(t.Context(), "127.0.0.1", counted)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if info.AuthType() != "tls" {
		t.Errorf("auth type %q, want tls", info.AuthType())
	}
	if got := Credentials(credentials.NewTLS(nil)).Clone(); got == nil {
		t.Error("Clone returned nil")
	} else if _, ok := got.(batchingCredentials); !ok {
		t.Errorf("Clone returned %T, want the batching credentials", got)
	}

	payload := bytes.Repeat([]byte{0x5a}, 5*16<<10)
	got := make(chan []byte, 1)
	go func() {
		buf := make([]byte, len(payload))
		_, _ = io.ReadFull(server, buf)
		got <- buf
	}()
	before := counted.count()
	if _, err := conn.Write(payload); err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(<-got, payload) {
		t.Fatal("the server read other bytes than were written")
	}
	if n := counted.count() - before; n != 1 {
		t.Errorf("%d writes reached the socket, want 1", n)
	}
}
