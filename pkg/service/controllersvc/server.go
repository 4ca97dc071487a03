package controllersvc

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"jumpstarter.dev/service/pkg/auth/identity"
	"jumpstarter.dev/service/pkg/auth/routertoken"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
	"jumpstarter.dev/service/pkg/routers"
)

// Timing defaults (wire contract §3.8, §3.9).
const (
	// DefaultHeartbeatInterval is how often an open Status stream refreshes lastSeen.
	DefaultHeartbeatInterval = 10 * time.Second
	// ListenerBuffer is how many tickets wait for an exporter's Listen stream before Dial
	// answers RESOURCE_EXHAUSTED.
	ListenerBuffer = 8
)

// DefaultDialWait is how Dial waits for an exporter that still reports Available.
func DefaultDialWait() Backoff {
	return Backoff{Initial: 500 * time.Millisecond, Max: 3 * time.Second, Total: 30 * time.Second}
}

// Backoff is a wait that starts at Initial, doubles up to Max between checks, and gives up
// after Total.
type Backoff struct {
	Initial, Max, Total time.Duration
}

// LegacyLeases are the legacy lease methods of ControllerService (package legacylease).
type LegacyLeases interface {
	GetLease(context.Context, *jumpstarterv1.GetLeaseRequest) (*jumpstarterv1.GetLeaseResponse, error)
	RequestLease(context.Context, *jumpstarterv1.RequestLeaseRequest) (*jumpstarterv1.RequestLeaseResponse, error)
	ReleaseLease(context.Context, *jumpstarterv1.ReleaseLeaseRequest) (*jumpstarterv1.ReleaseLeaseResponse, error)
	ListLeases(context.Context, *jumpstarterv1.ListLeasesRequest) (*jumpstarterv1.ListLeasesResponse, error)
}

// RouterPicker chooses the router for a Dial from the exporter's labels; *routers.Table is
// one. It returns routers.ErrNoRouter when there is none.
type RouterPicker interface {
	Pick(exporterLabels map[string]string, key string) (routers.Router, error)
}

// TokenMinter mints router tokens; *routertoken.Signer is one.
type TokenMinter interface {
	Mint(lease routertoken.LeaseRef, leaseEnd time.Time) (string, routertoken.Claims, error)
}

// Config is what a Server needs. Client, Notifier, Routers and Tokens are required.
type Config struct {
	// Client reads from the manager's cache (with virtualnode.LeaseExporterIndex)
	// and writes to the API server.
	Client client.Client
	// APIReader, if set, rereads an exporter around the cache after a write conflict, when the
	// cache is known to be behind. Default: Client.
	APIReader client.Reader
	// Notifier wakes Status streams on lease changes; its event handlers must be added to the
	// same cache Client reads from (SetupWithManager).
	Notifier *Notifier
	// Leases serves the legacy lease methods. Default: they answer UNIMPLEMENTED.
	Leases LegacyLeases
	// Routers picks the router of a Dial.
	Routers RouterPicker
	// Tokens mints router tokens.
	Tokens TokenMinter
	// Clock defaults to the real clock.
	Clock clock.WithTicker
	// HeartbeatInterval is how often an open Status stream refreshes lastSeen. Default:
	// DefaultHeartbeatInterval; it must stay well under virtualnode.OnlineTimeout.
	HeartbeatInterval time.Duration
	// DialWait is how Dial waits for an exporter that reports Available. Zero: DefaultDialWait().
	DialWait Backoff
}

// unimplemented carries the generated forward-compatibility marker one level below
// LegacyLeases, so that the legacy methods promoted from LegacyLeases win over its stubs.
type unimplemented struct {
	jumpstarterv1.UnimplementedControllerServiceServer
}

// Server implements jumpstarter.v1.ControllerService.
type Server struct {
	LegacyLeases
	unimplemented

	client            client.Client
	apiReader         client.Reader
	notifier          *Notifier
	routers           RouterPicker
	tokens            TokenMinter
	clock             clock.WithTicker
	heartbeatInterval time.Duration
	dialWait          Backoff
	listeners         listeners
}

var _ jumpstarterv1.ControllerServiceServer = (*Server)(nil)

// +kubebuilder:rbac:groups=jumpstarter.dev,resources=exporters,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=jumpstarter.dev,resources=exporters/status,verbs=get;patch
// +kubebuilder:rbac:groups=jumpstarter.dev,resources=leases,verbs=get;list;watch;patch

// New checks cfg and builds the server.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("controller service: Config.Client is required")
	case cfg.Notifier == nil:
		return nil, errors.New("controller service: Config.Notifier is required")
	case cfg.Routers == nil:
		return nil, errors.New("controller service: Config.Routers is required")
	case cfg.Tokens == nil:
		return nil, errors.New("controller service: Config.Tokens is required")
	case cfg.HeartbeatInterval < 0:
		return nil, errors.New("controller service: Config.HeartbeatInterval is negative")
	}
	s := &Server{
		LegacyLeases:      cfg.Leases,
		client:            cfg.Client,
		apiReader:         cfg.APIReader,
		notifier:          cfg.Notifier,
		routers:           cfg.Routers,
		tokens:            cfg.Tokens,
		clock:             cfg.Clock,
		heartbeatInterval: cfg.HeartbeatInterval,
		dialWait:          cfg.DialWait,
	}
	if s.LegacyLeases == nil {
		s.LegacyLeases = jumpstarterv1.UnimplementedControllerServiceServer{}
	}
	if s.apiReader == nil {
		s.apiReader = cfg.Client
	}
	if s.clock == nil {
		s.clock = clock.RealClock{}
	}
	if s.heartbeatInterval == 0 {
		s.heartbeatInterval = DefaultHeartbeatInterval
	}
	if s.dialWait == (Backoff{}) {
		s.dialWait = DefaultDialWait()
	}
	if s.dialWait.Initial <= 0 || s.dialWait.Max < s.dialWait.Initial || s.dialWait.Total < 0 {
		return nil, errors.New("controller service: Config.DialWait needs 0 < Initial <= Max and Total >= 0")
	}
	return s, nil
}

// GetServiceEndpoints: no optional services (telemetry) are deployed.
func (s *Server) GetServiceEndpoints(context.Context, *jumpstarterv1.GetServiceEndpointsRequest) (*jumpstarterv1.GetServiceEndpointsResponse, error) {
	return &jumpstarterv1.GetServiceEndpointsResponse{}, nil
}

// caller is the authenticated caller, which must act as kind. The authentication layer
// checks both before any service runs; this is the service's own guard.
func caller(ctx context.Context, kind identity.Kind) (identity.Identity, error) {
	id, ok := identity.FromContext(ctx)
	if !ok {
		return identity.Identity{}, status.Error(codes.Unauthenticated, "no authenticated caller")
	}
	if id.Kind != kind {
		return identity.Identity{}, status.Error(codes.InvalidArgument, "object kind mismatch")
	}
	return id, nil
}

func objectKey(id identity.Identity) types.NamespacedName {
	return types.NamespacedName{Namespace: id.Namespace, Name: id.Name}
}

// contextError is the status of a call whose context ended.
func contextError(ctx context.Context) error {
	return status.FromContextError(ctx.Err()).Err()
}
