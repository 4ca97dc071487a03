package routerd

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/pflag"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"jumpstarter.dev/service/pkg/auth/routertoken"
	"jumpstarter.dev/service/pkg/tunnel/leasewatch"
	"jumpstarter.dev/service/pkg/tunnel/router"
)

const (
	// DefaultNamespace is the controller's default namespace (controller.DefaultNamespace),
	// home of the router key Secret.
	DefaultNamespace = "jumpstarter-system"
	// EnvPodNamespace is the pod's namespace from the downward API.
	EnvPodNamespace = "POD_NAMESPACE"
	// keySecretPoll is how often a router that starts before the controller looks for the
	// key Secret the controller creates.
	keySecretPoll = 2 * time.Second
	// httpShutdownTimeout bounds the metrics and health servers' shutdown.
	httpShutdownTimeout = 5 * time.Second
)

// Options are the router's flags.
type Options struct {
	BindAddress            string
	TLSCertFile            string
	TLSKeyFile             string
	RouterKeyFile          string
	Namespace              string
	Kubeconfig             string
	LeaseWatch             bool
	PairingTimeout         time.Duration
	MetricsBindAddress     string
	HealthProbeBindAddress string
	PprofBindAddress       string
	DisableQUIC            bool
}

// DefaultOptions are the settings used when no flag says otherwise.
func DefaultOptions() Options {
	return Options{
		BindAddress:            router.DefaultBindAddress,
		LeaseWatch:             true,
		PairingTimeout:         router.DefaultPairingTimeout,
		MetricsBindAddress:     ":8086",
		HealthProbeBindAddress: ":8087",
	}
}

// AddFlags binds the options to flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.BindAddress, "bind-address", o.BindAddress, "host:port of the router: TCP for gRPC and UDP for QUIC")
	fs.StringVar(&o.TLSCertFile, "tls-cert-file", o.TLSCertFile, "PEM serving certificate (with its chain); reloaded when it changes")
	fs.StringVar(&o.TLSKeyFile, "tls-key-file", o.TLSKeyFile, "PEM private key of --tls-cert-file")
	fs.StringVar(&o.RouterKeyFile, "router-key-file", o.RouterKeyFile, "secret shared with the controller to verify router tokens (default: Secret "+routertoken.KeySecretName+" in --namespace)")
	fs.StringVar(&o.Namespace, "namespace", o.Namespace, "namespace of the router key Secret (default: $"+EnvPodNamespace+", else "+DefaultNamespace+")")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "kubeconfig of the API server (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	fs.BoolVar(&o.LeaseWatch, "lease-watch", o.LeaseWatch, "refuse tokens of leases that ended, and close their tunnels, by watching Leases; false runs without a cluster")
	fs.DurationVar(&o.PairingTimeout, "pairing-timeout", o.PairingTimeout, "how long the first stream of a tunnel waits for the second")
	fs.StringVar(&o.MetricsBindAddress, "metrics-bind-address", o.MetricsBindAddress, "address of the Prometheus /metrics endpoint; 0 disables it")
	fs.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", o.HealthProbeBindAddress, "address of the /healthz and /readyz endpoints; 0 disables them")
	fs.StringVar(&o.PprofBindAddress, "pprof-bind-address", o.PprofBindAddress, "address of the /debug/pprof endpoints; empty or 0 disables them")
	fs.BoolVar(&o.DisableQUIC, "disable-quic", o.DisableQUIC, "serve gRPC only, no QUIC on UDP")
}

// Validate checks the flags.
func (o *Options) Validate() error {
	var errs []error
	if o.TLSCertFile == "" || o.TLSKeyFile == "" {
		errs = append(errs, errors.New("--tls-cert-file and --tls-key-file are required: Jumpstarter clients only speak TLS"))
	}
	if o.PairingTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--pairing-timeout %s: want a positive duration", o.PairingTimeout))
	}
	return errors.Join(errs...)
}

func (o *Options) namespace() string {
	for _, ns := range []string{o.Namespace, os.Getenv(EnvPodNamespace)} {
		if ns != "" {
			return ns
		}
	}
	return DefaultNamespace
}

