package lab

import (
	"bytes"
	"crypto/x509"
	"net"
	"os"
	"slices"
	"testing"
)

func TestEnsurePKI(t *testing.T) {
	dir := t.TempDir()
	ca, err := EnsurePKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := pkiPaths{dir}

	apiserver := verifyFile(t, ca, p.cert("apiserver"), x509.ExtKeyUsageServerAuth)
	for _, dns := range []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"} {
		if !slices.Contains(apiserver.DNSNames, dns) {
			t.Errorf("apiserver certificate lacks DNS SAN %q: %v", dns, apiserver.DNSNames)
		}
	}
	for _, ip := range []string{"127.0.0.1", "10.0.0.1"} {
		if !slices.ContainsFunc(apiserver.IPAddresses, func(a net.IP) bool { return a.Equal(net.ParseIP(ip)) }) {
			t.Errorf("apiserver certificate lacks IP SAN %s: %v", ip, apiserver.IPAddresses)
		}
	}
	if err := apiserver.VerifyHostname("127.0.0.1"); err != nil {
		t.Error(err)
	}

	for name, want := range map[string]struct {
		cn  string
		org []string
	}{
		"admin":                   {"admin", []string{"system:masters"}},
		"kube-controller-manager": {"system:kube-controller-manager", nil},
		"scheduler":               {"system:kube-scheduler", nil},
		"controller":              {"system:jumpstarter-controller", nil},
	} {
		cert := verifyFile(t, ca, p.cert(name), x509.ExtKeyUsageClientAuth)
		if cert.Subject.CommonName != want.cn || !slices.Equal(cert.Subject.Organization, want.org) {
			t.Errorf("%s: subject CN=%q O=%v, want CN=%q O=%v", name, cert.Subject.CommonName, cert.Subject.Organization, want.cn, want.org)
		}
		if _, err := readKey(p.key(name)); err != nil {
			t.Errorf("%s key: %v", name, err)
		}
	}
	if _, err := readKey(p.saKey()); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(p.saPub()); err != nil {
		t.Error(err)
	}

	// A second call keeps everything that is valid.
	before, _ := os.ReadFile(p.cert("admin"))
	caBefore, _ := os.ReadFile(CACertPath(dir))
	if err := os.Remove(p.cert("scheduler")); err != nil {
		t.Fatal(err)
	}
	if _, err := EnsurePKI(dir); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(p.cert("admin"))
	caAfter, _ := os.ReadFile(CACertPath(dir))
	if !bytes.Equal(before, after) || !bytes.Equal(caBefore, caAfter) {
		t.Error("EnsurePKI replaced valid certificates")
	}
	verifyFile(t, ca, p.cert("scheduler"), x509.ExtKeyUsageClientAuth)
}

func TestLoadCAIssueServingCert(t *testing.T) {
	dir := t.TempDir()
	if _, err := EnsurePKI(dir); err != nil {
		t.Fatal(err)
	}
	ca, err := LoadCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueServingCert("jumpstarter-grpc", []string{"grpc.example.com", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(keyPEM) == 0 {
		t.Fatal("no key")
	}
	cert, err := ca.Verify(certPEM, x509.ExtKeyUsageServerAuth)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.VerifyHostname("grpc.example.com"); err != nil {
		t.Error(err)
	}
	if err := cert.VerifyHostname("127.0.0.1"); err != nil {
		t.Error(err)
	}
	// A certificate from another CA does not verify.
	other, err := NewCA("other")
	if err != nil {
		t.Fatal(err)
	}
	foreign, _, err := other.IssueClientCert("x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Verify(foreign, x509.ExtKeyUsageClientAuth); err == nil {
		t.Error("certificate of another CA verified")
	}
}

func verifyFile(t *testing.T, ca *CA, path string, usage x509.ExtKeyUsage) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Verify(data, usage)
	if err != nil {
		t.Fatalf("%s does not chain to the lab CA for %v: %v", path, usage, err)
	}
	return cert
}
