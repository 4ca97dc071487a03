package exporter

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"

	"jumpstarter.dev/service/pkg/clientconfig"
)

// Environment variables that turn on insecure TLS, as for the Python tools (§3.1).
var insecureEnv = []string{"JMP_GRPC_INSECURE", "JUMPSTARTER_GRPC_INSECURE"}

// ClientTLSConfig is the TLS client config for endpoint (host:port) under the tls block of a
// config file, for the controller and the routers alike (wire contract §3.1):
//
//   - tls.ca set: its PEM bundle is the only set of trusted roots;
//   - tls.ca empty: the system trust store;
//   - tls.insecure, or JMP_GRPC_INSECURE=1 / JUMPSTARTER_GRPC_INSECURE=1: whatever chain the
//     server presents is trusted, but its leaf must still name endpoint's host. The Python
//     tools fetch the chain in a first handshake and then trust exactly it; checking the
//     host against the presented leaf in the one handshake comes to the same.
//
// ServerName is endpoint's host.
func ClientTLSConfig(t clientconfig.TLS, endpoint string) (*tls.Config, error) {
	host, _, err := net.SplitHostPort(endpoint)
	if err != nil {
		host = endpoint // no port: the Python tools then use 443
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if t.Insecure || insecureFromEnv() {
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error { return verifyHostOnly(cs, host) }
		return cfg, nil
	}
	bundle, err := t.CABundle()
	if err != nil {
		return nil, err
	}
	if bundle != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(bundle) {
			return nil, errors.New("tls.ca: no PEM certificate in the bundle")
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

func insecureFromEnv() bool {
	for _, k := range insecureEnv {
		if os.Getenv(k) == "1" {
			return true
		}
	}
	return false
}

func verifyHostOnly(cs tls.ConnectionState, host string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tls: the server presented no certificate")
	}
	if err := cs.PeerCertificates[0].VerifyHostname(host); err != nil {
		return fmt.Errorf("tls (insecure mode still checks the host name): %w", err)
	}
	return nil
}
