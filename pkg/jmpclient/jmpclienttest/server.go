package jmpclienttest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"k8s.io/apimachinery/pkg/labels"

	"jumpstarter.dev/service/pkg/clientconfig"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// Identity of the fake's only client.
const (
	Namespace = "lab"
	Client    = "alice"
	Token     = "header.payload.signature"
)

// Server is an in-memory ClientService and ControllerService.Dial over loopback TLS, with a
// certificate for 127.0.0.1 of its own CA. Calls must carry the metadata of Client.
// Exported fields are hooks; set them before the first call.
type Server struct {
	clientv1.UnimplementedClientServiceServer

	// Endpoint is host:port of the listener; CA the PEM of the certificate it presents.
	Endpoint string
	CA       []byte

	// OnCreate may change a lease as CreateLease stores it (grant it at once, fail it).
	OnCreate func(l *clientv1.Lease)
	// OnGet may change a lease before the poll-th GetLease of it (counting from 1) answers.
	OnGet func(l *clientv1.Lease, poll int)
	// OnDial answers the n-th Dial (counting from 1); nil gives a ticket for a ready lease and
	// FAILED_PRECONDITION "exporter is not ready" otherwise.
	OnDial func(lease string, n int) (*jumpstarterv1.DialResponse, error)
	// PageSize, when set, caps the pages of the List calls.
	PageSize int

	mu        sync.Mutex
	leases    map[string]*clientv1.Lease
	order     []string
	exporters []*clientv1.Exporter
	polls     map[string]int
	dials     int
	released  []string
	updates   []*clientv1.UpdateLeaseRequest
	nextID    int
}

// NewServer starts a fake controller; it stops when the test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	cert, caPEM := selfSigned(t)
	s := &Server{CA: caPEM, leases: map[string]*clientv1.Lease{}, polls: map[string]int{}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Endpoint = lis.Addr().String()
	srv := grpc.NewServer(
		grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})),
		grpc.UnaryInterceptor(checkCaller),
	)
	clientv1.RegisterClientServiceServer(srv, s)
	jumpstarterv1.RegisterControllerServiceServer(srv, controller{s: s})
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return s
}

// checkCaller refuses calls without the §3.2 metadata of Client.
func checkCaller(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	want := map[string]string{"authorization": "Bearer " + Token, "jumpstarter-kind": "Client", "jumpstarter-namespace": Namespace, "jumpstarter-name": Client}
	for k, v := range want {
		if got := md.Get(k); len(got) != 1 || got[0] != v {
			return nil, status.Errorf(codes.Unauthenticated, "metadata %s: %v, want %q", k, got, v)
		}
	}
	return handler(ctx, req)
}

// ClientConfig is a config for Client at this server, trusting its CA.
func (s *Server) ClientConfig() *clientconfig.ClientConfig {
	c := clientconfig.NewClientConfig(Namespace, Client)
	c.Endpoint = s.Endpoint
	c.Token = Token
	c.TLS.CA = clientconfig.EncodeCA(s.CA)
	return c
}

// WriteConfig writes ClientConfig into dir and returns its path.
func (s *Server) WriteConfig(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "client.yaml")
	if err := s.ClientConfig().Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// AddExporter adds an exporter named namespaces/lab/exporters/NAME.
func (s *Server) AddExporter(name string, online bool, labels map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := jumpstarterv1.ExporterStatus_EXPORTER_STATUS_AVAILABLE
	if !online {
		st = jumpstarterv1.ExporterStatus_EXPORTER_STATUS_OFFLINE
	}
	s.exporters = append(s.exporters, &clientv1.Exporter{
		Name: "namespaces/" + Namespace + "/exporters/" + name, Labels: labels, Online: online, Status: st, Enabled: proto.Bool(true),
	})
}

// AddLease stores a lease as it is (its name must be set).
func (s *Server) AddLease(l *clientv1.Lease) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.store(l)
}

