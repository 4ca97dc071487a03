package support

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	grpccreds "google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"jumpstarter.dev/service/pkg/auth/token"
	"jumpstarter.dev/service/pkg/clientconfig"
	"jumpstarter.dev/service/pkg/credentials"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// The values of the jumpstarter-kind metadata (wire contract §3.2).
const (
	KindClient   = "Client"
	KindExporter = "Exporter"
)

// Caller is who calls the controller: the four metadata entries every ControllerService and
// ClientService call carries (wire contract §3.2). It is a gRPC PerRPCCredentials, attached
// to every call as the Python tools attach theirs to the channel.
type Caller struct {
	Token, Kind, Namespace, Name string
}

var _ grpccreds.PerRPCCredentials = Caller{}

// GetRequestMetadata implements grpccreds.PerRPCCredentials.
func (c Caller) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	md := map[string]string{"authorization": "Bearer " + c.Token, "jumpstarter-kind": c.Kind, "jumpstarter-namespace": c.Namespace}
	if c.Name != "" {
		md["jumpstarter-name"] = c.Name
	}
	return md, nil
}

// RequireTransportSecurity implements grpccreds.PerRPCCredentials: a bearer token only
// travels over TLS.
func (Caller) RequireTransportSecurity() bool { return true }

// Call is the call option that makes one call as c.
func (c Caller) Call() grpc.CallOption { return grpc.PerRPCCredentials(c) }

// WithToken is c with another token.
func (c Caller) WithToken(raw string) Caller {
	c.Token = raw
	return c
}

// Context carries raw metadata for one call, for the cases a well-formed Caller cannot
// express (a missing or doubled header).
func Context(ctx context.Context, kv ...string) context.Context {
	return metadata.NewOutgoingContext(ctx, metadata.Pairs(kv...))
}

// DialController opens a connection to the controller's gRPC endpoint that trusts only the
// CA bundle caPEM, as a config file's tls.ca makes the tools do. The connection carries no
// credentials; calls pick theirs (Caller.Call).
func DialController(endpoint string, caPEM []byte) (*grpc.ClientConn, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("dial controller: the CA bundle holds no PEM certificate")
	}
	creds := grpccreds.NewTLS(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("dial controller %s: %w", endpoint, err)
	}
	return conn, nil
}

// DialControllerWithCAFile is DialController with the CA bundle read from a file (a lab's
// ca.crt).
func DialControllerWithCAFile(endpoint, caFile string) (*grpc.ClientConn, error) {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("dial controller: %w", err)
	}
	return DialController(endpoint, caPEM)
}

// DialClientConfig connects as a ClientConfig file says: its endpoint, its tls.ca, and its
// namespace, name and token as the caller.
func DialClientConfig(cfg *clientconfig.ClientConfig) (*grpc.ClientConn, Caller, error) {
	return dialConfig(cfg.Endpoint, cfg.TLS, Caller{Token: cfg.Token, Kind: KindClient, Namespace: cfg.Metadata.Namespace, Name: cfg.Metadata.Name})
}

// DialExporterConfig connects as an ExporterConfig file says.
func DialExporterConfig(cfg *clientconfig.ExporterConfig) (*grpc.ClientConn, Caller, error) {
	return dialConfig(cfg.Endpoint, cfg.TLS, Caller{Token: cfg.Token, Kind: KindExporter, Namespace: cfg.Metadata.Namespace, Name: cfg.Metadata.Name})
}

func dialConfig(endpoint string, t clientconfig.TLS, caller Caller) (*grpc.ClientConn, Caller, error) {
	caPEM, err := t.CABundle()
	if err != nil {
		return nil, Caller{}, err
	}
	if len(caPEM) == 0 {
		return nil, Caller{}, errors.New("dial controller: the config has no tls.ca")
	}
	conn, err := DialController(endpoint, caPEM)
	if err != nil {
		return nil, Caller{}, err
	}
	return conn, caller, nil
}

// WaitForCaller waits for the credential Secret the controller writes for a Client or
// Exporter and returns the caller that uses its token.
func WaitForCaller(ctx context.Context, c client.Reader, kind token.Kind, namespace, name string, timeout time.Duration) (Caller, error) {
	key := types.NamespacedName{Namespace: namespace, Name: credentials.SecretName(kind, name)}
	var raw string
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		secret := &corev1.Secret{}
		if err := c.Get(ctx, key, secret); err != nil {
			if apierrors.IsNotFound(err) {
				return false, nil
			}
			return false, err
		}
		raw = string(secret.Data[credentials.KeyToken])
		return raw != "", nil
	})
	if err != nil {
		return Caller{}, fmt.Errorf("credential Secret %s: %w", key, err)
	}
	wireKind := KindClient
	if kind == token.KindExporter {
		wireKind = KindExporter
	}
	return Caller{Token: raw, Kind: wireKind, Namespace: namespace, Name: name}, nil
}

// Services are the two services of the controller on one connection.
type Services struct {
	Controller jumpstarterv1.ControllerServiceClient
	Client     clientv1.ClientServiceClient
}

// NewServices wraps a connection.
func NewServices(conn grpc.ClientConnInterface) Services {
	return Services{Controller: jumpstarterv1.NewControllerServiceClient(conn), Client: clientv1.NewClientServiceClient(conn)}
}

// Stream receives a server stream into a channel in the background, so that a test can wait
// for a message with a timeout.
type Stream[T any] struct {
	// Messages is closed when the stream ends.
	Messages <-chan *T
	// err is why the stream ended; written before Messages is closed.
	err error
}

// Receive starts receiving from s.
func Receive[T any](s grpc.ServerStreamingClient[T]) *Stream[T] {
	msgs := make(chan *T, 64)
	st := &Stream[T]{Messages: msgs}
	go func() {
		for {
			m, err := s.Recv()
			if err != nil {
				st.err = err
				close(msgs)
				return
			}
			msgs <- m
		}
	}()
	return st
}

// Next is the next message, or an error if none comes within timeout or the stream ends.
func (s *Stream[T]) Next(timeout time.Duration) (*T, error) {
	select {
	case m, ok := <-s.Messages:
		if !ok {
			return nil, fmt.Errorf("stream ended: %w", s.err)
		}
		return m, nil
	case <-time.After(timeout):
		return nil, fmt.Errorf("no message within %s", timeout)
	}
}
