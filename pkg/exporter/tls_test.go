package exporter_test

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"

	"jumpstarter.dev/service/pkg/clientconfig"
	"jumpstarter.dev/service/pkg/exporter"
)

func TestClientTLSConfig(t *testing.T) {
	certPEM, cert := selfSigned(t)
	lis, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	_, port, _ := net.SplitHostPort(lis.Addr().String())
	for _, tc := range []struct {
		name string
		tls  clientconfig.TLS
		env  string
		host string
		err  string
	}{
		{name: "ca", tls: clientconfig.TLS{CA: clientconfig.EncodeCA(certPEM)}, host: "127.0.0.1"},
		{name: "ca, other name", tls: clientconfig.TLS{CA: clientconfig.EncodeCA(certPEM)}, host: "other.example", err: "certificate is valid for"},
		{name: "system roots", host: "127.0.0.1", err: "certificate signed by unknown authority"},
		{name: "insecure", tls: clientconfig.TLS{Insecure: true}, host: "localhost"},
		{name: "insecure still checks the name", tls: clientconfig.TLS{Insecure: true}, host: "other.example", err: "insecure mode still checks the host name"},
		{name: "insecure from the environment", env: "JMP_GRPC_INSECURE", host: "127.0.0.1"},
		{name: "insecure checks IP names too", tls: clientconfig.TLS{Insecure: true}, host: "127.0.0.2", err: "insecure mode still checks the host name"},
		{name: "insecure from the other variable", env: "JUMPSTARTER_GRPC_INSECURE", host: "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv(tc.env, "1")
			}
			cfg, err := exporter.ClientTLSConfig(tc.tls, net.JoinHostPort(tc.host, port))
			if err != nil {
				t.Fatal(err)
			}
			// Dial 127.0.0.1 whatever the name: the name is what is checked.
			conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", port), cfg)
			if err == nil {
				conn.Close()
			}
			if tc.err == "" && err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
				t.Fatalf("handshake: %v, want %q", err, tc.err)
			}
		})
	}
}
