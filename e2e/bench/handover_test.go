package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/e2e/support"
)

// Scenario hand-over: a queue of leases on one exporter.
const (
	handOverLeases   = 20
	handOverDuration = 3 * time.Second
	// handOverTimeout: the queue takes handOverLeases × handOverDuration at best.
	handOverTimeout = handOverLeases*handOverDuration + 2*time.Minute

	handOverP50Target = 40 * time.Millisecond
	handOverP99Target = 100 * time.Millisecond
)

func benchHandOver(b *testing.B, e *env, results *table) {
	const scenario = "(b) hand-over"
	board := map[string]string{"board": "solo"}
	ns := newNamespace(b, e, "bench-handover", []exporterSpec{{name: "e-0", labels: board}})
	defer ns.delete(b, e)
	ctx, cancel := context.WithTimeout(context.Background(), handOverTimeout)
	defer cancel()
	tracer, err := startPodTracer(ctx, e.watchClient, ns.name)
	if err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	var names []string
	for i := range handOverLeases {
		lease := support.NewLease(ns.name, fmt.Sprintf("l-%02d", i), board, handOverDuration)
		if err := e.client.Create(ctx, lease); err != nil {
			b.Fatalf("create lease %s: %v", lease.Name, err)
		}
		names = append(names, lease.Name)
	}
	h, err := waitLeases(ctx, ns.rec, names, handOverTimeout, ended)
	b.StopTimer()
	if err != nil {
		fatal(b, results, scenario, ns.rec, err)
	}

	gaps := handOvers(h)
	p50, p99 := percentile(gaps, 0.5), percentile(gaps, 0.99)
	results.add(scenario, "previous ended → Ready p50", human(p50), atMost(p50, handOverP50Target))
	results.add(scenario, "previous ended → Ready p99", human(p99), atMost(p99, handOverP99Target))
	handOverSteps(h, tracer).addTo(results, scenario)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
	checkExclusive(b, results, scenario, ns.rec, irregular(h, names, jumpstarterv1alpha1.LeaseReasonExpired))
}
