package controller

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"

	"jumpstarter.dev/service/pkg/auth/routertoken"
	"jumpstarter.dev/service/pkg/auth/token"
	"jumpstarter.dev/service/pkg/credentials"
	"jumpstarter.dev/service/pkg/grpcauth"
	"jumpstarter.dev/service/pkg/grpcauth/authn"
	"jumpstarter.dev/service/pkg/grpcserver"
	"jumpstarter.dev/service/pkg/routers"
	"jumpstarter.dev/service/pkg/service/clientsvc"
	"jumpstarter.dev/service/pkg/service/controllersvc"
	"jumpstarter.dev/service/pkg/service/legacylease"
)

// routerKeyTimeout bounds reading (or creating) the router key Secret at start-up.
const routerKeyTimeout = 30 * time.Second

// addGRPCServer adds the gRPC services (ControllerService and ClientService, behind the
// authentication interceptors) to the manager. ctx bounds the external OIDC issuers' key
// refreshes, so it must live as long as the manager.
func addGRPCServer(ctx context.Context, mgr ctrl.Manager, opts Options, store *credentials.Store, verifier *token.Verifier) error {
	if opts.GRPCBindAddress == "" {
		return nil
	}
	kube, err := kubernetes.NewForConfig(mgr.GetConfig())
	if err != nil {
		return fmt.Errorf("clientset for TokenReview: %w", err)
	}
	authOpts := authn.Options{
		Internal: &credentials.Authenticator{
			Verifier: verifier, Reader: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
		},
		InternalIssuer: opts.TokenIssuer,
		OIDCConfigFile: opts.AuthConfigFile,
		Kubernetes:     kube,
	}
	if opts.ServiceAccountIssuer != "" {
		authOpts.ServiceAccountIssuers = []string{opts.ServiceAccountIssuer}
	}
	tokens, err := authn.New(ctx, authOpts)
	if err != nil {
		return fmt.Errorf("authentication: %w", err)
	}
	auth, err := grpcauth.New(grpcauth.Config{Authenticator: tokens, Reader: mgr.GetClient()})
	if err != nil {
		return fmt.Errorf("authorization: %w", err)
	}

	routerTable, err := routerTable(opts)
	if err != nil {
		return err
	}
	routerKey, err := routerKey(ctx, mgr, opts)
	if err != nil {
		return err
	}
	signer, err := routertoken.NewSigner(routerKey, clock.RealClock{})
	if err != nil {
		return fmt.Errorf("router token signer: %w", err)
	}
	notifier := controllersvc.NewNotifier()
	if err := controllersvc.SetupWithManager(ctx, mgr, notifier); err != nil {
		return fmt.Errorf("set up controller service: %w", err)
	}
	leases := &legacylease.Service{Reader: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Client: mgr.GetClient()}
	controllerService, err := controllersvc.New(controllersvc.Config{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Notifier: notifier,
		Leases: leases, Routers: routerTable, Tokens: signer,
	})
	if err != nil {
		return fmt.Errorf("controller service: %w", err)
	}
	clientService := &clientsvc.Server{
		Reader: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Client: mgr.GetClient(),
		Tokens: store, CheckNamespace: grpcauth.CheckNamespace, ReleaseAhead: opts.ReleaseAhead,
	}

	server, err := grpcserver.New(grpcserver.Options{
		BindAddress:        opts.GRPCBindAddress,
		CertFile:           opts.GRPCTLSCertFile,
		KeyFile:            opts.GRPCTLSKeyFile,
		UnaryInterceptors:  []grpc.UnaryServerInterceptor{auth.Unary()},
		StreamInterceptors: []grpc.StreamServerInterceptor{auth.Stream()},
		Controller:         controllerService,
		Client:             clientService,
	})
	if err != nil {
		return fmt.Errorf("gRPC server: %w", err)
	}
	if err := mgr.Add(server); err != nil {
		return fmt.Errorf("add gRPC server: %w", err)
	}
	return nil
}

// routerTable is the routers Dial hands out: the config file, or the single --router-endpoint.
// With neither, Dial answers "no router available".
func routerTable(opts Options) (*routers.Table, error) {
	switch {
	case opts.RoutersConfigFile != "":
		return routers.Load(opts.RoutersConfigFile)
	case opts.RouterEndpoint != "":
		return routers.Single(opts.RouterEndpoint)
	default:
		return routers.New(nil)
	}
}

// routerKey is the secret shared with the routers: the file, or the Secret in the controller's
// namespace (created if missing), which the routers mount.
func routerKey(ctx context.Context, mgr ctrl.Manager, opts Options) ([]byte, error) {
	if opts.RouterKeyFile != "" {
		return routertoken.LoadKeyFile(opts.RouterKeyFile)
	}
	ctx, cancel := context.WithTimeout(ctx, routerKeyTimeout)
	defer cancel()
	key, err := routertoken.LoadOrCreateKeySecret(ctx, mgr.GetAPIReader(), mgr.GetClient(), opts.controllerNamespace())
	if err != nil {
		return nil, fmt.Errorf("load router key (set --namespace or --router-key-file): %w", err)
	}
	return key, nil
}
