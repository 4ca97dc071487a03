package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
)

// DefaultDir is the lab directory when Options.Dir is empty.
const DefaultDir = ".lab"

// failedStartStopTimeout bounds the cleanup after a failed Start.
const failedStartStopTimeout = time.Minute

// Options configure Start.
type Options struct {
	// Dir holds everything the lab owns (see the package documentation). Default DefaultDir.
	Dir string
	// LabBin is the folder with etcd, kube-apiserver, kube-controller-manager and kubectl.
	LabBin string
	// Bin is the folder with our binaries scheduler-plugin and controller.
	Bin string
	// ConfigDir is the project's config folder (CRDs, RBAC, scheduler configuration). Default:
	// the config folder of the module jumpstarter.dev/service above the working directory.
	ConfigDir string
	// Components to start, in any order; they always start in the order of AllComponents.
	// Empty means all of them, except that our own components are skipped with a log line when
	// their binary is missing. A component named here must have its binary.
	Components []string
	// ExtraArgs are appended to the command line of a component, by component name.
	ExtraArgs map[string][]string
	// DieWithParent kills every process of the lab (SIGKILL) when the thread that started it
	// exits, so that a test binary that dies leaves nothing behind. Leave it off for a lab that
	// should outlive its starter, like "lab up".
	DieWithParent bool
	// Logger defaults to the logger of the context given to Start.
	Logger logr.Logger
}

// Lab is a running (or attached) local lab. Its methods are safe for concurrent use.
type Lab struct {
	mu            sync.Mutex
	state         *State
	children      map[string]*child
	logger        logr.Logger
	dieWithParent bool
	restConfig    *rest.Config
}

// Start starts the lab and returns once every component is ready. If anything fails, it stops
// what it started before it returns the error.
func Start(ctx context.Context, opts Options) (_ *Lab, err error) {
	logger := opts.Logger
	if logger.GetSink() == nil {
		logger = klog.FromContext(ctx)
	}
	ctx = klog.NewContext(ctx, logger)
	begin := time.Now()

	s, explicit, names, err := newState(opts)
	if err != nil {
		return nil, fmt.Errorf("start lab: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(s.Dir, "logs"), 0o755); err != nil {
		return nil, fmt.Errorf("start lab: %w", err)
	}
	if old, err := LoadState(s.Dir); err == nil {
		if running := runningComponents(old); len(running) > 0 {
			return nil, fmt.Errorf("start lab: a lab is already running in %s (%s); stop it with: lab down --dir %s", s.Dir, strings.Join(running, ", "), s.Dir)
		}
	}
	if _, err := EnsurePKI(s.Dir); err != nil {
		return nil, fmt.Errorf("start lab: %w", err)
	}
	ports, err := pickPorts()
	if err != nil {
		return nil, fmt.Errorf("start lab: %w", err)
	}
	s.APIServerPort = ports.apiserver
	for _, identity := range []string{"admin", "kube-controller-manager", "scheduler", "controller"} {
		if err := writeKubeconfig(s.Dir, identity, ports.apiserver); err != nil {
			return nil, fmt.Errorf("start lab: %w", err)
		}
	}
	if err := writeSchedulerConfig(ctx, s.Dir, s.ConfigDir); err != nil {
		return nil, fmt.Errorf("start lab: %w", err)
	}

	for _, name := range names {
		plan, err := planComponent(s, name, ports, opts.ExtraArgs[name])
		if err != nil {
			return nil, fmt.Errorf("start lab: %w", err)
		}
		if plan.ours && (s.Bin == "" || !fileExists(plan.state.Path)) {
			if explicit {
				return nil, fmt.Errorf("start lab: %s: binary %s not found (build it with make build)", name, plan.state.Path)
			}
			logger.Info("Binary missing, not starting component", "component", name, "binary", plan.state.Path)
			continue
		}
		s.Components = append(s.Components, plan.state)
	}
	if err := s.Save(); err != nil {
		return nil, fmt.Errorf("start lab: %w", err)
	}

	l := &Lab{state: s, children: map[string]*child{}, logger: logger, dieWithParent: opts.DieWithParent}
	defer func() {
		if err == nil {
			return
		}
		logger.Info("Start failed, stopping what was started", "err", err)
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), failedStartStopTimeout)
		defer cancel()
		if stopErr := l.Stop(stopCtx); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("stop after failed start: %w", stopErr))
		}
	}()

	for _, c := range s.Components {
		if err := l.startLocked(ctx, c); err != nil {
			return nil, err
		}
		switch c.Name {
		case KubeAPIServer:
			if l.restConfig, err = restConfigFromKubeconfig(l.KubeconfigPath()); err != nil {
				return nil, err
			}
			// CRDs and RBAC go in before kube-controller-manager, which needs its binding, and
			// before our components, which need both.
			if err := installManifests(ctx, l.restConfig, s.ConfigDir); err != nil {
				return nil, err
			}
			if err := publishDemoCA(ctx, l.restConfig, s.Dir); err != nil {
				return nil, err
			}
		case KubeControllerManager:
			if err := waitControllerManagerWorking(ctx, l.restConfig, c); err != nil {
				return nil, err
			}
		}
	}
	logger.Info("Lab ready", "dir", s.Dir, "kubeconfig", l.KubeconfigPath(), "duration", time.Since(begin).Round(time.Millisecond))
	return l, nil
}