func (s *Server) store(l *clientv1.Lease) {
	if _, ok := s.leases[l.GetName()]; !ok {
		s.order = append(s.order, l.GetName())
	}
	s.leases[l.GetName()] = l
}

// Lease is a copy of the stored lease, nil if there is none.
func (s *Server) Lease(name string) *clientv1.Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.leases[name]; ok {
		return proto.Clone(l).(*clientv1.Lease)
	}
	return nil
}

// Released are the names DeleteLease was called with, in order.
func (s *Server) Released() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.released...)
}

// Updates are the UpdateLease requests received.
func (s *Server) Updates() []*clientv1.UpdateLeaseRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*clientv1.UpdateLeaseRequest(nil), s.updates...)
}

// Dials is how many Dial calls were received.
func (s *Server) Dials() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dials
}

// Cond is a condition.
func Cond(typ, status, reason, message string) *jumpstarterv1.Condition {
	return &jumpstarterv1.Condition{Type: &typ, Status: &status, Reason: &reason, Message: &message}
}

// Grant makes l ready on exporter (bare name), as the controller does.
func Grant(l *clientv1.Lease, exporter string) {
	l.Exporter = proto.String("namespaces/" + Namespace + "/exporters/" + exporter)
	l.Conditions = append(l.Conditions, Cond("Ready", "True", "Ready", "exporter "+exporter+" acquired"))
}

// ended says whether a lease has ended (released, expired, unsatisfiable, invalid).
func ended(l *clientv1.Lease) bool {
	for _, c := range l.GetConditions() {
		switch {
		case c.GetType() == "Ready" && c.GetStatus() == "False",
			(c.GetType() == "Unsatisfiable" || c.GetType() == "Invalid") && c.GetStatus() == "True":
			return true
		}
	}
	return false
}

func ready(l *clientv1.Lease) bool {
	for _, c := range l.GetConditions() {
		if c.GetType() == "Ready" {
			return c.GetStatus() == "True"
		}
	}
	return false
}

func (s *Server) CreateLease(_ context.Context, req *clientv1.CreateLeaseRequest) (*clientv1.Lease, error) {
	if req.GetParent() != "namespaces/"+Namespace {
		return nil, status.Errorf(codes.PermissionDenied, "namespace mismatch")
	}
	in := req.GetLease()
	if in.GetSelector() == "" && in.GetExporterName() == "" {
		return nil, status.Error(codes.InvalidArgument, "one of selector or exporter_name is required")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id := req.GetLeaseId()
	if id == "" {
		s.nextID++
		id = fmt.Sprintf("lease-%d", s.nextID)
	}
	l := proto.Clone(in).(*clientv1.Lease)
	l.Name = "namespaces/" + Namespace + "/leases/" + id
	l.Client = proto.String("namespaces/" + Namespace + "/clients/" + Client)
	if l.GetExporterName() == "" {
		l.ExporterName = nil
	}
	if s.OnCreate != nil {
		s.OnCreate(l)
	}
	s.store(l)
	return proto.Clone(l).(*clientv1.Lease), nil
}

func (s *Server) GetLease(_ context.Context, req *clientv1.GetLeaseRequest) (*clientv1.Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.leases[req.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "lease %q not found", req.GetName())
	}
	s.polls[req.GetName()]++
	if s.OnGet != nil {
		s.OnGet(l, s.polls[req.GetName()])
	}
	return proto.Clone(l).(*clientv1.Lease), nil
}

