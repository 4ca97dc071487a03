package virtualnode

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/cachegauge"
)

// NewExporterCollector serves the gauge jumpstarter_exporters{namespace,online,enabled,leased}:
// how many boards a lab has, how many can be leased now and how many are, counted in the cache
// (reader) at each scrape with the online rule the scheduler's filter uses (IsOnline).
func NewExporterCollector(reader client.Reader, clock clock.PassiveClock) *cachegauge.Collector {
	return cachegauge.New(reader, prometheus.NewDesc(
		"jumpstarter_exporters", "Exporters by namespace, whether online (registered, heard from within a minute), enabled, and leased.",
		[]string{"namespace", "online", "enabled", "leased"}, nil),
		func() client.ObjectList { return &jumpstarterv1alpha1.ExporterList{} },
		func(obj runtime.Object) []string {
			e := obj.(*jumpstarterv1alpha1.Exporter)
			return []string{e.Namespace, strconv.FormatBool(IsOnline(e, clock.Now())),
				strconv.FormatBool(e.IsEnabled()), strconv.FormatBool(e.Status.LeaseRef != nil)}
		})
}
