package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"

	"jumpstarter.dev/service/e2e/support"
	"jumpstarter.dev/service/pkg/lab"
)

// suite is what every feature of this package shares: one lab for the test binary.
type suite struct {
	lab    *lab.Lab
	client client.WithWatch
	fleet  *support.Fleet
}

var (
	testenv env.Environment
	shared  suite
)

func TestMain(m *testing.M) {
	if os.Getenv(support.EnvLabBin) == "" {
		fmt.Println("e2e: LAB_BIN is not set; run the end-to-end tests through make e2e")
		os.Exit(0)
	}
	// Parallel runs are opt-in per test (testenv.TestInParallel); testenv.Test stays serial.
	testenv = env.NewWithConfig(envconf.New().WithParallelTestEnabled())
	var stopFleet context.CancelFunc
	testenv.Setup(func(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
		startCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		l, err := support.StartLab(startCtx, nil)
		if err != nil {
			return ctx, fmt.Errorf("start lab: %w", err)
		}
		shared.lab = l
		cfg.WithKubeconfigFile(l.KubeconfigPath())
		if shared.client, err = support.NewClient(l.RESTConfig()); err != nil {
			return ctx, err
		}
		shared.fleet = support.NewFleet(shared.client)
		var fleetCtx context.Context
		fleetCtx, stopFleet = context.WithCancel(context.Background())
		go shared.fleet.Run(fleetCtx)
		return ctx, nil
	})
	testenv.Finish(func(ctx context.Context, _ *envconf.Config) (context.Context, error) {
		if stopFleet != nil {
			stopFleet()
		}
		if shared.lab == nil {
			return ctx, nil
		}
		stopCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		return ctx, shared.lab.Stop(stopCtx)
	})
	os.Exit(testenv.Run(m))
}
