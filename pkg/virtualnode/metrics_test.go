package virtualnode

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

func TestExporterCollectorCountsByState(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := jumpstarterv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	mk := func(ns, name string, seen time.Duration, enabled, leased bool) client.Object {
		e := exporter(true, seen, "")
		e.Namespace, e.Name = ns, name
		e.Spec.Enabled = ptr.To(enabled)
		if leased {
			e.Status.LeaseRef = &corev1.LocalObjectReference{Name: "l1"}
		}
		return e
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		mk("lab", "free-1", time.Second, true, false),
		mk("lab", "free-2", 10*time.Second, true, false),
		mk("lab", "busy", time.Second, true, true),
		mk("lab", "stale", 2*OnlineTimeout, true, true), // dropped offline in the middle of a lease
		mk("lab", "off", time.Second, false, false),
		mk("ci", "free", time.Second, true, false),
	).Build()
	want := `
# HELP jumpstarter_exporters Exporters by namespace, whether online (registered, heard from within a minute), enabled, and leased.
# TYPE jumpstarter_exporters gauge
jumpstarter_exporters{enabled="false",leased="false",namespace="lab",online="true"} 1
jumpstarter_exporters{enabled="true",leased="false",namespace="ci",online="true"} 1
jumpstarter_exporters{enabled="true",leased="false",namespace="lab",online="true"} 2
jumpstarter_exporters{enabled="true",leased="true",namespace="lab",online="false"} 1
jumpstarter_exporters{enabled="true",leased="true",namespace="lab",online="true"} 1
`
	if err := testutil.CollectAndCompare(NewExporterCollector(c, clocktesting.NewFakePassiveClock(now)), strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
