package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"jumpstarter.dev/service/pkg/lab"
)

// controllerMetrics scrapes the lab controller's metrics endpoint.
func controllerMetrics(ctx context.Context, t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	url := shared.lab.MetricsURL(lab.Controller)
	if url == "" {
		t.Fatal("the lab's controller serves no metrics")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return families
}

// metricValue is the value of the counter, gauge or (as its sample count) histogram named
// name whose labels include want; 0 if there is none.
func metricValue(families map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f, ok := families[name]
	if !ok {
		return 0
	}
	var sum float64
	for _, m := range f.GetMetric() {
		if !hasLabels(m, want) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	have := map[string]string{}
	for _, l := range m.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// metricsDelta describes how the controller's lease metrics moved between two scrapes.
func metricsDelta(before, after map[string]*dto.MetricFamily, name string, labels map[string]string) string {
	series := name
	if len(labels) > 0 {
		series = fmt.Sprintf("%s%v", name, labels)
	}
	return fmt.Sprintf("%s: %v -> %v", series, metricValue(before, name, labels), metricValue(after, name, labels))
}
