package lab

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"jumpstarter.dev/service/pkg/auth/routertoken"
)

const (
	// caValidity is how long the lab CA is valid; a lab directory is not meant to live longer.
	caValidity = 10 * 365 * 24 * time.Hour
	// leafValidity is how long serving and client certificates are valid.
	leafValidity = 365 * 24 * time.Hour
	// renewBefore: a certificate that expires sooner than this is issued again on start.
	renewBefore = 24 * time.Hour
	// clockSkew backdates NotBefore so that a certificate is valid at once everywhere.
	clockSkew = 5 * time.Minute
)

// Names of the client identities the lab issues certificates for.
const (
	AdminUser                 = "admin"
	KubeControllerManagerUser = "system:kube-controller-manager"
	KubeSchedulerUser         = "system:kube-scheduler"
	// ControllerUser is the identity of our controller; the lab binds the jumpstarter-controller
	// ClusterRole to it.
	ControllerUser = "system:jumpstarter-controller"
)

// APIServerSANs are the names the kube-apiserver serving certificate is valid for.
var APIServerSANs = []string{
	"127.0.0.1", "localhost",
	"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
	"10.0.0.1",
}

// CA is the lab certificate authority. The control plane trusts it for client certificates
// and the service uses it to issue its own serving certificates.
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
}

// CACertPath is where a lab directory keeps its CA certificate.
func CACertPath(dir string) string { return filepath.Join(dir, "ca.crt") }

// CAKeyPath is where a lab directory keeps its CA private key.
func CAKeyPath(dir string) string { return filepath.Join(dir, "pki", "ca.key") }

// LoadCA loads the CA of the lab in dir.
func LoadCA(dir string) (*CA, error) {
	certPEM, err := os.ReadFile(CACertPath(dir))
	if err != nil {
		return nil, fmt.Errorf("load lab CA: %w", err)
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("load lab CA %s: %w", CACertPath(dir), err)
	}
	key, err := readKey(CAKeyPath(dir))
	if err != nil {
		return nil, fmt.Errorf("load lab CA: %w", err)
	}
	return &CA{Cert: cert, Key: key, CertPEM: certPEM}, nil
}

// NewCA creates a self-signed CA.
func NewCA(commonName string) (*CA, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key, CertPEM: encodeCert(der)}, nil
}

// IssueServingCert issues a server certificate for the given SANs (IP addresses or DNS names)
// and returns it and its private key, PEM-encoded.
func (ca *CA) IssueServingCert(commonName string, sans []string) (certPEM, keyPEM []byte, err error) {
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, san := range sans {
		if ip := net.ParseIP(san); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, san)
		}
	}
	return ca.issue(tmpl)
}

// NewServingTLS makes a CA of its own and, from it, a serving certificate for the SANs: the
// certificate, and a pool that trusts the CA. TLS for tests and benchmarks.
func NewServingTLS(commonName string, sans []string) (tls.Certificate, *x509.CertPool, error) {
	ca, err := NewCA(commonName + "-ca")
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM, keyPEM, err := ca.IssueServingCert(commonName, sans)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return cert, pool, nil
}

// IssueClientCert issues a client certificate; Kubernetes reads the user name from the common
// name and the groups from the organizations.
func (ca *CA) IssueClientCert(commonName string, organizations ...string) (certPEM, keyPEM []byte, err error) {
	return ca.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName, Organization: organizations},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

