package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// Scenario load: a burst of short leases with random selectors over a small fleet.
const (
	loadBoards   = 10
	loadPerBoard = 5
	loadLeases   = 500
	loadDuration = 2 * time.Second
	// loadTimeout bounds the lease phase; the ideal is about 25 s.
	loadTimeout  = 5 * time.Minute
	loadScenario = "(c) load"
)

var loadTargets = burstTargets{minRate: 18, lateP99: 500 * time.Millisecond, handOverP99: 500 * time.Millisecond}

func benchLoad(b *testing.B, e *env, results *table) {
	values := boards(loadBoards)
	ns := newNamespace(b, e, "bench-load", exportersOverBoards(values, loadPerBoard))
	defer ns.delete(b, e)
	ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
	defer cancel()
	leases, ideal := randomLeases(ns.name, loadLeases, values, loadPerBoard, loadDuration)
	names := leaseNames(leases)

	tracer, err := startPodTracer(ctx, e.watchClient, ns.name)
	if err != nil {
		b.Fatal(err)
	}

	cpu, err := startCPUUse(e.lab.Components())
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	first, _, err := createLeases(ctx, e.client, leases)
	if err != nil {
		b.Fatal(err)
	}
	h, err := waitLeases(ctx, ns.rec, names, loadTimeout, ended)
	b.StopTimer()

	measureBurst(h, names, first, loadDuration).report(b, results, loadScenario, fmt.Sprintf("%d exporters, %d × %v leases", loadBoards*loadPerBoard, loadLeases, loadDuration), ideal, loadTargets)
	handOverSteps(h, tracer).addTo(results, loadScenario)
	dumpTimelines(b, "load", h, names, first, tracer)
	dumpEvents(b, e.client, ns.name, "load", first)
	if cpuErr := cpu.addTo(results, loadScenario, loadLeases, "lease"); cpuErr != nil {
		b.Error(cpuErr)
	}
	if err != nil {
		fatal(b, results, loadScenario, ns.rec, err)
	}
	checkExclusive(b, results, loadScenario, ns.rec, irregular(h, names, jumpstarterv1alpha1.LeaseReasonExpired))
}
