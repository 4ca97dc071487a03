package jmpclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"jumpstarter.dev/service/pkg/clientconfig"
)

// TLSConfig is the trust of a config's tls block (wire contract §3.1), for the controller and
// the router alike:
//   - insecure: trust exactly the chain the server presents, but still check that its leaf
//     names the host dialed (the Python tools fetch the chain and pin it; doing it within
//     the one handshake trusts the same thing without a second connection);
//   - tls.ca set: its PEM bundle is the only set of roots;
//   - otherwise the system roots.
//
// ServerName is left empty: gRPC fills it from the target, other dialers must set it.
func TLSConfig(t clientconfig.TLS, insecure bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if insecure {
		// The chain is verified by verifyPresentedChain instead.
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = verifyPresentedChain
		return cfg, nil
	}
	bundle, err := t.CABundle()
	if err != nil {
		return nil, err
	}
	if len(bundle) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(bundle) {
			return nil, errors.New("tls.ca: the bundle holds no PEM certificate")
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// verifyPresentedChain accepts the chain the server presented as its own roots, and checks
// that the leaf is valid for the name dialed.
func verifyPresentedChain(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tls: the server presented no certificate")
	}
	roots := x509.NewCertPool()
	for _, c := range cs.PeerCertificates {
		roots.AddCert(c)
	}
	if _, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, DNSName: cs.ServerName}); err != nil {
		return fmt.Errorf("tls (insecure mode): %w", err)
	}
	return nil
}
