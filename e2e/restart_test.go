package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
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

// TestEndedLeasesAreDeletedAfterTheirRetention restarts the controller with a short
// --ended-lease-retention: an ended lease stays for that long after its end, then is gone.
func TestEndedLeasesAreDeletedAfterTheirRetention(t *testing.T) {
	const retention = 3 * time.Second
	f := features.New("ended lease retention").
		Assess("an expired lease is deleted once its retention is over, not before", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			args := slices.DeleteFunc(controllerArgs(t), func(a string) bool { return strings.HasPrefix(a, "--ended-lease-retention=") })
			previous, err := shared.lab.RestartComponent(ctx, lab.Controller, append(args, "--ended-lease-retention="+retention.String()))
			if err != nil {
				t.Fatalf("restart controller with a short retention: %v", err)
			}
			defer func() {
				if _, err := shared.lab.RestartComponent(context.WithoutCancel(ctx), lab.Controller, previous); err != nil {
					t.Errorf("restore the controller: %v", err)
				}
			}()

			ns := newNamespace(ctx, t, "retention")
			createExporter(ctx, t, ns, "e1", rpi4, true, true)
			createLease(ctx, t, support.NewLease(ns, "short", rpi4, time.Second))
			ended := waitLease(ctx, t, ns, "short", func(l *jumpstarterv1alpha1.Lease) bool {
				return l.Status.Ended && l.Labels[jumpstarterv1alpha1.LabelLeaseEnded] == "true"
			})
			var goneAt time.Time
			err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, retention+30*time.Second, true, func(ctx context.Context) (bool, error) {
				err := shared.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "short"}, &jumpstarterv1alpha1.Lease{})
				if apierrors.IsNotFound(err) {
					goneAt = time.Now()
					return true, nil
				}
				return false, err
			})
			if err != nil {
				t.Fatalf("the ended lease was not deleted within %v of its retention: %v", 30*time.Second, err)
			}
			if kept := goneAt.Sub(ended.Status.EndTime.Time); kept < retention {
				t.Errorf("the lease was deleted %v after its end, before its retention of %v", kept, retention)
			}
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

// controllerArgs is the lab controller's command line, as the lab records it.
func controllerArgs(t *testing.T) []string {
	t.Helper()
	for _, c := range shared.lab.Components() {
		if c.Name == lab.Controller {
			return c.Args
		}
	}
	t.Fatal("the lab has no controller")
	return nil
}
