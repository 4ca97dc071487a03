// Command router runs a Jumpstarter router: it pairs the client's and the exporter's tunnel
// streams by their router token and forwards between them, over gRPC and QUIC on one port.
package main

import (
	"context"
	"flag"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"jumpstarter.dev/service/pkg/tunnel/routerd"
)

func main() {
	opts := routerd.DefaultOptions()
	fs := pflag.NewFlagSet("router", pflag.ExitOnError)
	opts.AddFlags(fs)
	goFlags := flag.NewFlagSet("klog", flag.ExitOnError)
	klog.InitFlags(goFlags)
	fs.AddGoFlagSet(goFlags)
	_ = fs.Parse(os.Args[1:])

	// The lease watch logs through controller-runtime.
	ctrllog.SetLogger(klog.NewKlogr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := routerd.Run(ctx, opts); err != nil {
		klog.ErrorS(err, "Router stopped")
		os.Exit(1)
	}
}
