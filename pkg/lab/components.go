package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/klog/v2"
	"sigs.k8s.io/yaml"
)

// Component names, in start order.
const (
	Etcd                  = "etcd"
	KubeAPIServer         = "kube-apiserver"
	KubeControllerManager = "kube-controller-manager"
	Scheduler             = "scheduler"
	Controller            = "controller"
	Router                = "router"
)

// AllComponents are the lab's own components in start order.
var AllComponents = []string{Etcd, KubeAPIServer, KubeControllerManager, Scheduler, Controller, Router}

// Binary names: the control plane in the LabBin folder, ours in the Bin folder.
const (
	EtcdBinary                  = "etcd"
	KubeAPIServerBinary         = "kube-apiserver"
	KubeControllerManagerBinary = "kube-controller-manager"
	KubectlBinary               = "kubectl"
	SchedulerBinary             = "scheduler-plugin"
	ControllerBinary            = "controller"
	RouterBinary                = "router"
)

// Readiness and stop timeouts per component. Start times measured on 2 cores are 1 s for etcd,
// 4–8 s for the apiserver and under 1 s for the scheduler; the margins cover a loaded CI runner.
const (
	etcdReadyTimeout       = 30 * time.Second
	apiserverReadyTimeout  = 2 * time.Minute
	kcmReadyTimeout        = time.Minute
	schedulerReadyTimeout  = time.Minute
	controllerReadyTimeout = time.Minute
	routerReadyTimeout     = 30 * time.Second

	// defaultStopTimeout is the SIGTERM grace period of most components.
	defaultStopTimeout = 10 * time.Second
	// apiserverStopTimeout is longer: the apiserver drains its requests first. It exits in about
	// 3 s once its watchers are gone; with a watcher left it hangs for minutes (see the notes).
	apiserverStopTimeout = 20 * time.Second
	// portsFreeTimeout bounds the wait for ports to be free after Stop.
	portsFreeTimeout = 10 * time.Second
)

const (
	// serviceClusterIPRange is the Service network; 10.0.0.1 (kubernetes.default) is in the
	// apiserver certificate.
	serviceClusterIPRange = "10.0.0.0/24"
	// serviceAccountIssuer is the issuer of service-account tokens.
	serviceAccountIssuer = "https://kubernetes.default.svc.cluster.local"

	// ourGOGC is the garbage collector's setting for our scheduler and controller, as in
	// config/: they hold informer caches of every lease, pod and node, and under a burst of
	// leases the collector's CPU competes with the API server for the same cores. Collecting
	// half as often trades some memory for it. A/B in the load benchmark, 7 pairs: hand-over
	// p99 lower in all 7 (median 403 against 605 ms), grants/s 18.8 against 18.4.
	ourGOGC = "GOGC=200"

	// clientQPS and clientBurst are the rate limits of RESTConfig.
	clientQPS   = 100
	clientBurst = 200
)

// labPorts are the ports picked for a lab, by component and role.
type labPorts struct {
	etcdClient, etcdPeer, apiserver, kcm, scheduler, controllerHealth, controllerGRPC int
	// router serves gRPC on TCP and QUIC on UDP; a TCP port free below the ephemeral range is
	// as good as certain to be free for UDP too.
	router, routerHealth int
	// The metrics endpoints of our controller and router (Lab.MetricsURL).
	controllerMetrics, routerMetrics int
}

func pickPorts() (labPorts, error) {
	p, err := FreePorts(11)
	if err != nil {
		return labPorts{}, err
	}
	return labPorts{p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10]}, nil
}

// componentPlan is how to run one component.
type componentPlan struct {
	state *ComponentState
	// ours: a binary of this project (Bin), which may be missing while developing.
	ours bool
}