// newState validates opts and returns the initial state, whether components were named
// explicitly, and the components to start in start order.
func newState(opts Options) (s *State, explicit bool, names []string, err error) {
	s = &State{}
	if s.Dir, err = filepath.Abs(cmpOr(opts.Dir, DefaultDir)); err != nil {
		return nil, false, nil, err
	}
	if opts.LabBin == "" {
		return nil, false, nil, errors.New("no LabBin folder (etcd, kube-apiserver, kube-controller-manager, kubectl); build it with hack/build-lab-bins.sh")
	}
	if s.LabBin, err = filepath.Abs(opts.LabBin); err != nil {
		return nil, false, nil, err
	}
	if opts.Bin != "" {
		if s.Bin, err = filepath.Abs(opts.Bin); err != nil {
			return nil, false, nil, err
		}
	}
	s.ConfigDir = opts.ConfigDir
	if s.ConfigDir == "" {
		s.ConfigDir = FindConfigDir()
	}
	if s.ConfigDir != "" {
		if s.ConfigDir, err = filepath.Abs(s.ConfigDir); err != nil {
			return nil, false, nil, err
		}
	}
	explicit = len(opts.Components) > 0
	for _, name := range opts.Components {
		if !slices.Contains(AllComponents, name) {
			return nil, false, nil, fmt.Errorf("unknown component %q (known: %s)", name, strings.Join(AllComponents, ", "))
		}
	}
	for _, name := range AllComponents {
		if !explicit || slices.Contains(opts.Components, name) {
			names = append(names, name)
		}
	}
	needs := map[string]string{KubeAPIServer: Etcd, KubeControllerManager: KubeAPIServer, Scheduler: KubeAPIServer, Controller: KubeAPIServer, Router: KubeAPIServer}
	for _, name := range names {
		if need := needs[name]; need != "" && !slices.Contains(names, need) {
			return nil, false, nil, fmt.Errorf("component %s needs %s", name, need)
		}
	}
	for _, name := range names {
		bin := map[string]string{Etcd: EtcdBinary, KubeAPIServer: KubeAPIServerBinary, KubeControllerManager: KubeControllerManagerBinary}[name]
		if bin != "" && !fileExists(filepath.Join(s.LabBin, bin)) {
			return nil, false, nil, fmt.Errorf("%s not found in %s; build it with hack/build-lab-bins.sh", bin, s.LabBin)
		}
	}
	return s, explicit, names, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func runningComponents(s *State) []string {
	var running []string
	for _, c := range s.Components {
		if alive(c) {
			running = append(running, fmt.Sprintf("%s pid %d", c.Name, c.PID))
		}
	}
	return running
}

// FindConfigDir returns the config folder of the module jumpstarter.dev/service that contains
// the working directory, or "" when there is none.
func FindConfigDir() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && declaresModule(data, modulePath) {
			return filepath.Join(dir, "config")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// modulePath is the module whose config folder FindConfigDir looks for.
const modulePath = "jumpstarter.dev/service"

func declaresModule(goMod []byte, path string) bool {
	for _, line := range strings.Split(string(goMod), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" && strings.Trim(f[1], `"`) == path {
			return true
		}
	}
	return false
}

// startLocked starts c and waits until it is ready. l.mu is held or l is not shared yet.
func (l *Lab) startLocked(ctx context.Context, c *ComponentState) error {
	if !fileExists(c.Path) {
		return fmt.Errorf("start %s: binary %s not found", c.Name, c.Path)
	}
	begin := time.Now()
	ch, err := startProcess(l.logger, c, l.state.Dir, l.dieWithParent)
	if err != nil {
		return fmt.Errorf("start %s: %w", c.Name, err)
	}
	l.children[c.Name] = ch
	if err := l.state.Save(); err != nil {
		return fmt.Errorf("start %s: %w", c.Name, err)
	}
	if err := waitReady(ctx, c, c.ReadyTimeout); err != nil {
		return fmt.Errorf("start %s: %w", c.Name, err)
	}
	l.logger.Info("Component ready", "component", c.Name, "pid", c.PID, "ports", c.Ports, "duration", time.Since(begin).Round(time.Millisecond))
	return nil
}

// stopLocked stops c (kill: SIGKILL at once) and records that it is stopped. l.mu is held.
func (l *Lab) stopLocked(ctx context.Context, c *ComponentState, kill bool) error {
	if c.PID == 0 {
		return nil
	}
	if err := stopProcess(ctx, l.logger, c, kill); err != nil {
		return fmt.Errorf("stop %s: %w", c.Name, err)
	}
	if ch := l.children[c.Name]; ch != nil {
		// The process is gone; let Wait reap it and close the log.
		select {
		case <-ch.done:
		case <-time.After(killTimeout):
		}
		delete(l.children, c.Name)
	}
	if err := l.state.Save(); err != nil {
		return fmt.Errorf("stop %s: %w", c.Name, err)
	}
	return nil
}

// Attach returns the lab recorded in dir/state.json, typically started by another process.
func Attach(dir string) (*Lab, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("attach lab: %w", err)
	}
	s, err := LoadState(abs)
	if err != nil {
		return nil, fmt.Errorf("attach lab: %w", err)
	}
	l := &Lab{state: s, children: map[string]*child{}, logger: klog.Background()}
	if cfg, err := restConfigFromKubeconfig(l.KubeconfigPath()); err == nil {
		l.restConfig = cfg
	}
	return l, nil
}

// Stop stops every process of the lab in reverse start order (SIGTERM, SIGKILL after a
// timeout), waits until they are gone and their ports are free.
func (l *Lab) Stop(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	begin := time.Now()
	var errs []error
	var ports []int
	for _, c := range slices.Backward(l.state.Components) {
		if c.PID != 0 {
			ports = append(ports, c.PortList()...)
		}
		if err := l.stopLocked(ctx, c, false); err != nil {
			errs = append(errs, err)
		}
	}
	if err := waitPortsFree(ports, portsFreeTimeout); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop lab: %w", err)
	}
	l.logger.Info("Lab stopped", "dir", l.state.Dir, "duration", time.Since(begin).Round(time.Millisecond))
	return nil
}

func (l *Lab) component(name string) (*ComponentState, error) {
	c := l.state.Component(name)
	if c == nil {
		names := make([]string, 0, len(l.state.Components))
		for _, c := range l.state.Components {
			names = append(names, c.Name)
		}
		return nil, fmt.Errorf("lab has no component %q (it has: %s)", name, strings.Join(names, ", "))
	}
	return c, nil
}

// KillComponent kills one component with SIGKILL, as a crash would.
func (l *Lab) KillComponent(name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, err := l.component(name)
	if err != nil {
		return err
	}
	return l.stopLocked(context.Background(), c, true)
}

// StartComponent starts a stopped component again with the same command line and waits until
// it is ready.
func (l *Lab) StartComponent(ctx context.Context, name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, err := l.component(name)
	if err != nil {
		return err
	}
	if alive(c) {
		return fmt.Errorf("start %s: already running (pid %d)", name, c.PID)
	}
	return l.startLocked(ctx, c)
}

// RestartComponent stops a component gracefully (a controller hands over its leadership) and
// starts it again with args as its command-line arguments, recorded in the lab's state so that
// later starts use them too. It returns the arguments it had, to restore them the same way.
func (l *Lab) RestartComponent(ctx context.Context, name string, args []string) (previous []string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, err := l.component(name)
	if err != nil {
		return nil, err
	}
	if err := l.stopLocked(ctx, c, false); err != nil {
		return nil, err
	}
	previous, c.Args = c.Args, slices.Clone(args)
	return previous, l.startLocked(ctx, c)
}

// ProcessSpec describes an extra process that runs as part of the lab, like the demo heartbeat.
type ProcessSpec struct {
	Name string
	Path string
	Args []string
	// ReadyURL, if set, must answer 200 before AddProcess returns.
	ReadyURL     string
	ReadyTimeout time.Duration
	// StopTimeout defaults to 10 s.
	StopTimeout time.Duration
	Ports       map[string]int
}

// AddProcess starts an extra process, records it as a component of the lab (stopped first by
// Stop, since it started last) and waits until it is ready.
func (l *Lab) AddProcess(ctx context.Context, spec ProcessSpec) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state.Component(spec.Name) != nil {
		return fmt.Errorf("add process %s: the lab already has a component of that name", spec.Name)
	}
	c := &ComponentState{
		Name:         spec.Name,
		Path:         spec.Path,
		Args:         spec.Args,
		Ports:        spec.Ports,
		ReadyURL:     spec.ReadyURL,
		ReadyTimeout: cmpOrDuration(spec.ReadyTimeout, controllerReadyTimeout),
		StopTimeout:  cmpOrDuration(spec.StopTimeout, defaultStopTimeout),
		Log:          filepath.Join(l.state.Dir, "logs", spec.Name+".log"),
	}
	l.state.Components = append(l.state.Components, c)
	return l.startLocked(ctx, c)
}

func cmpOrDuration(a, b time.Duration) time.Duration {
	if a > 0 {
		return a
	}
	return b
}

// Dir is the lab directory.
func (l *Lab) Dir() string { return l.state.Dir }

// KubeconfigPath is the admin kubeconfig (system:masters).
func (l *Lab) KubeconfigPath() string { return kubeconfigPath(l.state.Dir, "admin") }

// BinDir is the folder of this project's binaries (controller, router, exporter, jmpctl).
func (l *Lab) BinDir() string { return l.state.Bin }

// APIServerPort is the port of the lab's API server on 127.0.0.1.
func (l *Lab) APIServerPort() int { return l.state.APIServerPort }

// CACertPath is the lab CA certificate.
func (l *Lab) CACertPath() string { return CACertPath(l.state.Dir) }

// APIServerURL is the https URL of the kube-apiserver.
func (l *Lab) APIServerURL() string { return "https://" + hostPort(l.state.APIServerPort) }

// RESTConfig returns a copy of the admin client configuration, with raised rate limits; nil if
// the lab has no kubeconfig (an attached lab that never got that far).
func (l *Lab) RESTConfig() *rest.Config {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.restConfig == nil {
		return nil
	}
	return rest.CopyConfig(l.restConfig)
}

// Components returns a snapshot of every component's state.
func (l *Lab) Components() []ComponentState {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]ComponentState, 0, len(l.state.Components))
	for _, c := range l.state.Components {
		cp := *c
		cp.Args = slices.Clone(c.Args)
		out = append(out, cp)
	}
	return out
}

// Running reports whether the named component's process runs.
func (l *Lab) Running(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.state.Component(name)
	return c != nil && alive(c)
}

// KubectlPath is the kubectl of the lab.
func (l *Lab) KubectlPath() string { return filepath.Join(l.state.LabBin, KubectlBinary) }

// Kubectl runs the lab's kubectl with the admin kubeconfig and returns its standard output. On
// failure the error carries the standard error.
func (l *Lab) Kubectl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, l.KubectlPath(), append([]string{"--kubeconfig", l.KubeconfigPath()}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Summary is a short text for people: where the kubeconfig is and how to use it.
func (l *Lab) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Lab is up in %s (kube-apiserver %s)\n", l.state.Dir, l.APIServerURL())
	for _, c := range l.Components() {
		fmt.Fprintf(&b, "  %-24s pid %-7d log %s\n", c.Name, c.PID, c.Log)
	}
	if endpoint := l.RouterEndpoint(); endpoint != "" {
		fmt.Fprintf(&b, "router: %s (gRPC on TCP, QUIC on UDP)\n", endpoint)
	}
	if endpoint := l.GRPCEndpoint(); endpoint != "" {
		fmt.Fprintf(&b, "gRPC endpoint: %s (CA %s)\n", endpoint, l.CACertPath())
	}
	for _, name := range []string{Controller, Router} {
		if url := l.MetricsURL(name); url != "" {
			fmt.Fprintf(&b, "%s metrics: %s\n", name, url)
		}
	}
	fmt.Fprintf(&b, "Kubeconfig: %s\n", l.KubeconfigPath())
	fmt.Fprintf(&b, "  export KUBECONFIG=%s\n", l.KubeconfigPath())
	fmt.Fprintf(&b, "  alias kubectl='%s --kubeconfig %s'\n", l.KubectlPath(), l.KubeconfigPath())
	return b.String()
}
