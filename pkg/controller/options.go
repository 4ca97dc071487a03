package controller

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/pflag"

	"jumpstarter.dev/service/pkg/auth/routertoken"
	"jumpstarter.dev/service/pkg/auth/token"
	"jumpstarter.dev/service/pkg/grpcauth/authn"
	"jumpstarter.dev/service/pkg/lease"
	"jumpstarter.dev/service/pkg/virtualnode"
)

// Options are the controller's settings, bound to command-line flags.
type Options struct {
	MetricsAddr string
	// PprofAddr serves net/http/pprof, for profiling a busy controller; "0" (the default)
	// disables it.
	PprofAddr               string
	ProbeAddr               string
	LeaderElect             bool
	LeaderElectionNamespace string
	// QPS and Burst of the API client. Every grant costs a handful of writes (placeholder,
	// acceptance, lease status) and every online exporter a heartbeat every 10 s, so the
	// client-go default of 20 QPS would cap a lab of a few hundred exporters.
	QPS               float32
	Burst             int
	HeartbeatInterval time.Duration
	QueueRefresh      time.Duration
	// ReleaseAhead is how long before its end time an expiring lease hands its exporter on.
	ReleaseAhead     time.Duration
	LeaseConcurrency int
	// EndedLeaseRetention is how long an ended lease is kept; zero keeps them.
	EndedLeaseRetention time.Duration

	// Namespace is the controller's own namespace, where the token signing key Secret lives.
	// Empty: POD_NAMESPACE, else the leader election namespace, else DefaultNamespace.
	Namespace string
	// GRPCEndpoint is the controller's externally reachable gRPC host:port, advertised in the
	// status of Clients and Exporters.
	GRPCEndpoint string
	// TokenIssuer and TokenLifetime are the iss claim and lifetime of internal tokens.
	TokenIssuer   string
	TokenLifetime time.Duration
	// TokenSigningKeyFile is a PEM P-256 private key; empty: the key Secret in Namespace.
	TokenSigningKeyFile string

	// GRPCBindAddress is where the gRPC services listen (every replica serves); empty
	// disables them. TLS is mandatory (wire contract §3.1): GRPCTLSCertFile and
	// GRPCTLSKeyFile are the PEM serving certificate and key, reloaded when they change.
	GRPCBindAddress string
	GRPCTLSCertFile string
	GRPCTLSKeyFile  string
	// AuthConfigFile is an optional apiserver AuthenticationConfiguration whose JWT
	// authenticators admit external OIDC identities.
	AuthConfigFile string
	// RoutersConfigFile optionally lists the routers the controller hands out for Dial;
	// RouterEndpoint names a single router instead.
	RoutersConfigFile string
	RouterEndpoint    string
	// RouterKeyFile is the secret the controller signs router tokens with and the routers
	// verify them with; empty: the router key Secret in Namespace.
	RouterKeyFile string
	// ServiceAccountIssuer is the iss of the cluster's ServiceAccount tokens; only tokens
	// with it are sent to a TokenReview.
	ServiceAccountIssuer string
}

// DefaultGRPCBindAddress is the reference controller's gRPC listener (wire contract §1.4).
const DefaultGRPCBindAddress = ":8082"

// DefaultNamespace is the controller's namespace when nothing else names it (config/manager).
const DefaultNamespace = "jumpstarter-system"

// Environment variables that supply defaults: the pod's namespace (downward API) and the
// advertised gRPC endpoint (the reference implementation's GRPC_ENDPOINT).
const (
	EnvPodNamespace = "POD_NAMESPACE"
	EnvGRPCEndpoint = "GRPC_ENDPOINT"
)

// controllerNamespace resolves Namespace: the flag, the pod's namespace, the namespace the
// controller already keeps its leader election Lease in, and finally DefaultNamespace.
func (o *Options) controllerNamespace() string {
	for _, ns := range []string{o.Namespace, os.Getenv(EnvPodNamespace), o.LeaderElectionNamespace} {
		if ns != "" {
			return ns
		}
	}
	return DefaultNamespace
}

// DefaultOptions are the settings used when no flag says otherwise.
func DefaultOptions() Options {
	return Options{
		MetricsAddr:         ":8080",
		PprofAddr:           "0",
		ProbeAddr:           ":8081",
		LeaderElect:         false,
		QPS:                 200,
		Burst:               400,
		HeartbeatInterval:   virtualnode.DefaultHeartbeatInterval,
		QueueRefresh:        lease.DefaultQueueRefresh,
		ReleaseAhead:        lease.DefaultReleaseAhead,
		EndedLeaseRetention: lease.DefaultEndedRetention,
		LeaseConcurrency:    lease.DefaultMaxConcurrentReconciles,
		GRPCEndpoint:        os.Getenv(EnvGRPCEndpoint),
		TokenIssuer:         token.DefaultIssuer,
		TokenLifetime:       token.DefaultLifetime,
		GRPCBindAddress:     DefaultGRPCBindAddress,
	}
}