// planComponent returns how to run the named component in the lab described by s.
func planComponent(s *State, name string, ports labPorts, extraArgs []string) (componentPlan, error) {
	dir := s.Dir
	p := pkiPaths{dir}
	c := &ComponentState{
		Name:        name,
		Log:         filepath.Join(dir, "logs", name+".log"),
		StopTimeout: defaultStopTimeout,
	}
	plan := componentPlan{state: c}
	switch name {
	case Etcd:
		client, peer := "http://"+hostPort(ports.etcdClient), "http://"+hostPort(ports.etcdPeer)
		c.Path = filepath.Join(s.LabBin, EtcdBinary)
		c.Args = []string{
			"--name=lab",
			"--data-dir=" + filepath.Join(dir, "etcd"),
			"--listen-client-urls=" + client,
			"--advertise-client-urls=" + client,
			"--listen-peer-urls=" + peer,
			"--initial-advertise-peer-urls=" + peer,
			"--initial-cluster=lab=" + peer,
			"--unsafe-no-fsync",
			"--log-level=warn",
		}
		c.Ports = map[string]int{"client": ports.etcdClient, "peer": ports.etcdPeer}
		c.ReadyURL = client + "/health"
		c.ReadyTimeout = etcdReadyTimeout
	case KubeAPIServer:
		c.Path = filepath.Join(s.LabBin, KubeAPIServerBinary)
		c.Args = []string{
			"--etcd-servers=http://" + hostPort(ports.etcdClient),
			"--bind-address=" + localhost,
			"--advertise-address=" + localhost,
			"--secure-port=" + strconv.Itoa(ports.apiserver),
			// The default reconciler refuses a loopback advertise address.
			"--endpoint-reconciler-type=none",
			"--tls-cert-file=" + p.cert("apiserver"),
			"--tls-private-key-file=" + p.key("apiserver"),
			"--client-ca-file=" + CACertPath(dir),
			"--token-auth-file=" + tokensPath(dir),
			"--service-account-key-file=" + p.saPub(),
			"--service-account-signing-key-file=" + p.saKey(),
			"--service-account-issuer=" + serviceAccountIssuer,
			"--authorization-mode=Node,RBAC",
			"--service-cluster-ip-range=" + serviceClusterIPRange,
			"--allow-privileged=true",
		}
		c.Ports = map[string]int{"secure": ports.apiserver}
		c.ReadyURL = "https://" + hostPort(ports.apiserver) + "/readyz"
		c.ReadyCA = CACertPath(dir)
		c.StopTimeout = apiserverStopTimeout
		c.ReadyTimeout = apiserverReadyTimeout
	case KubeControllerManager:
		c.Path = filepath.Join(s.LabBin, KubeControllerManagerBinary)
		c.Args = []string{
			// No --authentication-kubeconfig: with it KCM keeps logging that the apiserver has no
			// requestheader CA. Its health endpoints are always allowed anyway.
			"--kubeconfig=" + kubeconfigPath(dir, "kube-controller-manager"),
			"--bind-address=" + localhost,
			"--secure-port=" + strconv.Itoa(ports.kcm),
			"--leader-elect=false",
			// One identity for every controller (made cluster-admin by labBindings): starting
			// with a token per controller takes 5 s.
			"--use-service-account-credentials=false",
			"--service-account-private-key-file=" + p.saKey(),
			"--root-ca-file=" + CACertPath(dir),
			"--cluster-signing-cert-file=" + CACertPath(dir),
			"--cluster-signing-key-file=" + CAKeyPath(dir),
			"--controllers=*",
		}
		c.Ports = map[string]int{"secure": ports.kcm}
		c.ReadyURL = "https://" + hostPort(ports.kcm) + "/healthz"
		c.ReadyTimeout = kcmReadyTimeout
	case Scheduler:
		c.Path = filepath.Join(s.Bin, SchedulerBinary)
		c.Args = []string{
			"--config=" + schedulerConfigPath(dir),
			"--feature-gates=" + SchedulerFeatureGates,
			"--bind-address=" + localhost,
			"--secure-port=" + strconv.Itoa(ports.scheduler),
		}
		c.Ports = map[string]int{"secure": ports.scheduler}
		c.Env = []string{ourGOGC}
		c.ReadyURL = "https://" + hostPort(ports.scheduler) + "/readyz"
		plan.ours = true
		c.ReadyTimeout = schedulerReadyTimeout
	case Controller:
		c.Path = filepath.Join(s.Bin, ControllerBinary)
		c.Args = []string{
			"--kubeconfig=" + kubeconfigPath(dir, "controller"),
			"--leader-elect=true",
			"--leader-election-namespace=kube-system",
			"--health-probe-bind-address=" + hostPort(ports.controllerHealth),
			"--metrics-bind-address=" + hostPort(ports.controllerMetrics),
		}
		c.Args = append(c.Args, grpcArgs(dir, ports.controllerGRPC)...)
		c.Args = append(c.Args, "--router-endpoint="+hostPort(ports.router), "--router-key-file="+p.routerKey())
		c.Ports = map[string]int{"health": ports.controllerHealth, portGRPC: ports.controllerGRPC, portMetrics: ports.controllerMetrics}
		c.Env = []string{ourGOGC}
		c.ReadyURL = "http://" + hostPort(ports.controllerHealth) + "/readyz"
		plan.ours = true
		c.ReadyTimeout = controllerReadyTimeout
	case Router:
		c.Path = filepath.Join(s.Bin, RouterBinary)
		c.Args = []string{
			"--bind-address=" + hostPort(ports.router),
			"--tls-cert-file=" + p.cert(routerCert),
			"--tls-key-file=" + p.key(routerCert),
			"--router-key-file=" + p.routerKey(),
			// The router only reads Leases (to refuse tokens of ended ones); in the lab it
			// does so as the controller, which may.
			"--kubeconfig=" + kubeconfigPath(dir, "controller"),
			"--health-probe-bind-address=" + hostPort(ports.routerHealth),
			"--metrics-bind-address=" + hostPort(ports.routerMetrics),
		}
		c.Ports = map[string]int{portRouter: ports.router, "health": ports.routerHealth, portMetrics: ports.routerMetrics}
		c.ReadyURL = "http://" + hostPort(ports.routerHealth) + "/readyz"
		plan.ours = true
		c.ReadyTimeout = routerReadyTimeout
	default:
		return componentPlan{}, fmt.Errorf("unknown component %q (known: %v)", name, AllComponents)
	}
	c.Args = append(c.Args, extraArgs...)
	return plan, nil
}

