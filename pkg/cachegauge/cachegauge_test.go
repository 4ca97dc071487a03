package cachegauge

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

func nodesByZone(reader client.Reader) *Collector {
	return New(reader, prometheus.NewDesc("test_nodes", "Nodes by zone.", []string{"zone"}, nil),
		func() client.ObjectList { return &corev1.NodeList{} },
		func(obj runtime.Object) []string { return []string{obj.(*corev1.Node).Labels["zone"]} })
}

func TestCountsByLabels(t *testing.T) {
	node := func(name, zone string) client.Object {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"zone": zone}}}
	}
	c := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(node("a", "z1"), node("b", "z1"), node("c", "z2")).Build()
	want := `
# HELP test_nodes Nodes by zone.
# TYPE test_nodes gauge
test_nodes{zone="z1"} 2
test_nodes{zone="z2"} 1
`
	if err := testutil.CollectAndCompare(nodesByZone(c), strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func TestListErrorFailsTheScrape(t *testing.T) {
	c := interceptor.NewClient(fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).Build(), interceptor.Funcs{
		List: func(_ context.Context, _ client.WithWatch, _ client.ObjectList, _ ...client.ListOption) error {
			return errors.New("cache not synced")
		},
	})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(nodesByZone(c))
	if _, err := reg.Gather(); err == nil || !strings.Contains(err.Error(), "cache not synced") {
		t.Errorf("Gather: %v, want the list error", err)
	}
}
