package virtualnode

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

func leaseOn(name, exporter string, ended bool) *jumpstarterv1alpha1.Lease {
	l := &jumpstarterv1alpha1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "lab", Name: name}}
	if exporter != "" {
		l.Status.ExporterRef = &corev1.LocalObjectReference{Name: exporter}
	}
	l.Status.Ended = ended
	return l
}

// The exporter's holder is the lease its status says was granted it and has not ended, placeholder or
// not: a lease that released its placeholder ahead of its end still holds the exporter.
func TestHolderFollowsTheLeasesStatus(t *testing.T) {
	tests := []struct {
		name   string
		leases []client.Object
		want   string
	}{
		{"no lease", nil, ""},
		{"granted and active", []client.Object{leaseOn("a", "e1", false)}, "a"},
		{"ended", []client.Object{leaseOn("a", "e1", true)}, ""},
		{"another exporter's", []client.Object{leaseOn("a", "e2", false)}, ""},
		{"waiting", []client.Object{leaseOn("a", "", false)}, ""},
		{"the next one after an ended one", []client.Object{leaseOn("a", "e1", true), leaseOn("b", "e1", false)}, "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scheme := runtime.NewScheme()
			if err := jumpstarterv1alpha1.AddToScheme(scheme); err != nil {
				t.Fatal(err)
			}
			c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(tt.leases...).
				WithIndex(&jumpstarterv1alpha1.Lease{}, LeaseExporterIndex, LeaseExporterIndexFunc).Build()
			r := &Reconciler{Client: c}
			e1 := &jumpstarterv1alpha1.Exporter{ObjectMeta: metav1.ObjectMeta{Namespace: "lab", Name: "e1"}}
			got, err := r.holder(context.Background(), e1)
			if err != nil || got != tt.want {
				t.Errorf("holder = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestHoldingChanged(t *testing.T) {
	tests := []struct {
		name     string
		old, new *jumpstarterv1alpha1.Lease
		want     bool
	}{
		{"granted", leaseOn("a", "", false), leaseOn("a", "e1", false), true},
		{"ended", leaseOn("a", "e1", false), leaseOn("a", "e1", true), true},
		{"queue position or label only", leaseOn("a", "", false), leaseOn("a", "", false), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := holdingChanged(tt.old, tt.new); got != tt.want {
				t.Errorf("holdingChanged = %v, want %v", got, tt.want)
			}
		})
	}
}
