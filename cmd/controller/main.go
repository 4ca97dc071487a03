// Command controller runs the Jumpstarter controller: exporters become virtual nodes, leases
// become placeholder pods that our scheduler binds, and the bindings become grants.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/spf13/pflag"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	"jumpstarter.dev/service/pkg/controller"
)

func main() {
	opts := controller.DefaultOptions()
	fs := pflag.NewFlagSet("controller", pflag.ExitOnError)
	opts.AddFlags(fs)
	goFlags := flag.NewFlagSet("klog", flag.ExitOnError)
	klog.InitFlags(goFlags)
	fs.AddGoFlagSet(goFlags)
	fs.AddGoFlagSet(flag.CommandLine) // --kubeconfig, registered by controller-runtime
	_ = fs.Parse(os.Args[1:])

	ctrl.SetLogger(klog.NewKlogr())
	ctx := ctrl.SetupSignalHandler()
	cfg, err := ctrl.GetConfig()
	if err != nil {
		fmt.Fprintf(os.Stderr, "load kubeconfig: %v\n", err)
		os.Exit(1)
	}
	if err := controller.Run(ctx, cfg, opts); err != nil {
		klog.ErrorS(err, "Controller stopped")
		os.Exit(1)
	}
}
