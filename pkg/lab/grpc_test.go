package lab

import (
	"crypto/x509"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

func TestControllerGRPCCertificate(t *testing.T) {
	dir := t.TempDir()
	ca, err := EnsurePKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := pkiPaths{dir}
	cert := verifyFile(t, ca, p.cert(controllerGRPCCert), x509.ExtKeyUsageServerAuth)
	for _, host := range []string{"127.0.0.1", "localhost"} {
		if err := cert.VerifyHostname(host); err != nil {
			t.Errorf("gRPC certificate: %v", err)
		}
	}
	if _, err := readKey(p.key(controllerGRPCCert)); err != nil {
		t.Error(err)
	}
	// The CA that clients get is the lab CA at DIR/ca.crt.
	if CACertPath(dir) != filepath.Join(dir, "ca.crt") {
		t.Errorf("CA at %s, want DIR/ca.crt", CACertPath(dir))
	}
}

func TestControllerGetsGRPCFlags(t *testing.T) {
	dir := t.TempDir()
	s := &State{Dir: dir, LabBin: dir, Bin: dir}
	ports := labPorts{etcdClient: 1, etcdPeer: 2, apiserver: 3, kcm: 4, scheduler: 5, controllerHealth: 6, controllerGRPC: 12345}
	plan, err := planComponent(s, Controller, ports, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := pkiPaths{dir}
	for _, want := range []string{
		"--grpc-bind-address=127.0.0.1:12345",
		"--grpc-tls-cert-file=" + p.cert(controllerGRPCCert),
		"--grpc-tls-key-file=" + p.key(controllerGRPCCert),
		"--grpc-endpoint=127.0.0.1:12345",
	} {
		if !slices.Contains(plan.state.Args, want) {
			t.Errorf("controller args %v lack %s", plan.state.Args, want)
		}
	}
	s.Components = append(s.Components, plan.state)
	l := &Lab{state: s}
	if got, want := l.GRPCEndpoint(), "127.0.0.1:"+strconv.Itoa(ports.controllerGRPC); got != want {
		t.Errorf("GRPCEndpoint() = %q, want %q", got, want)
	}
	if got := (&Lab{state: &State{Dir: dir}}).GRPCEndpoint(); got != "" {
		t.Errorf("GRPCEndpoint() of a lab without controller = %q, want empty", got)
	}
}
