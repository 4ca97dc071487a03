// Command lab runs the local lab: etcd, kube-apiserver, kube-controller-manager, our scheduler
// and our controller as processes on 127.0.0.1 (see package jumpstarter.dev/service/pkg/lab).
//
//	lab up   --dir DIR --lab-bin LABBIN --bin BIN [--demo]   start in the background
//	lab down --dir DIR                                       stop everything up started
//	lab run  --dir DIR --lab-bin LABBIN --bin BIN [--demo]   up in the foreground until Ctrl-C
//	lab status --dir DIR                                     show the processes
//	lab heartbeat --dir DIR                                  the demo exporters' agent (internal)
package main

import (
	"context"
	goflag "flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"k8s.io/klog/v2"

	"jumpstarter.dev/service/pkg/lab"
	"jumpstarter.dev/service/pkg/lab/demo"
	"jumpstarter.dev/service/pkg/lab/demoagent"
)

const (
	// stopTimeout bounds "lab down" and the stop at the end of "lab run"; components get SIGKILL
	// after their own, shorter timeouts.
	stopTimeout = 2 * time.Minute
	// heartbeatComponent is the component name of the demo agent process.
	heartbeatComponent = "demo-heartbeat"
	// agentComponent is the component name of the demo exporter agent (bin/exporter).
	agentComponent = "demo-exporter"
)

