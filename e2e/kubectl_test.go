package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/e2e/support"
	"jumpstarter.dev/service/pkg/lease"
)

func TestKubectlShowsWhatHappened(t *testing.T) {
	f := features.New("kubectl").
		Assess("describe, get and the short names tell a person what happened", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			ns := newNamespace(ctx, t, "kubectl")
			createExporter(ctx, t, ns, "e1", rpi4, true, true)
			createLease(ctx, t, support.NewLease(ns, "held", rpi4, time.Hour))
			waitLease(ctx, t, ns, "held", support.IsReady)
			createLease(ctx, t, support.NewLease(ns, "waiting", rpi4, time.Hour))
			waitLease(ctx, t, ns, "waiting", func(l *jumpstarterv1alpha1.Lease) bool { return l.Status.QueuePosition != nil })

			checks := []struct {
				args []string
				want []string
			}{
				{[]string{"describe", "leases.jumpstarter.dev", "held", "-n", ns}, []string{"Ready", "True", "exporter e1 granted", lease.EventQueued, lease.EventGranted, "Active"}},
				{[]string{"describe", "jl", "waiting", "-n", ns}, []string{"Pending", "NotAvailable", "Queue Position"}},
				{[]string{"get", "jumpstarter", "-n", ns}, []string{"held", "waiting", "e1", "Active", "Pending"}},
				{[]string{"get", "jexp", "-n", ns}, []string{"e1", "True", "held"}},
				{[]string{"get", "pods", "-n", ns}, []string{lease.PlaceholderName("held"), "Running", lease.PlaceholderName("waiting"), "Pending"}},
			}
			for _, c := range checks {
				out, err := shared.lab.Kubectl(ctx, c.args...)
				if err != nil {
					t.Fatalf("kubectl %v: %v\n%s", c.args, err, out)
				}
				for _, w := range c.want {
					if !strings.Contains(out, w) {
						t.Errorf("kubectl %s: output lacks %q:\n%s", strings.Join(c.args, " "), w, out)
					}
				}
			}
			return ctx
		}).Feature()
	testenv.Test(t, f)
}