// needsCluster reports whether the router talks to the API server.
func (o *Options) needsCluster() bool { return o.LeaseWatch || o.RouterKeyFile == "" }

// Run runs the router until ctx ends.
func Run(ctx context.Context, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	logger := klog.FromContext(ctx)
	var cfg *rest.Config
	if o.needsCluster() {
		loading := clientcmd.NewDefaultClientConfigLoadingRules()
		loading.ExplicitPath = o.Kubeconfig
		var err error
		if cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(loading, nil).ClientConfig(); err != nil {
			return fmt.Errorf("load kubeconfig: %w", err)
		}
	}
	key, err := loadKey(ctx, o, cfg)
	if err != nil {
		return err
	}
	verifier, err := routertoken.NewVerifier(key, clock.RealClock{})
	if err != nil {
		return fmt.Errorf("router key: %w", err)
	}
	var leases leasewatch.Watcher = leasewatch.AlwaysActive{}
	if o.LeaseWatch {
		inf, err := leasewatch.NewInformer(cfg)
		if err != nil {
			return err
		}
		logger.Info("Watching leases")
		if err := inf.Start(ctx); err != nil {
			return err
		}
		leases = inf
	} else {
		logger.Info("Lease watch off: tokens are checked, not their leases")
	}

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, err := router.New(router.Options{
		BindAddress:    o.BindAddress,
		CertFile:       o.TLSCertFile,
		KeyFile:        o.TLSKeyFile,
		Verifier:       verifier,
		Leases:         leases,
		PairingTimeout: o.PairingTimeout,
		Registerer:     registry,
		DisableQUIC:    o.DisableQUIC,
	})
	if err != nil {
		return err
	}

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Start(gctx) })
	if enabled(o.MetricsBindAddress) {
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(registry, promhttp.HandlerOpts{Registry: registry}))
		g.Go(func() error { return serveHTTP(gctx, "metrics", o.MetricsBindAddress, mux) })
	}
	if enabled(o.HealthProbeBindAddress) {
		mux := http.NewServeMux()
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
		mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
			if !srv.Serving() {
				http.Error(w, "not serving", http.StatusServiceUnavailable)
				return
			}
			_, _ = w.Write([]byte("ok"))
		})
		g.Go(func() error { return serveHTTP(gctx, "health", o.HealthProbeBindAddress, mux) })
	}
	if enabled(o.PprofBindAddress) {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		g.Go(func() error { return serveHTTP(gctx, "pprof", o.PprofBindAddress, mux) })
	}
	return g.Wait()
}

func enabled(addr string) bool { return addr != "" && addr != "0" }

// serveHTTP serves handler on addr until ctx ends.
func serveHTTP(ctx context.Context, name, addr string, handler http.Handler) error {
	hs := &http.Server{Addr: addr, Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.ListenAndServe() }()
	klog.FromContext(ctx).Info("Serving HTTP", "endpoint", name, "addr", addr)
	select {
	case err := <-errc:
		return fmt.Errorf("%s endpoint on %s: %w", name, addr, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), httpShutdownTimeout)
	defer cancel()
	return hs.Shutdown(sctx)
}

// loadKey reads the router key from its file, or waits for the controller's Secret.
func loadKey(ctx context.Context, o Options, cfg *rest.Config) ([]byte, error) {
	if o.RouterKeyFile != "" {
		return routertoken.LoadKeyFile(o.RouterKeyFile)
	}
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("router key: %w", err)
	}
	name := types.NamespacedName{Namespace: o.namespace(), Name: routertoken.KeySecretName}
	var key []byte
	err = wait.PollUntilContextCancel(ctx, keySecretPoll, true, func(ctx context.Context) (bool, error) {
		secret := &corev1.Secret{}
		switch err := c.Get(ctx, name, secret); {
		case apierrors.IsNotFound(err):
			klog.FromContext(ctx).Info("Waiting for the controller to create the router key", "secret", name)
			return false, nil
		case err != nil:
			return false, fmt.Errorf("router key: get secret %s: %w", name, err)
		}
		key = secret.Data[routertoken.KeySecretKey]
		return true, nil
	})
	return key, err
}