// Validate checks the flags: a gRPC listener needs its certificate and key, durations are not
// negative.
func (o *Options) Validate() error {
	var errs []error
	if o.GRPCBindAddress != "" && (o.GRPCTLSCertFile == "" || o.GRPCTLSKeyFile == "") {
		errs = append(errs, fmt.Errorf("--grpc-bind-address %q needs --grpc-tls-cert-file and --grpc-tls-key-file: Jumpstarter clients only speak TLS (set --grpc-bind-address= to disable gRPC)", o.GRPCBindAddress))
	}
	if o.RoutersConfigFile != "" && o.RouterEndpoint != "" {
		errs = append(errs, errors.New("--routers-config-file and --router-endpoint exclude each other"))
	}
	if o.EndedLeaseRetention < 0 {
		errs = append(errs, fmt.Errorf("--ended-lease-retention %v is negative (0 keeps ended leases)", o.EndedLeaseRetention))
	}
	if (o.GRPCTLSCertFile == "") != (o.GRPCTLSKeyFile == "") {
		errs = append(errs, errors.New("--grpc-tls-cert-file and --grpc-tls-key-file go together"))
	}
	return errors.Join(errs...)
}

// AddFlags binds the options to flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", o.MetricsAddr, "address of the metrics endpoint; 0 disables it")
	fs.StringVar(&o.PprofAddr, "pprof-bind-address", o.PprofAddr, "address of the net/http/pprof endpoints; 0 disables them")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", o.ProbeAddr, "address of the /healthz and /readyz endpoints")
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "elect a leader so that only one replica reconciles")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", o.LeaderElectionNamespace, "namespace of the leader election Lease (default: the pod's namespace)")
	fs.Float32Var(&o.QPS, "kube-api-qps", o.QPS, "queries per second to the API server")
	fs.IntVar(&o.Burst, "kube-api-burst", o.Burst, "burst of queries to the API server")
	fs.DurationVar(&o.HeartbeatInterval, "node-heartbeat-interval", o.HeartbeatInterval, "how often an online exporter's node Lease is renewed")
	fs.DurationVar(&o.QueueRefresh, "queue-refresh-interval", o.QueueRefresh, "how often a waiting lease refreshes its queue position")
	fs.DurationVar(&o.ReleaseAhead, "release-ahead", o.ReleaseAhead, "how long before its end time an expiring lease gives up its placeholder, so that the next lease is scheduled onto the exporter meanwhile and granted the moment this one ends; an active lease cannot be extended within it; 0 turns it off")
	fs.IntVar(&o.LeaseConcurrency, "lease-workers", o.LeaseConcurrency, "leases reconciled at once")
	fs.DurationVar(&o.EndedLeaseRetention, "ended-lease-retention", o.EndedLeaseRetention, "how long an ended lease is kept (for kubectl describe, audits) before the controller deletes it; 0 keeps ended leases")
	fs.StringVar(&o.Namespace, "namespace", o.Namespace, "the controller's namespace, home of the token signing key Secret (default: $"+EnvPodNamespace+", else the leader election namespace, else "+DefaultNamespace+")")
	fs.StringVar(&o.GRPCEndpoint, "grpc-endpoint", o.GRPCEndpoint, "externally reachable host:port of the controller's gRPC service, written to client and exporter status (default: $"+EnvGRPCEndpoint+")")
	fs.StringVar(&o.TokenIssuer, "token-issuer", o.TokenIssuer, "iss claim of the tokens the controller issues")
	fs.DurationVar(&o.TokenLifetime, "token-lifetime", o.TokenLifetime, "lifetime of the tokens the controller issues")
	fs.StringVar(&o.TokenSigningKeyFile, "token-signing-key-file", o.TokenSigningKeyFile, "PEM P-256 private key that signs tokens (default: Secret "+token.SigningKeySecretName+" in the controller's namespace, created if missing)")
	fs.StringVar(&o.GRPCBindAddress, "grpc-bind-address", o.GRPCBindAddress, "address of the gRPC services (ControllerService, ClientService), served by every replica; empty disables them")
	fs.StringVar(&o.GRPCTLSCertFile, "grpc-tls-cert-file", o.GRPCTLSCertFile, "PEM serving certificate (with its chain) of the gRPC services; reloaded when it changes")
	fs.StringVar(&o.GRPCTLSKeyFile, "grpc-tls-key-file", o.GRPCTLSKeyFile, "PEM private key of --grpc-tls-cert-file")
	fs.StringVar(&o.AuthConfigFile, "auth-config-file", o.AuthConfigFile, "apiserver AuthenticationConfiguration (apiserver.config.k8s.io) whose JWT authenticators admit external OIDC users (optional)")
	fs.StringVar(&o.RoutersConfigFile, "routers-config-file", o.RoutersConfigFile, "YAML map of the routers that carry Dial traffic: name -> {endpoint, labels}")
	fs.StringVar(&o.RouterEndpoint, "router-endpoint", o.RouterEndpoint, "host:port of the single router, when there is no --routers-config-file")
	fs.StringVar(&o.ServiceAccountIssuer, "serviceaccount-issuer", o.ServiceAccountIssuer, "iss of the cluster's ServiceAccount tokens (the kube-apiserver's --service-account-issuer); only such tokens are sent to a TokenReview (default "+authn.DefaultServiceAccountIssuer+")")
	fs.StringVar(&o.RouterKeyFile, "router-key-file", o.RouterKeyFile, "secret shared with the routers to sign their tokens (default: Secret "+routertoken.KeySecretName+" in the controller's namespace, created if missing)")
}