const usage = `Usage: lab COMMAND [flags]

Commands:
  up         start the lab in the background and return once it is ready
  down       stop every process of the lab
  run        start the lab in the foreground; Ctrl-C stops it
  status     show the lab's processes
  heartbeat  play the demo exporters' agent (started by up --demo)

Run "lab COMMAND --help" for the flags of a command.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	var err error
	switch cmd {
	case "up":
		err = up(args, false)
	case "run":
		err = up(args, true)
	case "down":
		err = down(args)
	case "status":
		err = status(args)
	case "heartbeat":
		err = heartbeat(args)
	case "help", "-h", "--help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "lab: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	if err != nil {
		if err == pflag.ErrHelp {
			return
		}
		klog.Background().Error(err, "lab "+cmd+" failed")
		klog.Flush()
		os.Exit(1)
	}
	klog.Flush()
}

// newFlagSet returns a flag set with --dir and klog's verbosity flags.
func newFlagSet(name string) (*pflag.FlagSet, *string) {
	fs := pflag.NewFlagSet("lab "+name, pflag.ContinueOnError)
	dir := fs.String("dir", lab.DefaultDir, "lab directory (state, logs, certificates, kubeconfig)")
	klogFlags := goflag.NewFlagSet("klog", goflag.ContinueOnError)
	klog.InitFlags(klogFlags)
	for _, name := range []string{"v", "vmodule"} {
		fs.AddGoFlag(klogFlags.Lookup(name))
	}
	return fs, dir
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func up(args []string, foreground bool) error {
	name := "up"
	if foreground {
		name = "run"
	}
	fs, dir := newFlagSet(name)
	labBin := fs.String("lab-bin", os.Getenv("LAB_BIN"), "folder with etcd, kube-apiserver, kube-controller-manager and kubectl (default $LAB_BIN; see hack/build-lab-bins.sh)")
	bin := fs.String("bin", "bin", "folder with our binaries scheduler-plugin and controller")
	configDir := fs.String("config-dir", "", "the project's config folder (default: config/ of the module above the working directory)")
	components := fs.StringSlice("components", nil, "components to start (default all; our components are skipped if their binary is missing)")
	withDemo := fs.Bool("demo", false, "create demo exporters, a client and leases, and keep the exporters online")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := klog.Background()
	ctx, cancel := signalContext()
	defer cancel()
	ctx = klog.NewContext(ctx, logger)

	l, err := lab.Start(ctx, lab.Options{
		Dir:        *dir,
		LabBin:     *labBin,
		Bin:        *bin,
		ConfigDir:  *configDir,
		Components: *components,
		Logger:     logger,
		// In the foreground the lab must not outlive this process, even if it is killed.
		DieWithParent: foreground,
	})
	if err != nil {
		return err
	}
	if *withDemo {
		if err := startDemo(ctx, l); err != nil {
			stopCtx, stopCancel := context.WithTimeout(context.Background(), stopTimeout)
			defer stopCancel()
			if stopErr := l.Stop(stopCtx); stopErr != nil {
				logger.Error(stopErr, "Stop after failed demo")
			}
			return err
		}
	}
	fmt.Print(l.Summary())
	if !foreground {
		fmt.Printf("Stop it with: lab down --dir %s\n", l.Dir())
		return nil
	}
	fmt.Println("Press Ctrl-C to stop the lab.")
	<-ctx.Done()
	cancel()
	logger.Info("Stopping the lab (Ctrl-C again to kill it)")
	// A second signal cancels the graceful stop: whatever is left gets SIGKILL.
	stopCtx, stopCancel := signalContext()
	defer stopCancel()
	stopCtx, stopTimeoutCancel := context.WithTimeout(stopCtx, stopTimeout)
	defer stopTimeoutCancel()
	return l.Stop(stopCtx)
}

// startDemo seeds the demo objects and starts this binary's heartbeat command as a component,
// so the exporters stay online after "lab up" returns, and a real exporter agent for
// demoagent.AgentExporter when bin/exporter is built.
func startDemo(ctx context.Context, l *lab.Lab) error {
	if err := demo.Seed(ctx, l.RESTConfig()); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("start demo heartbeat: %w", err)
	}
	if err := l.AddProcess(ctx, lab.ProcessSpec{
		Name: heartbeatComponent,
		Path: self,
		Args: []string{"heartbeat", "--dir", l.Dir()},
	}); err != nil {
		return err
	}
	agent := filepath.Join(l.BinDir(), "exporter")
	if _, err := os.Stat(agent); err != nil || l.GRPCEndpoint() == "" {
		klog.FromContext(ctx).Info("No exporter agent or no gRPC endpoint, demo exporter "+demoagent.AgentExporter+" stays offline", "binary", agent)
		return nil
	}
	configs, err := demoagent.WriteConfigs(ctx, l.RESTConfig(), filepath.Join(l.Dir(), "demo"), l.APIServerPort())
	if err != nil {
		return err
	}
	if err := l.AddProcess(ctx, lab.ProcessSpec{
		Name: agentComponent,
		Path: agent,
		Args: []string{"--config", configs.Exporter},
	}); err != nil {
		return err
	}
	fmt.Printf("Demo exporter %s (board=qemu) runs bin/exporter; try:\n  bin/jmpctl --config %s shell --selector board=qemu -- uname -a\n", demoagent.AgentExporter, configs.Client)
	return nil
}

func down(args []string) error {
	fs, dir := newFlagSet("down")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := os.Stat(lab.StatePath(*dir)); os.IsNotExist(err) {
		fmt.Printf("No lab in %s\n", *dir)
		return nil
	}
	l, err := lab.Attach(*dir)
	if err != nil {
		return err
	}
	// A second Ctrl-C during down cancels the graceful wait: everything left gets SIGKILL.
	ctx, cancel := signalContext()
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, stopTimeout)
	defer cancelTimeout()
	if err := l.Stop(ctx); err != nil {
		return err
	}
	fmt.Printf("Lab in %s stopped\n", l.Dir())
	return nil
}

func status(args []string) error {
	fs, dir := newFlagSet("status")
	if err := fs.Parse(args); err != nil {
		return err
	}
	l, err := lab.Attach(*dir)
	if err != nil {
		return err
	}
	fmt.Printf("Lab in %s, kube-apiserver %s, kubeconfig %s\n", l.Dir(), l.APIServerURL(), l.KubeconfigPath())
	if endpoint := l.RouterEndpoint(); endpoint != "" {
		fmt.Printf("router %s\n", endpoint)
	}
	if endpoint := l.GRPCEndpoint(); endpoint != "" {
		fmt.Printf("gRPC endpoint %s, CA %s\n", endpoint, l.CACertPath())
	}
	for _, c := range l.Components() {
		state := "stopped"
		if l.Running(c.Name) {
			state = fmt.Sprintf("running (pid %d)", c.PID)
		}
		fmt.Printf("  %-24s %-20s ports %v  log %s\n", c.Name, state, c.Ports, filepath.Base(c.Log))
	}
	return nil
}

func heartbeat(args []string) error {
	fs, dir := newFlagSet("heartbeat")
	if err := fs.Parse(args); err != nil {
		return err
	}
	l, err := lab.Attach(*dir)
	if err != nil {
		return err
	}
	cfg := l.RESTConfig()
	if cfg == nil {
		return fmt.Errorf("heartbeat: no kubeconfig in %s", l.Dir())
	}
	ctx, cancel := signalContext()
	defer cancel()
	logger := klog.Background().WithName("demo-heartbeat")
	logger.Info("Playing the demo exporters' agent", "namespace", demo.Namespace, "interval", demo.HeartbeatInterval)
	return demo.RunHeartbeat(logr.NewContext(ctx, logger), cfg)
}
