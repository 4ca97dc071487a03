package lease

import (
	"k8s.io/klog/v2"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/accesspolicy"
)

func newLease(name string, mutate func(*jumpstarterv1alpha1.Lease)) *jumpstarterv1alpha1.Lease {
	l := &jumpstarterv1alpha1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: "lab", Name: name, UID: "uid-" + "name"},
		Spec: jumpstarterv1alpha1.LeaseSpec{
			ClientRef: corev1.LocalObjectReference{Name: "alice"},
			Duration:  &metav1.Duration{Duration: 60_000_000_000},
		},
	}
	if mutate != nil {
		mutate(l)
	}
	return l
}

func node(labels map[string]string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Labels: labels}}
}

// nodeLabels are the labels of the virtual node of exporter ns/name with labels extra.
func nodeLabels(ns, name string, extra map[string]string) map[string]string {
	l := map[string]string{jumpstarterv1alpha1.LabelExporterNamespace: ns, jumpstarterv1alpha1.LabelExporterName: name}
	for k, v := range extra {
		l[k] = v
	}
	return l
}

func TestPlaceholderAffinityMatchesExactlyTheRightNodes(t *testing.T) {
	tests := []struct {
		name     string
		selector metav1.LabelSelector
		ref      string
		node     map[string]string
		want     bool
	}{
		{"matchLabels match", metav1.LabelSelector{MatchLabels: map[string]string{"board": "rpi4"}}, "", nodeLabels("lab", "e1", map[string]string{"board": "rpi4"}), true},
		{"matchLabels differ", metav1.LabelSelector{MatchLabels: map[string]string{"board": "rpi4"}}, "", nodeLabels("lab", "e1", map[string]string{"board": "rpi5"}), false},
		{"other namespace never matches", metav1.LabelSelector{MatchLabels: map[string]string{"board": "rpi4"}}, "", nodeLabels("other", "e1", map[string]string{"board": "rpi4"}), false},
		{"In", metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "board", Operator: metav1.LabelSelectorOpIn, Values: []string{"a", "b"}}}}, "", nodeLabels("lab", "e1", map[string]string{"board": "b"}), true},
		{"NotIn", metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "board", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"a"}}}}, "", nodeLabels("lab", "e1", map[string]string{"board": "a"}), false},
		{"Exists", metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "gpu", Operator: metav1.LabelSelectorOpExists}}}, "", nodeLabels("lab", "e1", map[string]string{"gpu": ""}), true},
		{"DoesNotExist", metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "gpu", Operator: metav1.LabelSelectorOpDoesNotExist}}}, "", nodeLabels("lab", "e1", map[string]string{"gpu": "x"}), false},
		{"exporterRef match", metav1.LabelSelector{}, "e1", nodeLabels("lab", "e1", nil), true},
		{"exporterRef other", metav1.LabelSelector{}, "e1", nodeLabels("lab", "e2", nil), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lease := newLease("l1", func(l *jumpstarterv1alpha1.Lease) {
				l.Spec.Selector = tt.selector
				if tt.ref != "" {
					l.Spec.ExporterRef = &corev1.LocalObjectReference{Name: tt.ref}
				}
			})
			pod := newPlaceholder(lease, accesspolicy.Decision{})
			got, err := nodeaffinity.GetRequiredNodeAffinity(pod).Match(node(tt.node))
			if err != nil {
				t.Fatalf("match: %v", err)
			}
			if got != tt.want {
				t.Errorf("affinity matches node %v = %v, want %v", tt.node, got, tt.want)
			}
		})
	}
}