func (ca *CA) issue(tmpl *x509.Certificate) (certPEM, keyPEM []byte, err error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	if tmpl.SerialNumber, err = newSerial(); err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl.NotBefore = now.Add(-clockSkew)
	tmpl.NotAfter = now.Add(leafValidity)
	if tmpl.NotAfter.After(ca.Cert.NotAfter) {
		tmpl.NotAfter = ca.Cert.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("issue certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return encodeCert(der), keyPEM, nil
}

// Verify checks that certPEM was issued by the CA for usage and is valid for at least another
// renewBefore.
func (ca *CA) Verify(certPEM []byte, usage x509.ExtKeyUsage) (*x509.Certificate, error) {
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := cert.Verify(x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: time.Now().Add(renewBefore),
		KeyUsages:   []x509.ExtKeyUsage{usage},
	}); err != nil {
		return nil, err
	}
	return cert, nil
}

// certPair names a certificate and its key under DIR/pki.
type certPair struct {
	name string // file name stem under pki/
	// server: SANs; client: CN and organizations.
	serverSANs []string
	cn         string
	orgs       []string
}

// labCerts are the certificates a lab needs besides the CA.
var labCerts = []certPair{
	{name: "apiserver", cn: "kube-apiserver", serverSANs: APIServerSANs},
	{name: "admin", cn: AdminUser, orgs: []string{"system:masters"}},
	{name: "kube-controller-manager", cn: KubeControllerManagerUser},
	{name: "scheduler", cn: KubeSchedulerUser},
	{name: "controller", cn: ControllerUser},
	{name: controllerGRPCCert, cn: "jumpstarter-controller", serverSANs: ControllerGRPCSANs},
	{name: routerCert, cn: "jumpstarter-router", serverSANs: RouterSANs},
}

// pkiPaths are the files of a lab's PKI.
type pkiPaths struct{ dir string }

func (p pkiPaths) cert(name string) string { return filepath.Join(p.dir, "pki", name+".crt") }
func (p pkiPaths) key(name string) string  { return filepath.Join(p.dir, "pki", name+".key") }
func (p pkiPaths) saKey() string           { return filepath.Join(p.dir, "pki", "sa.key") }
func (p pkiPaths) saPub() string           { return filepath.Join(p.dir, "pki", "sa.pub") }

// routerKey is the secret the controller signs router tokens with and the router checks them
// with.
func (p pkiPaths) routerKey() string { return filepath.Join(p.dir, "pki", "router-token.key") }

// EnsurePKI creates the lab's CA, certificates, client tokens and service-account key pair in
// dir, keeping whatever is already there and still valid.
func EnsurePKI(dir string) (*CA, error) {
	p := pkiPaths{dir}
	if err := os.MkdirAll(filepath.Join(dir, "pki"), 0o700); err != nil {
		return nil, fmt.Errorf("create pki dir: %w", err)
	}
	ca, err := LoadCA(dir)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		if ca, err = NewCA("jumpstarter-lab-ca"); err != nil {
			return nil, err
		}
		keyPEM, err := encodeKey(ca.Key)
		if err != nil {
			return nil, err
		}
		// Key first: a CA certificate without its key would look reusable.
		if err := writeFile(CAKeyPath(dir), keyPEM, 0o600); err != nil {
			return nil, err
		}
		if err := writeFile(CACertPath(dir), ca.CertPEM, 0o644); err != nil {
			return nil, err
		}
	}
	for _, c := range labCerts {
		usage := x509.ExtKeyUsageClientAuth
		if c.serverSANs != nil {
			usage = x509.ExtKeyUsageServerAuth
		}
		if existing, err := os.ReadFile(p.cert(c.name)); err == nil {
			if _, err := ca.Verify(existing, usage); err == nil && fileExists(p.key(c.name)) {
				continue
			}
		}
		var certPEM, keyPEM []byte
		if c.serverSANs != nil {
			certPEM, keyPEM, err = ca.IssueServingCert(c.cn, c.serverSANs)
		} else {
			certPEM, keyPEM, err = ca.IssueClientCert(c.cn, c.orgs...)
		}
		if err != nil {
			return nil, err
		}
		if err := writeFile(p.key(c.name), keyPEM, 0o600); err != nil {
			return nil, err
		}
		if err := writeFile(p.cert(c.name), certPEM, 0o644); err != nil {
			return nil, err
		}
	}
	if !fileExists(p.saKey()) || !fileExists(p.saPub()) {
		key, err := newKey()
		if err != nil {
			return nil, err
		}
		keyPEM, err := encodeKey(key)
		if err != nil {
			return nil, err
		}
		pubDER, err := x509.MarshalPKIXPublicKey(key.Public())
		if err != nil {
			return nil, fmt.Errorf("encode service-account public key: %w", err)
		}
		if err := writeFile(p.saKey(), keyPEM, 0o600); err != nil {
			return nil, err
		}
		if err := writeFile(p.saPub(), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
			return nil, err
		}
	}
	if err := ensureTokens(dir); err != nil {
		return nil, err
	}
	if !fileExists(p.routerKey()) {
		key, err := routertoken.GenerateKey()
		if err != nil {
			return nil, fmt.Errorf("generate router key: %w", err)
		}
		if err := writeFile(p.routerKey(), key, 0o600); err != nil {
			return nil, err
		}
	}
	return ca, nil
}

func newKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return key, nil
}

func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return serial, nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func parseCertPEM(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate found")
	}
	return x509.ParseCertificate(block.Bytes)
}

func readKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%s: unexpected PEM block %q", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: key of type %T cannot sign", path, key)
	}
	return signer, nil
}
