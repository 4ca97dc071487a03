package e2e

import (
	"context"
	"testing"
	"time"

	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"jumpstarter.dev/service/e2e/support"
	"jumpstarter.dev/service/pkg/lab"
)

func TestControllerRestart(t *testing.T) {
	f := features.New("controller restart").
		Assess("a killed controller loses no lease and grants nothing twice", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			ns := newNamespace(ctx, t, "restart")
			for _, e := range names("e", 2) {
				createExporter(ctx, t, ns, e, rpi4, true, true)
			}
			rec, err := support.StartRecorder(ctx, shared.client, ns)
			if err != nil {
				t.Fatal(err)
			}
			leaseNames := names("l", 6)
			for _, n := range leaseNames {
				createLease(ctx, t, support.NewLease(ns, n, rpi4, 4*time.Second))
				time.Sleep(20 * time.Millisecond)
			}
			if err := rec.WaitAll(ctx, leaseNames[:2], time.Minute, func(h support.LeaseHistory) bool { return !h.Granted.IsZero() }); err != nil {
				t.Fatal(err)
			}
			if err := shared.lab.KillComponent(lab.Controller); err != nil {
				t.Fatalf("kill controller: %v", err)
			}
			time.Sleep(3 * time.Second)
			if err := shared.lab.StartComponent(ctx, lab.Controller); err != nil {
				t.Fatalf("restart controller: %v", err)
			}
			if err := rec.WaitAll(ctx, leaseNames, 3*time.Minute, func(h support.LeaseHistory) bool { return !h.Ended.IsZero() }); err != nil {
				t.Fatal(err)
			}
			if v := rec.Violations(); len(v) > 0 {
				t.Fatalf("double grants across the restart: %v", v)
			}
			// The killed controller holds its leader-election lease until it expires, so the
			// leases due meanwhile end late; order and exclusivity must hold regardless.
			assertServedInOrder(t, rec, leaseNames, time.Second)
			return ctx
		}).Feature()
	testenv.Test(t, f)
}