func TestPlaceholderShape(t *testing.T) {
	lease := newLease("l1", func(l *jumpstarterv1alpha1.Lease) {
		l.Spec.Selector.MatchLabels = map[string]string{"board": "rpi4"}
		l.Spec.AllowDisabled = true
	})
	pod := newPlaceholder(lease, accesspolicy.Decision{})
	if pod.Spec.SchedulerName != jumpstarterv1alpha1.SchedulerName {
		t.Errorf("schedulerName = %q", pod.Spec.SchedulerName)
	}
	exporter := corev1.ResourceName(jumpstarterv1alpha1.ResourceExporter)
	req, limit := pod.Spec.Containers[0].Resources.Requests[exporter], pod.Spec.Containers[0].Resources.Limits[exporter]
	if req.Value() != 1 || limit.Value() != 1 {
		t.Errorf("exporter request/limit = %v/%v, want 1/1", req, limit)
	}
	if !metav1.IsControlledBy(pod, lease) {
		t.Errorf("placeholder is not controlled by its lease")
	}
	if pod.Labels[jumpstarterv1alpha1.LabelLeaseName] != "l1" || pod.Annotations[jumpstarterv1alpha1.AnnotationAllowDisabled] != "true" {
		t.Errorf("labels %v annotations %v", pod.Labels, pod.Annotations)
	}
	for _, taint := range []corev1.Taint{
		{Key: jumpstarterv1alpha1.TaintExporterKey, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute},
		{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute},
	} {
		tolerated := false
		for _, tol := range pod.Spec.Tolerations {
			if tol.ToleratesTaint(klog.Background(), &taint, false) && tol.TolerationSeconds == nil {
				tolerated = true
			}
		}
		if !tolerated {
			t.Errorf("taint %v is not tolerated without a time limit", taint)
		}
	}
	if !equality.Semantic.DeepEqual(newPlaceholder(lease, accesspolicy.Decision{}), pod) {
		t.Errorf("placeholder is not deterministic")
	}
}

func TestPlaceholderName(t *testing.T) {
	long := strings.Repeat("a", 253)
	for _, name := range []string{"0190f7a2-1111-7000-8000-000000000001", long} {
		got := PlaceholderName(name)
		if errs := validation.IsDNS1123Subdomain(got); len(errs) > 0 {
			t.Errorf("PlaceholderName(%d chars) = %q: %v", len(name), got, errs)
		}
	}
	if PlaceholderName(long) == PlaceholderName(long[:252]+"b") {
		t.Errorf("long names collide")
	}
}

func TestPlaceholderUnderAccessPolicies(t *testing.T) {
	lease := newLease("l1", func(l *jumpstarterv1alpha1.Lease) {
		l.Spec.Selector.MatchLabels = map[string]string{"board": "rpi4"}
	})
	pod := newPlaceholder(lease, accesspolicy.Decision{
		Priority: 20,
		Spot:     true,
		ExporterSelectors: []metav1.LabelSelector{
			{MatchLabels: map[string]string{"site": "lab1"}},
			{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "site", Operator: metav1.LabelSelectorOpIn, Values: []string{"lab2"}}}},
		},
	})
	if pod.Spec.PriorityClassName != "jumpstarter-priority-20" || pod.Labels[jumpstarterv1alpha1.LabelSpotAccess] != "true" {
		t.Errorf("priority class %q, labels %v", pod.Spec.PriorityClassName, pod.Labels)
	}
	affinity := nodeaffinity.GetRequiredNodeAffinity(pod)
	for _, tt := range []struct {
		labels map[string]string
		want   bool
	}{
		{map[string]string{"board": "rpi4", "site": "lab1"}, true},
		{map[string]string{"board": "rpi4", "site": "lab2"}, true},
		{map[string]string{"board": "rpi4", "site": "lab3"}, false},
		{map[string]string{"board": "rpi4"}, false},
		{map[string]string{"board": "j784", "site": "lab1"}, false},
	} {
		got, err := affinity.Match(node(nodeLabels("lab", "e1", tt.labels)))
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("affinity matches %v = %v, want %v", tt.labels, got, tt.want)
		}
	}
	if plain := newPlaceholder(lease, accesspolicy.Decision{}); plain.Spec.PriorityClassName != "jumpstarter-priority-0" || plain.Labels[jumpstarterv1alpha1.LabelSpotAccess] != "" {
		t.Errorf("a lease without policies got priority class %q, labels %v", plain.Spec.PriorityClassName, plain.Labels)
	}
}
