// Command exporter is the Go exporter agent: `exporter --config FILE` serves the drivers of an
// ExporterConfig to the clients that lease the exporter, in the foreground, until SIGTERM or
// SIGINT (see package jumpstarter.dev/service/pkg/exporter).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
	"k8s.io/klog/v2"

	"jumpstarter.dev/service/pkg/clientconfig"
	"jumpstarter.dev/service/pkg/exporter"
)

func main() {
	fs := pflag.NewFlagSet("exporter", pflag.ExitOnError)
	configPath := fs.String("config", "", "the ExporterConfig file (required)")
	transport := fs.String("transport", "", "how to reach the router: grpc or quic (default: the config's transport key, else grpc)")
	goFlags := flag.NewFlagSet("klog", flag.ExitOnError)
	klog.InitFlags(goFlags)
	fs.AddGoFlagSet(goFlags)
	_ = fs.Parse(os.Args[1:])

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal a second one stops the process at once, shutdown or not.
	context.AfterFunc(ctx, stop)
	ctx = klog.NewContext(ctx, klog.Background())
	if err := run(ctx, *configPath, *transport); err != nil {
		klog.ErrorS(err, "Exporter stopped")
		klog.Flush()
		os.Exit(1)
	}
	klog.Flush()
}

func run(ctx context.Context, configPath, transport string) error {
	if configPath == "" {
		return fmt.Errorf("--config: required, the ExporterConfig file")
	}
	cfg, err := clientconfig.LoadExporterConfig(configPath)
	if err != nil {
		return err
	}
	if transport == "" {
		if transport, err = exporter.ConfigTransport(configPath); err != nil {
			return err
		}
	}
	dial, err := dialer(transport, cfg.TLS)
	if err != nil {
		return err
	}
	agent, err := exporter.New(cfg, dial)
	if err != nil {
		return err
	}
	return agent.RunUntilDone(ctx)
}
