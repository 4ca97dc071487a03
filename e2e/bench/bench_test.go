package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"jumpstarter.dev/service/e2e/support"
	"jumpstarter.dev/service/pkg/kubeconn"
	"jumpstarter.dev/service/pkg/lab"
)

// Bounds on the lab itself. Each scenario bounds its own work with a context timeout.
const (
	labStartTimeout = 3 * time.Minute
	labStopTimeout  = 2 * time.Minute
)

// envKeepLab keeps the lab folders, etcd data included, after the benchmark.
const envKeepLab = "BENCH_KEEP_LAB"

// envVerbosity sets the log verbosity (klog -v) of our controller and scheduler, to see where
// time goes; more logging costs CPU, so figures taken with it are not comparable.
const envVerbosity = "BENCH_V"

// envVModule is klog's -vmodule for our controller and scheduler (e.g. wake=4 for the
// scheduler plugin's wakes): the logs of a few files, at a fraction of BENCH_V's cost.
const envVModule = "BENCH_VMODULE"

// envDump names a folder where load and scale write every lease's timeline as CSV
// (SCENARIO.csv), to see when in a run the late ends and slow hand-overs happen.
const envDump = "BENCH_DUMP"

// BenchmarkLeaseScheduling runs every scenario once and prints the table. The scenarios ignore
// b.N: each one is a fixed experiment that takes far longer than a benchmark's default time.
func BenchmarkLeaseScheduling(b *testing.B) {
	if os.Getenv(support.EnvLabBin) == "" || os.Getenv(support.EnvBin) == "" {
		b.Skip("LAB_BIN and JUMPSTARTER_BIN are not set; run the benchmark through make bench")
	}
	// The clients log through controller-runtime, which complains (with a stack trace) until
	// it has a logger.
	ctrllog.SetLogger(klog.NewKlogr())
	results := &table{}
	defer results.print(os.Stdout)

	// grant-latency, hand-over, ci-pod and load share one lab, started by the first of them that runs;
	// it is stopped before scale starts a lab of its own.
	shared := &sharedLab{}
	b.Run("grant-latency", func(b *testing.B) { benchGrantLatency(b, shared.get(b), results) })
	b.Run("hand-over", func(b *testing.B) { benchHandOver(b, shared.get(b), results) })
	b.Run("ci-pod", func(b *testing.B) { benchCIPod(b, shared.get(b), results) })
	b.Run("load", func(b *testing.B) { benchLoad(b, shared.get(b), results) })
	shared.stop(b)
	b.Run("scale", func(b *testing.B) {
		env := startEnv(b)
		defer env.stop(b)
		benchScale(b, env, results)
	})
}

// env is a running lab and the clients the benchmark uses on it. Leases and watches go through
// client; the fleet's heartbeats have a client (and so a rate limiter) of their own, so that
// they never delay a lease creation.
type env struct {
	lab         *lab.Lab
	client      client.WithWatch
	fleetClient client.WithWatch
	// watchClient is what the benchmark measures with (the lease recorder, the pod tracer):
	// on a connection of its own, as a user's watch would be, not behind the benchmark's own
	// burst of creates (package kubeconn).
	watchClient client.WithWatch
}

func startEnv(b *testing.B) *env {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), labStartTimeout)
	defer cancel()
	extraArgs := map[string][]string{}
	if v := os.Getenv(envVerbosity); v != "" {
		extraArgs[lab.Controller] = append(extraArgs[lab.Controller], "--v="+v)
		extraArgs[lab.Scheduler] = append(extraArgs[lab.Scheduler], "--v="+v)
	}
	if m := os.Getenv(envVModule); m != "" {
		extraArgs[lab.Controller] = append(extraArgs[lab.Controller], "--vmodule="+m)
		extraArgs[lab.Scheduler] = append(extraArgs[lab.Scheduler], "--vmodule="+m)
	}
	if os.Getenv(envKeepLab) != "" {
		// Let the controller be profiled while it runs (its pprof port is logged).
		pprofPorts, err := lab.FreePorts(1)
		if err != nil {
			b.Fatal(err)
		}
		extraArgs[lab.Controller] = append(extraArgs[lab.Controller], fmt.Sprintf("--pprof-bind-address=127.0.0.1:%d", pprofPorts[0]))
		b.Logf("controller pprof on 127.0.0.1:%d", pprofPorts[0])
	}
	l, err := support.StartLab(ctx, extraArgs)
	if err != nil {
		b.Fatalf("start lab: %v", err)
	}
	e := &env{lab: l}
	if e.client, err = support.NewClient(l.RESTConfig()); err == nil {
		e.fleetClient, err = support.NewClient(kubeconn.Own(l.RESTConfig()))
	}
	if err == nil {
		e.watchClient, err = support.NewClient(kubeconn.Own(l.RESTConfig()))
	}
	if err != nil {
		e.stop(b)
		b.Fatalf("client: %v", err)
	}
	b.Logf("lab in %s", l.Dir())
	return e
}

// stop stops the lab and removes its etcd data, keeping the logs unless BENCH_KEEP_LAB is set.
// With BENCH_KEEP_LAB it first saves the apiserver's metrics (request latencies by verb and
// resource, among others) next to the logs.
func (e *env) stop(b *testing.B) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), labStopTimeout)
	defer cancel()
	if os.Getenv(envKeepLab) != "" {
		if err := e.saveMetrics(ctx); err != nil {
			b.Logf("save metrics: %v", err)
		}
	}
	if err := e.lab.Stop(ctx); err != nil {
		b.Errorf("stop lab: %v", err)
		return
	}
	if os.Getenv(envKeepLab) == "" {
		if err := os.RemoveAll(filepath.Join(e.lab.Dir(), "etcd")); err != nil {
			b.Logf("remove etcd data: %v", err)
		}
	}
	b.Logf("lab stopped; logs in %s", filepath.Join(e.lab.Dir(), "logs"))
}

// saveMetrics saves the metrics of the apiserver and the controller next to their logs.
func (e *env) saveMetrics(ctx context.Context) error {
	cs, err := kubernetes.NewForConfig(e.lab.RESTConfig())
	if err != nil {
		return err
	}
	data, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("apiserver: %w", err)
	}
	if err := os.WriteFile(filepath.Join(e.lab.Dir(), "logs", "kube-apiserver.metrics"), data, 0o644); err != nil {
		return err
	}
	url := e.lab.MetricsURL(lab.Controller)
	if url == "" {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	defer resp.Body.Close()
	if data, err = io.ReadAll(resp.Body); err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	return os.WriteFile(filepath.Join(e.lab.Dir(), "logs", "controller.metrics"), data, 0o644)
}

// sharedLab starts a lab on first use.
type sharedLab struct {
	env    *env
	failed bool
}

func (s *sharedLab) get(b *testing.B) *env {
	b.Helper()
	if s.failed {
		b.Fatal("the shared lab failed to start")
	}
	if s.env == nil {
		s.failed = true
		s.env = startEnv(b)
		s.failed = false
	}
	return s.env
}

func (s *sharedLab) stop(b *testing.B) {
	if s.env != nil {
		s.env.stop(b)
		s.env = nil
	}
}
