package e2e

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/e2e/support"
)

func TestImpossibleLeases(t *testing.T) {
	f := features.New("impossible leases").
		Assess("invalid and unsatisfiable leases end with a reason that names the problem", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			ns := newNamespace(ctx, t, "impossible")
			createExporter(ctx, t, ns, "e1", rpi4, true, true)
			createExporter(ctx, t, ns, "off", map[string]string{"board": "disabled-only"}, true, false)

			badOperator := support.NewLease(ns, "bad-operator", nil, time.Hour)
			badOperator.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "board", Operator: "Near", Values: []string{"x"}}}
			noSelector := support.NewLease(ns, "no-selector", nil, time.Hour)
			pinnedMissing := support.NewLease(ns, "pinned-missing", nil, time.Hour)
			pinnedMissing.Spec.ExporterRef = &corev1.LocalObjectReference{Name: "nope"}
			tests := []struct {
				lease       *jumpstarterv1alpha1.Lease
				condition   string
				reason      string
				messageHint string
			}{
				{badOperator, jumpstarterv1alpha1.LeaseConditionInvalid, jumpstarterv1alpha1.LeaseReasonInvalidSelector, "spec.selector.matchExpressions[0].operator"},
				{noSelector, jumpstarterv1alpha1.LeaseConditionInvalid, jumpstarterv1alpha1.LeaseReasonInvalidSelector, "spec.selector"},
				{support.NewLease(ns, "no-match", map[string]string{"board": "pdp11"}, time.Hour), jumpstarterv1alpha1.LeaseConditionUnsatisfiable, jumpstarterv1alpha1.LeaseReasonNoMatchingExporter, "board=pdp11"},
				{support.NewLease(ns, "all-disabled", map[string]string{"board": "disabled-only"}, time.Hour), jumpstarterv1alpha1.LeaseConditionUnsatisfiable, jumpstarterv1alpha1.LeaseReasonAllDisabled, "disabled"},
				{pinnedMissing, jumpstarterv1alpha1.LeaseConditionUnsatisfiable, jumpstarterv1alpha1.LeaseReasonExporterNotFound, `"nope"`},
			}
			for _, tt := range tests {
				createLease(ctx, t, tt.lease)
			}
			for _, tt := range tests {
				l := waitLease(ctx, t, ns, tt.lease.Name, support.IsEnded)
				c := meta.FindStatusCondition(l.Status.Conditions, tt.condition)
				if c == nil || c.Status != metav1.ConditionTrue || c.Reason != tt.reason || !strings.Contains(c.Message, tt.messageHint) {
					t.Errorf("lease %s: condition %s = %+v, want True/%s mentioning %q", tt.lease.Name, tt.condition, c, tt.reason, tt.messageHint)
				}
				if l.Status.ExporterRef != nil {
					t.Errorf("impossible lease %s was granted %s", l.Name, l.Status.ExporterRef.Name)
				}
			}

			// Cross-field rules are refused by the API server, naming the field.
			noDuration := support.NewLease(ns, "no-duration", rpi4, time.Hour)
			noDuration.Spec.Duration = nil
			err := shared.client.Create(ctx, noDuration)
			if err == nil || !strings.Contains(err.Error(), "spec.duration") {
				t.Errorf("lease without duration: err = %v, want a message naming spec.duration", err)
			}
			return ctx
		}).Feature()
	testenv.Test(t, f)
}

func TestOfflineAndDisabledExportersAreNeverGranted(t *testing.T) {
	f := features.New("offline and disabled exporters").
		Assess("a lease waits for an offline exporter, skips a disabled one", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			ns := newNamespace(ctx, t, "offline")
			createExporter(ctx, t, ns, "disabled", rpi4, true, false)
			createExporter(ctx, t, ns, "sleeping", rpi4, false, true)
			createLease(ctx, t, support.NewLease(ns, "l1", rpi4, time.Hour))
			waitLease(ctx, t, ns, "l1", support.HasCondition(jumpstarterv1alpha1.LeaseConditionPending, metav1.ConditionTrue, jumpstarterv1alpha1.LeaseReasonOffline))
			staysPending(ctx, t, ns, "l1", 5*time.Second)

			if err := shared.fleet.SetOnline(ctx, ns, "sleeping", true); err != nil {
				t.Fatal(err)
			}
			if l := waitLease(ctx, t, ns, "l1", support.IsReady); l.Status.ExporterRef.Name != "sleeping" {
				t.Errorf("lease granted %s, want the exporter that came online", l.Status.ExporterRef.Name)
			}
			return ctx
		}).
		Assess("an exporter that drops offline mid-lease keeps its lease", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			ns := newNamespace(ctx, t, "dropout")
			createExporter(ctx, t, ns, "e1", rpi4, true, true)
			createLease(ctx, t, support.NewLease(ns, "l1", rpi4, time.Hour))
			waitLease(ctx, t, ns, "l1", support.IsReady)
			if err := shared.fleet.SetOnline(ctx, ns, "e1", false); err != nil {
				t.Fatal(err)
			}
			// The lifecycle controller taints the node NoExecute; the placeholder tolerates it.
			// Wait for that taint (it comes some seconds after NotReady), then watch the lease
			// for a while: an eviction would end it.
			waitNode(ctx, t, ns, "e1", func(n *corev1.Node) bool {
				return slices.ContainsFunc(n.Spec.Taints, func(t corev1.Taint) bool {
					return t.Key == corev1.TaintNodeNotReady && t.Effect == corev1.TaintEffectNoExecute
				})
			})
			if l, err := support.WaitForLease(ctx, shared.client, ns, "l1", 5*time.Second, func(l *jumpstarterv1alpha1.Lease) bool { return !support.IsReady(l) }); err == nil {
				t.Fatalf("lease lost while its exporter was offline: %+v", l.Status)
			}
			return ctx
		}).Feature()
	testenv.Test(t, f)
}