// SchedulerFeatureGates are the scheduler's feature gates, as in config/scheduler/scheduler.yaml
// (a test checks that they agree). SchedulerAsyncAPICalls (beta, off by default in 1.37) moves
// the status patch and event of a failed attempt off the scheduling loop: without it every
// placeholder that waits for a busy exporter holds the loop for one API round trip when it is
// first tried, so a burst of 500 leases delayed every hand-over behind it by seconds.
const SchedulerFeatureGates = "SchedulerAsyncAPICalls=true"

// SchedulerConfigSource is the scheduler configuration in the config folder that the lab
// adapts to itself.
const SchedulerConfigSource = "scheduler/scheduler-config.yaml"

// defaultSchedulerConfig is used when the config folder has no scheduler configuration yet.
const defaultSchedulerConfig = `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: jumpstarter-scheduler
`

func schedulerConfigPath(dir string) string { return filepath.Join(dir, "scheduler-config.yaml") }

// writeSchedulerConfig writes DIR/scheduler-config.yaml: the project's scheduler configuration
// with the lab's kubeconfig and leader election off.
func writeSchedulerConfig(ctx context.Context, dir, configDir string) error {
	logger := klog.FromContext(ctx)
	data := []byte(defaultSchedulerConfig)
	if configDir != "" {
		src := filepath.Join(configDir, SchedulerConfigSource)
		switch b, err := os.ReadFile(src); {
		case err == nil:
			data = b
		case os.IsNotExist(err):
			logger.Info("No scheduler configuration, using a minimal default", "missing", src)
		default:
			return fmt.Errorf("write scheduler config: %w", err)
		}
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("write scheduler config: parse: %w", err)
	}
	if cfg == nil {
		cfg = map[string]any{}
	}
	setNested(cfg, kubeconfigPath(dir, "scheduler"), "clientConnection", "kubeconfig")
	setNested(cfg, false, "leaderElection", "leaderElect")
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("write scheduler config: %w", err)
	}
	return writeFile(schedulerConfigPath(dir), out, 0o644)
}

// setNested sets m[path[0]][path[1]]... = value, creating maps on the way.
func setNested(m map[string]any, value any, path ...string) {
	for _, k := range path[:len(path)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[path[len(path)-1]] = value
}
