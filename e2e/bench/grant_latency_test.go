package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/e2e/support"
)

// Scenario grant-latency: one lease at a time on idle exporters.
const (
	grantLatencyExporters = 50
	grantLatencyLeases    = 100
	// grantLatencyStepTimeout bounds each grant and each release.
	grantLatencyStepTimeout = 30 * time.Second
	grantLatencyTimeout     = 15 * time.Minute

	grantLatencyP50Target = 50 * time.Millisecond
	grantLatencyP99Target = 120 * time.Millisecond
)

func benchGrantLatency(b *testing.B, e *env, results *table) {
	const scenario = "(a) grant latency"
	board := map[string]string{"board": "idle"}
	ns := newNamespace(b, e, "bench-grant", exportersOnOneBoard(grantLatencyExporters, board))
	defer ns.delete(b, e)
	ctx, cancel := context.WithTimeout(context.Background(), grantLatencyTimeout)
	defer cancel()
	tracer, err := startPodTracer(ctx, e.watchClient, ns.name)
	if err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	var names []string
	var grants, releases []time.Duration
	createdAt := map[string]time.Time{}
	for i := range grantLatencyLeases {
		name := fmt.Sprintf("l-%03d", i)
		names = append(names, name)
		lease := support.NewLease(ns.name, name, board, time.Hour)
		createdAt[name] = time.Now()
		if err := e.client.Create(ctx, lease); err != nil {
			b.Fatalf("create lease %s: %v", name, err)
		}
		h, err := waitLeases(ctx, ns.rec, []string{name}, grantLatencyStepTimeout, granted)
		if err != nil {
			fatal(b, results, scenario, ns.rec, err)
		}
		grants = append(grants, h[name].Granted.Sub(createdAt[name]))

		released := time.Now()
		lh, err := releaseAndWait(ctx, e, ns, name, grantLatencyStepTimeout)
		if err != nil {
			fatal(b, results, scenario, ns.rec, err)
		}
		releases = append(releases, lh.Ended.Sub(released))
	}
	b.StopTimer()

	// The pod watch may trail the lease watch a little: read it once everything is done.
	h := ns.rec.History()
	var grantSteps steps
	for _, name := range names {
		pod := tracer.history(name)
		grantSteps.add("create → placeholder created (controller)", createdAt[name], pod.Created)
		grantSteps.add("placeholder created → bound (scheduler)", pod.Created, pod.Bound)
		// The grant follows the binding; the node agent's Running write comes after it.
		grantSteps.add("bound → grant written (controller: node agent + status write)", pod.Bound, h[name].BeginStamp)
		grantSteps.add("grant written → Ready seen (watch delivery)", h[name].BeginStamp, h[name].Granted)
	}
	p50, p99 := percentile(grants, 0.5), percentile(grants, 0.99)
	results.add(scenario, "create → Ready p50", human(p50), atMost(p50, grantLatencyP50Target))
	results.add(scenario, "create → Ready p99", human(p99), atMost(p99, grantLatencyP99Target))
	grantSteps.addTo(results, scenario)
	results.add(scenario, "release → ended p50 / p99", human(percentile(releases, 0.5))+" / "+human(percentile(releases, 0.99)), "—")
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
	checkExclusive(b, results, scenario, ns.rec, irregular(h, names, jumpstarterv1alpha1.LeaseReasonReleased))
}
