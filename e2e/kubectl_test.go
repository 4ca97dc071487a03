package e2e

import (
	"context"
	"fmt"
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
			// Some of it is written after the states waited for above: the exporter's leaseRef by
			// the virtual-node controller, the placeholder's Running by the node agent, the events
			// asynchronously. So each command is run again until its output has it all.
			for _, c := range checks {
				eventually(t, "kubectl "+strings.Join(c.args, " "), 30*time.Second, func() error {
					out, err := shared.lab.Kubectl(ctx, c.args...)
					if err != nil {
						return fmt.Errorf("%v\n%s", err, out)
					}
					var missing []string
					for _, w := range c.want {
						if !strings.Contains(out, w) {
							missing = append(missing, w)
						}
					}
					if len(missing) > 0 {
						return fmt.Errorf("output lacks %q:\n%s", missing, out)
					}
					return nil
				})
			}
			return ctx
		}).Feature()
	testenv.Test(t, f)
}
