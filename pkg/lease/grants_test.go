package lease

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

func TestGrantIndex(t *testing.T) {
	written := func(name, exporter string, ended bool) *jumpstarterv1alpha1.Lease {
		l := &jumpstarterv1alpha1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "lab", Name: name}}
		if exporter != "" {
			l.Status.ExporterRef = &corev1.LocalObjectReference{Name: exporter}
		}
		l.Status.Ended = ended
		return l
	}
	e1 := types.NamespacedName{Namespace: "lab", Name: "e1"}
	e2 := types.NamespacedName{Namespace: "lab", Name: "e2"}
	l1 := types.NamespacedName{Namespace: "lab", Name: "l1"}
	l2 := types.NamespacedName{Namespace: "lab", Name: "l2"}
	tests := []struct {
		name     string
		writes   []*jumpstarterv1alpha1.Lease
		forget   []types.NamespacedName
		exporter types.NamespacedName
		want     []types.NamespacedName
	}{
		{name: "nothing written", exporter: e1},
		{name: "waiting status only", writes: []*jumpstarterv1alpha1.Lease{written("l1", "", false)}, exporter: e1},
		{name: "granted", writes: []*jumpstarterv1alpha1.Lease{written("l1", "e1", false)}, exporter: e1, want: []types.NamespacedName{l1}},
		{name: "granted another exporter", writes: []*jumpstarterv1alpha1.Lease{written("l1", "e2", false)}, exporter: e1},
		{name: "granted, then ended", writes: []*jumpstarterv1alpha1.Lease{written("l1", "e1", false), written("l1", "e1", true)}, exporter: e1},
		{name: "two leases on one exporter (a restart's leftovers)", exporter: e1, want: []types.NamespacedName{l1, l2},
			writes: []*jumpstarterv1alpha1.Lease{written("l1", "e1", false), written("l2", "e1", false)}},
		{name: "granted, then deleted", writes: []*jumpstarterv1alpha1.Lease{written("l1", "e1", false)}, forget: []types.NamespacedName{l1}, exporter: e1},
		{name: "one of two ended", exporter: e1, want: []types.NamespacedName{l2},
			writes: []*jumpstarterv1alpha1.Lease{written("l1", "e1", false), written("l2", "e1", false), written("l1", "e1", true)}},
		{name: "the other exporter keeps its lease", exporter: e2, want: []types.NamespacedName{l2},
			writes: []*jumpstarterv1alpha1.Lease{written("l1", "e1", false), written("l2", "e2", false)}, forget: []types.NamespacedName{l1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var g grantIndex
			for _, l := range tt.writes {
				g.record(l)
			}
			for _, key := range tt.forget {
				g.forget(key)
			}
			got := g.leases(tt.exporter)
			slices.SortFunc(got, func(a, b types.NamespacedName) int { return strings.Compare(a.String(), b.String()) })
			if !slices.Equal(got, tt.want) {
				t.Errorf("leases(%s) = %v, want %v", tt.exporter, got, tt.want)
			}
		})
	}
}
