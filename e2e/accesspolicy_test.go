package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/e2e/support"
	"jumpstarter.dev/service/pkg/lease"
)

// labPolicy is the upstream documentation's example, on the rpi4 boards: admins first, then CI
// for up to an hour, then developers under spot access.
func labPolicy(ns string) *jumpstarterv1alpha1.ExporterAccessPolicy {
	from := func(userType string) []jumpstarterv1alpha1.From {
		return []jumpstarterv1alpha1.From{{ClientSelector: metav1.LabelSelector{MatchLabels: map[string]string{"user-type": userType}}}}
	}
	return &jumpstarterv1alpha1.ExporterAccessPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rpi"},
		Spec: jumpstarterv1alpha1.ExporterAccessPolicySpec{
			ExporterSelector: metav1.LabelSelector{MatchLabels: map[string]string{"board": "rpi4"}},
			Policies: []jumpstarterv1alpha1.Policy{
				{Priority: 20, From: from("admin")},
				{Priority: 10, From: from("ci"), MaximumDuration: &metav1.Duration{Duration: time.Hour}},
				{Priority: 5, From: from("dev"), SpotAccess: true},
			},
		},
	}
}

func TestAccessPolicies(t *testing.T) {
	var ns string
	leaseOf := func(name, client string, d time.Duration) *jumpstarterv1alpha1.Lease {
		l := support.NewLease(ns, name, map[string]string{"board": "rpi4"}, d)
		l.Spec.ClientRef.Name = client
		return l
	}
	f := features.New("exporter access policies").
		Setup(func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			ns = newNamespace(ctx, t, "policy")
			for _, userType := range []string{"admin", "ci", "dev"} {
				c := &jumpstarterv1alpha1.Client{ObjectMeta: metav1.ObjectMeta{
					Namespace: ns, Name: userType, Labels: map[string]string{"user-type": userType},
				}}
				if err := shared.client.Create(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			if err := shared.client.Create(ctx, labPolicy(ns)); err != nil {
				t.Fatal(err)
			}
			createExporter(ctx, t, ns, "e1", rpi4, true, true)
			return ctx
		}).
		Assess("a client no rule names, or a lease too long, gets no access", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			createLease(ctx, t, leaseOf("stranger", "stranger", time.Minute))
			createLease(ctx, t, leaseOf("too-long", "ci", 2*time.Hour))
			noAccess := support.HasCondition(jumpstarterv1alpha1.LeaseConditionUnsatisfiable, metav1.ConditionTrue, jumpstarterv1alpha1.LeaseReasonNoAccess)
			l := waitLease(ctx, t, ns, "stranger", noAccess)
			if !l.Status.Ended || !strings.Contains(conditionMessage(l, jumpstarterv1alpha1.LeaseConditionUnsatisfiable), "is open to client stranger") {
				t.Errorf("stranger's lease: %+v", l.Status)
			}
			l = waitLease(ctx, t, ns, "too-long", noAccess)
			if msg := conditionMessage(l, jumpstarterv1alpha1.LeaseConditionUnsatisfiable); !strings.Contains(msg, "exporteraccesspolicy rpi spec.policies[1] allows leases of at most 1h0m0s, this one is for 2h0m0s") {
				t.Errorf("too-long's message does not name the rule and its maximum: %q", msg)
			}
			return ctx
		}).
		Assess("a spot lease is preempted by a higher priority", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			createLease(ctx, t, leaseOf("dev-1", "dev", time.Hour))
			l := waitLease(ctx, t, ns, "dev-1", support.IsReady)
			if !l.Status.SpotAccess || l.Status.Priority != 5 {
				t.Errorf("dev-1 granted with priority %d spot %v, want 5 spot", l.Status.Priority, l.Status.SpotAccess)
			}
			pc := &schedulingv1.PriorityClass{}
			if err := shared.client.Get(ctx, types.NamespacedName{Name: lease.PriorityClassName(5)}, pc); err != nil || pc.Value != 5 {
				t.Errorf("priority class for 5: %v %v", pc, err)
			}
			createLease(ctx, t, leaseOf("admin-1", "admin", time.Hour))
			l = waitLease(ctx, t, ns, "dev-1", support.IsEnded)
			if !support.HasCondition(jumpstarterv1alpha1.LeaseConditionReady, metav1.ConditionFalse, jumpstarterv1alpha1.LeaseReasonPreempted)(l) {
				t.Errorf("dev-1 ended without Preempted: %+v", l.Status.Conditions)
			}
			l = waitLease(ctx, t, ns, "admin-1", support.IsReady)
			if l.Status.SpotAccess || l.Status.Priority != 20 || l.Status.ExporterRef.Name != "e1" {
				t.Errorf("admin-1 granted %+v, want e1 at priority 20, not spot", l.Status)
			}
			return ctx
		}).
		Assess("higher priority first; a lease that is not spot is never preempted", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			// admin-1 holds e1. ci-1 queues before admin-2; admin-2 goes first.
			createLease(ctx, t, leaseOf("ci-1", "ci", time.Hour))
			waitLease(ctx, t, ns, "ci-1", func(l *jumpstarterv1alpha1.Lease) bool { return l.Status.QueuePosition != nil })
			createLease(ctx, t, leaseOf("admin-2", "admin", time.Hour))
			waitLease(ctx, t, ns, "admin-2", func(l *jumpstarterv1alpha1.Lease) bool { return l.Status.QueuePosition != nil })
			release(ctx, t, ns, "admin-1")
			waitLease(ctx, t, ns, "admin-2", support.IsReady)
			if l := waitLease(ctx, t, ns, "ci-1", func(*jumpstarterv1alpha1.Lease) bool { return true }); support.IsReady(l) || l.Status.Ended {
				t.Errorf("ci-1 went before admin-2: %+v", l.Status)
			}
			release(ctx, t, ns, "admin-2")
			waitLease(ctx, t, ns, "ci-1", support.IsReady)

			// ci-1 (priority 10, not spot) keeps e1 against admin-3 (priority 20).
			createLease(ctx, t, leaseOf("admin-3", "admin", time.Hour))
			waitLease(ctx, t, ns, "admin-3", func(l *jumpstarterv1alpha1.Lease) bool { return l.Status.QueuePosition != nil })
			if l, err := support.WaitForLease(ctx, shared.client, ns, "ci-1", 5*time.Second, func(l *jumpstarterv1alpha1.Lease) bool { return !support.IsReady(l) }); err == nil {
				t.Fatalf("ci-1 lost its exporter to a higher priority: %+v", l.Status)
			}
			release(ctx, t, ns, "ci-1")
			waitLease(ctx, t, ns, "admin-3", support.IsReady)
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

func conditionMessage(l *jumpstarterv1alpha1.Lease, condType string) string {
	if c := meta.FindStatusCondition(l.Status.Conditions, condType); c != nil {
		return c.Message
	}
	return ""
}
