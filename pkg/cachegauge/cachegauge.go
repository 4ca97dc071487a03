package cachegauge

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// listTimeout bounds one scrape's read of the cache.
const listTimeout = 10 * time.Second

// Collector is a gauge of the objects newList lists, by the label values labelsOf gives each.
type Collector struct {
	reader   client.Reader
	desc     *prometheus.Desc
	newList  func() client.ObjectList
	labelsOf func(runtime.Object) []string
}

// New returns the collector; reader is the manager's cache, and labelsOf returns one value
// for each of desc's variable labels, in order.
func New(reader client.Reader, desc *prometheus.Desc, newList func() client.ObjectList, labelsOf func(runtime.Object) []string) *Collector {
	return &Collector{reader: reader, desc: desc, newList: newList, labelsOf: labelsOf}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), listTimeout)
	defer cancel()
	list := c.newList()
	// Read-only counting: no need for the cache's deep copy of every object.
	if err := c.reader.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, fmt.Errorf("list %T: %w", list, err))
		return
	}
	counts := map[string]int{}
	values := map[string][]string{}
	_ = meta.EachListItem(list, func(obj runtime.Object) error {
		labels := c.labelsOf(obj)
		// \xff cannot occur in label values that are valid UTF-8.
		key := strings.Join(labels, "\xff")
		counts[key]++
		values[key] = labels
		return nil
	})
	for key, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), values[key]...)
	}
}
