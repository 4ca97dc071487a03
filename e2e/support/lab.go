package support

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"jumpstarter.dev/service/pkg/controller"
	"jumpstarter.dev/service/pkg/lab"
)

// Environment variables set by `make e2e` and `make bench`.
const (
	EnvLabBin = "LAB_BIN"
	EnvBin    = "JUMPSTARTER_BIN"
)

// StartLab starts a whole lab (control plane, our scheduler and controller) in a fresh
// folder. extraArgs are appended per component.
func StartLab(ctx context.Context, extraArgs map[string][]string) (*lab.Lab, error) {
	labBin, bin := os.Getenv(EnvLabBin), os.Getenv(EnvBin)
	if labBin == "" || bin == "" {
		return nil, fmt.Errorf("%s and %s must name the lab binaries and ours; run through make e2e", EnvLabBin, EnvBin)
	}
	dir, err := os.MkdirTemp("", "jumpstarter-e2e-")
	if err != nil {
		return nil, err
	}
	absBin, err := filepath.Abs(bin)
	if err != nil {
		return nil, err
	}
	return lab.Start(ctx, lab.Options{
		Dir:           filepath.Join(dir, "lab"),
		LabBin:        labBin,
		Bin:           absBin,
		Components:    lab.AllComponents,
		ExtraArgs:     extraArgs,
		DieWithParent: true,
	})
}

// NewClient is a typed client with our kinds, with a QPS high enough for load tests.
func NewClient(cfg *rest.Config) (client.WithWatch, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 500, 1000
	scheme, err := controller.NewScheme()
	if err != nil {
		return nil, err
	}
	return client.NewWithWatch(cfg, client.Options{Scheme: scheme})
}