func (s *Server) ListLeases(_ context.Context, req *clientv1.ListLeasesRequest) (*clientv1.ListLeasesResponse, error) {
	filter, err := labels.Parse(req.GetFilter())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "filter: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []*clientv1.Lease
	for _, name := range s.order {
		l := s.leases[name]
		if req.OnlyActive == nil || req.GetOnlyActive() {
			if ended(l) {
				continue
			}
		}
		set, _ := labels.ConvertSelectorToLabelsMap(l.GetSelector())
		if !filter.Matches(set) {
			continue
		}
		all = append(all, proto.Clone(l).(*clientv1.Lease))
	}
	page, next, err := s.page(len(all), int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &clientv1.ListLeasesResponse{Leases: all[page[0]:page[1]], NextPageToken: next}, nil
}

func (s *Server) ListExporters(_ context.Context, req *clientv1.ListExportersRequest) (*clientv1.ListExportersResponse, error) {
	filter, err := labels.Parse(req.GetFilter())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "filter: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []*clientv1.Exporter
	for _, e := range s.exporters {
		if filter.Matches(labels.Set(e.GetLabels())) {
			all = append(all, proto.Clone(e).(*clientv1.Exporter))
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].GetName() < all[j].GetName() })
	page, next, err := s.page(len(all), int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &clientv1.ListExportersResponse{Exporters: all[page[0]:page[1]], NextPageToken: next}, nil
}

// page is the [from, to) of a page and the next token ("" on the last page).
func (s *Server) page(n, size int, token string) ([2]int, string, error) {
	from := 0
	if token != "" {
		var err error
		if from, err = strconv.Atoi(token); err != nil || from > n {
			return [2]int{}, "", status.Errorf(codes.InvalidArgument, "page_token %q", token)
		}
	}
	if s.PageSize > 0 && (size == 0 || size > s.PageSize) {
		size = s.PageSize
	}
	to := n
	if size > 0 && from+size < n {
		to = from + size
	}
	next := ""
	if to < n {
		next = strconv.Itoa(to)
	}
	return [2]int{from, to}, next, nil
}

func (s *Server) GetExporter(_ context.Context, req *clientv1.GetExporterRequest) (*clientv1.Exporter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.exporters {
		if e.GetName() == req.GetName() {
			return proto.Clone(e).(*clientv1.Exporter), nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "exporter %q not found", req.GetName())
}

func (s *Server) UpdateLease(_ context.Context, req *clientv1.UpdateLeaseRequest) (*clientv1.Lease, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.leases[req.GetLease().GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "lease %q not found", req.GetLease().GetName())
	}
	s.updates = append(s.updates, proto.Clone(req).(*clientv1.UpdateLeaseRequest))
	if d := req.GetLease().GetDuration(); d != nil {
		l.Duration = d
	}
	return proto.Clone(l).(*clientv1.Lease), nil
}

func (s *Server) DeleteLease(_ context.Context, req *clientv1.DeleteLeaseRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.leases[req.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "lease %q not found", req.GetName())
	}
	s.released = append(s.released, req.GetName())
	if ended(l) {
		return nil, status.Errorf(codes.FailedPrecondition, "lease %q has already been released", req.GetName())
	}
	l.Conditions = append(l.Conditions, Cond("Ready", "False", "Released", "released by the client"))
	return &emptypb.Empty{}, nil
}

// controller serves ControllerService.Dial; its other methods share names with
// ClientService's.
type controller struct {
	jumpstarterv1.UnimplementedControllerServiceServer
	s *Server
}

func (c controller) Dial(_ context.Context, req *jumpstarterv1.DialRequest) (*jumpstarterv1.DialResponse, error) {
	s := c.s
	s.mu.Lock()
	s.dials++
	n := s.dials
	l, ok := s.leases["namespaces/"+Namespace+"/leases/"+req.GetLeaseName()]
	onDial := s.OnDial
	s.mu.Unlock()
	if onDial != nil {
		return onDial(req.GetLeaseName(), n)
	}
	switch {
	case !ok:
		return nil, status.Errorf(codes.Unknown, "lease %q not found", req.GetLeaseName())
	case !ready(l):
		return nil, status.Error(codes.FailedPrecondition, "exporter is not ready (status: Available)")
	}
	return &jumpstarterv1.DialResponse{RouterEndpoint: "router.test:443", RouterToken: fmt.Sprintf("ticket-%d", n)}, nil
}

// selfSigned is a certificate for 127.0.0.1 and localhost that is its own CA.
func selfSigned(t testing.TB) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "jmpclienttest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	return cert, certPEM
}
