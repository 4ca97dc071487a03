package virtualnode

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// ExporterCollector serves the gauge jumpstarter_exporters{namespace,online,enabled,leased}:
// how many boards a lab has, how many can be leased now and how many are. It counts the cache
// at each scrape, with the online rule the scheduler's filter uses (IsOnline).
type ExporterCollector struct {
	reader client.Reader
	clock  clock.PassiveClock
	desc   *prometheus.Desc
}

// NewExporterCollector returns the collector; reader is the manager's cache.
func NewExporterCollector(reader client.Reader, clock clock.PassiveClock) *ExporterCollector {
	return &ExporterCollector{reader: reader, clock: clock, desc: prometheus.NewDesc(
		"jumpstarter_exporters", "Exporters by namespace, whether online (registered, heard from within a minute), enabled, and leased.",
		[]string{"namespace", "online", "enabled", "leased"}, nil)}
}

func (c *ExporterCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *ExporterCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var exporters jumpstarterv1alpha1.ExporterList
	// Read-only counting: no need for the cache's deep copy of every exporter.
	if err := c.reader.List(ctx, &exporters, client.UnsafeDisableDeepCopy); err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, fmt.Errorf("list exporters: %w", err))
		return
	}
	type key struct {
		namespace               string
		online, enabled, leased bool
	}
	now := c.clock.Now()
	counts := map[key]int{}
	for i := range exporters.Items {
		e := &exporters.Items[i]
		counts[key{e.Namespace, IsOnline(e, now), e.IsEnabled(), e.Status.LeaseRef != nil}]++
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n),
			k.namespace, strconv.FormatBool(k.online), strconv.FormatBool(k.enabled), strconv.FormatBool(k.leased))
	}
}
