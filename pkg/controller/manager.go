package controller

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/auth/token"
	"jumpstarter.dev/service/pkg/credentials"
	"jumpstarter.dev/service/pkg/lease"
	"jumpstarter.dev/service/pkg/leasepod"
	"jumpstarter.dev/service/pkg/nodeagent"
	"jumpstarter.dev/service/pkg/virtualnode"
)

// LeaderElectionID names the Lease that replicas of the controller compete for.
const LeaderElectionID = "jumpstarter-controller.jumpstarter.dev"

// NewScheme has the kinds the controller reads and writes.
func NewScheme() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := jumpstarterv1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	return scheme, nil
}

// signingKeyTimeout bounds loading (or creating) the token signing key at start-up.
const signingKeyTimeout = 30 * time.Second

// cacheOptions keep only our own Nodes, Pods and Secrets in memory: a real cluster has many.
func cacheOptions() (cache.Options, error) {
	hasExporter, err := labels.NewRequirement(jumpstarterv1alpha1.LabelExporterName, selection.Exists, nil)
	if err != nil {
		return cache.Options{}, err
	}
	hasLease, err := labels.NewRequirement(jumpstarterv1alpha1.LabelLeaseName, selection.Exists, nil)
	if err != nil {
		return cache.Options{}, err
	}
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&corev1.Node{}:   {Label: labels.NewSelector().Add(*hasExporter)},
		&corev1.Pod{}:    {Label: labels.NewSelector().Add(*hasLease)},
		&corev1.Secret{}: {Label: labels.SelectorFromSet(labels.Set{jumpstarterv1alpha1.LabelCredential: "true"})},
	}}, nil
}

// NewManager builds the manager with every reconciler registered.
func NewManager(ctx context.Context, cfg *rest.Config, opts Options) (ctrl.Manager, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = opts.QPS, opts.Burst
	scheme, err := NewScheme()
	if err != nil {
		return nil, fmt.Errorf("build scheme: %w", err)
	}
	cacheOpts, err := cacheOptions()
	if err != nil {
		return nil, fmt.Errorf("build cache options: %w", err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Cache:                         cacheOpts,
		NewCache:                      newCacheOnOwnConnection,
		Metrics:                       metricsserver.Options{BindAddress: opts.MetricsAddr},
		HealthProbeBindAddress:        opts.ProbeAddr,
		PprofBindAddress:              opts.PprofAddr,
		LeaderElection:                opts.LeaderElect,
		LeaderElectionID:              LeaderElectionID,
		LeaderElectionNamespace:       opts.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return nil, fmt.Errorf("create manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, fmt.Errorf("add healthz check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", func(req *http.Request) error {
		if !mgr.GetCache().WaitForCacheSync(req.Context()) {
			return fmt.Errorf("caches not synced")
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("add readyz check: %w", err)
	}

	realClock := clock.RealClock{}
	if err := virtualnode.IndexPodsByNode(context.Background(), mgr); err != nil {
		return nil, err
	}
	if err := virtualnode.IndexLeasesByExporter(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return nil, err
	}
	if err := (&virtualnode.Reconciler{
		Client: mgr.GetClient(), Clock: realClock, HeartbeatInterval: opts.HeartbeatInterval,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("set up virtual node reconciler: %w", err)
	}
	// The manager's metrics endpoint serves controller-runtime's registry.
	if err := ctrlmetrics.Registry.Register(virtualnode.NewExporterCollector(mgr.GetClient(), realClock)); err != nil {
		return nil, fmt.Errorf("register exporter metrics: %w", err)
	}
	// The node agent admits placeholders for the lease reconciler (the grant) and reads leases
	// through it (their ends, before the cache shows them): one decision, one view.
	leases := &lease.Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("jumpstarter-controller"),
		Clock: realClock, QueueRefresh: opts.QueueRefresh, ReleaseAhead: opts.ReleaseAhead,
		EndedRetention: opts.EndedLeaseRetention, Metrics: lease.NewMetrics(mgr.GetClient()),
	}
	if err := leases.Metrics.Register(ctrlmetrics.Registry); err != nil {
		return nil, fmt.Errorf("register lease metrics: %w", err)
	}
	agent := &nodeagent.Agent{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder("jumpstarter-node-agent"), Clock: realClock,
		LeaseView: leases.View, OwnGrants: leases.OwnGrants,
	}
	leases.Admitter = agent
	if err := agent.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("set up node agent: %w", err)
	}
	if err := leases.SetupWithManager(mgr, opts.LeaseConcurrency); err != nil {
		return nil, fmt.Errorf("set up lease reconciler: %w", err)
	}

	podCache, err := newCacheOnOwnConnection(cfg, leasepod.PodCacheOptions(cache.Options{Scheme: scheme, Mapper: mgr.GetRESTMapper()}))
	if err != nil {
		return nil, fmt.Errorf("build the cache of pods that ask for a lease: %w", err)
	}
	if err := (&leasepod.Reconciler{
		Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("jumpstarter-controller"), Clock: realClock,
	}).SetupWithManager(mgr, podCache); err != nil {
		return nil, fmt.Errorf("set up lease pod reconciler: %w", err)
	}

	key, err := signingKey(mgr, opts)
	if err != nil {
		return nil, err
	}
	issuer, err := token.NewIssuer(key, opts.TokenIssuer, opts.TokenLifetime, realClock)
	if err != nil {
		return nil, fmt.Errorf("token issuer: %w", err)
	}
	verifier, err := token.NewVerifier(&key.PublicKey, opts.TokenIssuer, realClock)
	if err != nil {
		return nil, fmt.Errorf("token verifier: %w", err)
	}
	store := &credentials.Store{Client: mgr.GetClient(), Issuer: issuer, Verifier: verifier, Clock: realClock}
	for _, kind := range []token.Kind{token.KindClient, token.KindExporter} {
		if err := (&credentials.Reconciler{Kind: kind, Store: store, Endpoint: opts.GRPCEndpoint}).SetupWithManager(mgr); err != nil {
			return nil, fmt.Errorf("set up %s credential reconciler: %w", kind, err)
		}
	}
	if err := addGRPCServer(ctx, mgr, opts, store, verifier); err != nil {
		return nil, err
	}
	return mgr, nil
}

// signingKey loads the token signing key from the key file, or else from the key Secret in
// the controller's namespace (created if missing). The manager has not started: the Secret
// is read with the API reader and written with the (uncached for writes) client.
func signingKey(mgr ctrl.Manager, opts Options) (*ecdsa.PrivateKey, error) {
	if opts.TokenSigningKeyFile != "" {
		return token.LoadKeyFile(opts.TokenSigningKeyFile)
	}
	ctx, cancel := context.WithTimeout(context.Background(), signingKeyTimeout)
	defer cancel()
	key, err := token.LoadOrCreateKeySecret(ctx, mgr.GetAPIReader(), mgr.GetClient(), opts.controllerNamespace())
	if err != nil {
		return nil, fmt.Errorf("load token signing key (set --namespace or --token-signing-key-file): %w", err)
	}
	return key, nil
}

// Run starts the manager and blocks until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, opts Options) error {
	mgr, err := NewManager(ctx, cfg, opts)
	if err != nil {
		return err
	}
	return mgr.Start(ctx)
}
