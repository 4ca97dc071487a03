package leasepod

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

func TestNewLease(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		refusal     string // substring; "" means a lease
		check       func(*jumpstarterv1alpha1.Lease) bool
	}{
		{"selector, default duration", map[string]string{jumpstarterv1alpha1.AnnotationLeaseSelector: "board=rpi4,site in (lab1,lab2)"}, "",
			func(l *jumpstarterv1alpha1.Lease) bool {
				return l.Spec.Selector.MatchLabels["board"] == "rpi4" && len(l.Spec.Selector.MatchExpressions) == 1 &&
					l.Spec.Duration.Duration == DefaultDuration && l.Spec.ClientRef.Name == "ci"
			}},
		{"exporter and duration", map[string]string{jumpstarterv1alpha1.AnnotationLeaseExporter: "e1", jumpstarterv1alpha1.AnnotationLeaseDuration: "30m"}, "",
			func(l *jumpstarterv1alpha1.Lease) bool {
				return l.Spec.ExporterRef.Name == "e1" && l.Spec.Duration.Duration == 30*time.Minute
			}},
		{"neither", map[string]string{jumpstarterv1alpha1.AnnotationLeaseDuration: "30m"}, "one of them must say which exporter", nil},
		{"bad selector", map[string]string{jumpstarterv1alpha1.AnnotationLeaseSelector: "board in rpi4"}, "annotation jumpstarter.dev/lease-selector:", nil},
		{"empty exporter", map[string]string{jumpstarterv1alpha1.AnnotationLeaseExporter: ""}, "annotation jumpstarter.dev/lease-exporter: empty", nil},
		{"bad duration", map[string]string{jumpstarterv1alpha1.AnnotationLeaseExporter: "e1", jumpstarterv1alpha1.AnnotationLeaseDuration: "soon"},
			`annotation jumpstarter.dev/lease-duration: "soon" is not a positive duration`, nil},
		{"negative duration", map[string]string{jumpstarterv1alpha1.AnnotationLeaseExporter: "e1", jumpstarterv1alpha1.AnnotationLeaseDuration: "-1m"},
			"not a positive duration", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ci", Name: "step", UID: "u1", Annotations: tt.annotations}}
			lease, err := newLease(pod, "ci")
			if tt.refusal != "" {
				r, ok := asRefusal(err)
				if !ok || r.reason != ReasonInvalidRequest || !strings.Contains(r.message, tt.refusal) {
					t.Fatalf("err = %v, want a refusal with %q", err, tt.refusal)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !metav1.IsControlledBy(lease, pod) || lease.Name != "step" || !tt.check(lease) {
				t.Errorf("lease %+v", lease)
			}
		})
	}
}

func TestClientOf(t *testing.T) {
	sa := "system:serviceaccount:ci:builder"
	withUser := func(name, user string) *jumpstarterv1alpha1.Client {
		return &jumpstarterv1alpha1.Client{ObjectMeta: metav1.ObjectMeta{Namespace: "ci", Name: name}, Spec: jumpstarterv1alpha1.ClientSpec{Username: ptr.To(user)}}
	}
	tests := []struct {
		name    string
		clients []*jumpstarterv1alpha1.Client
		named   string
		want    string
		refusal string
	}{
		{"the one client of the service account", []*jumpstarterv1alpha1.Client{withUser("bot", sa), withUser("alice", "alice@example.com")}, "", "bot", ""},
		{"none", []*jumpstarterv1alpha1.Client{withUser("alice", "alice@example.com")}, "", "", `no client in namespace ci has spec.username "system:serviceaccount:ci:builder"`},
		{"several", []*jumpstarterv1alpha1.Client{withUser("a", sa), withUser("b", sa)}, "", "", "name one in annotation jumpstarter.dev/lease-client"},
		{"named, of the service account", []*jumpstarterv1alpha1.Client{withUser("a", sa), withUser("b", sa)}, "b", "b", ""},
		{"named, another identity", []*jumpstarterv1alpha1.Client{withUser("alice", "alice@example.com")}, "alice", "",
			`client "alice" has spec.username "alice@example.com", not the pod's service account`},
		{"named, missing", nil, "ghost", "", `client "ghost" does not exist in namespace ci`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var objs []*jumpstarterv1alpha1.Client
			objs = append(objs, tt.clients...)
			c := newFakeClient(t, objs...)
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ci", Name: "step"}, Spec: corev1.PodSpec{ServiceAccountName: "builder"}}
			if tt.named != "" {
				pod.Annotations = map[string]string{jumpstarterv1alpha1.AnnotationLeaseClient: tt.named}
			}
			got, err := clientOf(context.Background(), c, pod)
			if tt.refusal != "" {
				r, ok := asRefusal(err)
				if !ok || r.reason != ReasonNoClient || !strings.Contains(r.message, tt.refusal) {
					t.Fatalf("err = %v, want a refusal with %q", err, tt.refusal)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("clientOf = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
