package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/lab"
)

// Scenario scale: a burst of short leases over a large fleet, in a lab of its own.
const (
	scaleBoards   = 50
	scalePerBoard = 10
	scaleLeases   = 5000
	scaleDuration = 2 * time.Second
	// scaleTimeout bounds the lease phase. The ideal is under 30 s; on a shared 2-core machine
	// 1000 leases took 160 s, and 5000 had not ended after 30 min (the figures of a timed-out
	// run are still reported).
	scaleTimeout  = 20 * time.Minute
	scaleScenario = "(d) scale"
)

var scaleTargets = burstTargets{minRate: 100, strictRate: true}

// measuredComponents are the processes whose CPU and memory scale reports.
var measuredComponents = []string{lab.Controller, lab.Scheduler, lab.KubeAPIServer}

func benchScale(b *testing.B, e *env, results *table) {
	pids := map[string]int{}
	for _, c := range e.lab.Components() {
		pids[c.Name] = c.PID
	}
	cpuAtStart := sampleCPU(b, pids)

	values := boards(scaleBoards)
	ns := newNamespace(b, e, "bench-scale", exportersOverBoards(values, scalePerBoard))
	// The lab goes with the scenario: no need to delete 5000 leases one by one.
	defer ns.stop()
	ctx, cancel := context.WithTimeout(context.Background(), scaleTimeout)
	defer cancel()
	leases, ideal := randomLeases(ns.name, scaleLeases, values, scalePerBoard, scaleDuration)
	names := leaseNames(leases)

	cpuBeforeLeases := sampleCPU(b, pids)
	b.ResetTimer()
	first, created, err := createLeases(ctx, e.client, leases)
	if err != nil {
		b.Fatal(err)
	}
	h, err := waitLeases(ctx, ns.rec, names, scaleTimeout, ended)
	b.StopTimer()
	cpuAtEnd := sampleCPU(b, pids)

	measureBurst(h, names, first, scaleDuration).report(b, results, scaleScenario, fmt.Sprintf("%d exporters, %d × %v leases", scaleBoards*scalePerBoard, scaleLeases, scaleDuration), ideal, scaleTargets)
	results.add(scaleScenario, fmt.Sprintf("creating the %d leases (%d goroutines)", scaleLeases, workers), human(created.Sub(first)), "—")
	leasePhase := cpuAtEnd[lab.Controller].wall - cpuBeforeLeases[lab.Controller].wall
	for _, name := range measuredComponents {
		total := cpuAtEnd[name].cpu - cpuAtStart[name].cpu
		leasesOnly := cpuAtEnd[name].cpu - cpuBeforeLeases[name].cpu
		results.add(scaleScenario, name+" CPU",
			fmt.Sprintf("%.1f s (leases: %.1f s in %.0f s)", total.Seconds(), leasesOnly.Seconds(), leasePhase.Seconds()), "—")
		rss, rssErr := peakRSS(pids[name])
		if rssErr != nil {
			b.Errorf("peak RSS of %s: %v", name, rssErr)
		}
		results.add(scaleScenario, name+" peak RSS", fmt.Sprintf("%d MiB", rss>>20), "—")
		b.ReportMetric(leasesOnly.Seconds(), name+"-cpu-s")
		b.ReportMetric(float64(rss>>20), name+"-rss-MiB")
	}
	if err != nil {
		fatal(b, results, scaleScenario, ns.rec, err)
	}
	checkExclusive(b, results, scaleScenario, ns.rec, irregular(h, names, jumpstarterv1alpha1.LeaseReasonExpired))
}

// cpuSample is the CPU time of a process at a wall-clock time.
type cpuSample struct {
	cpu  time.Duration
	wall time.Duration // since an arbitrary origin, for differences only
}

var wallOrigin = time.Now()

func sampleCPU(b *testing.B, pids map[string]int) map[string]cpuSample {
	b.Helper()
	out := map[string]cpuSample{}
	for _, name := range measuredComponents {
		cpu, err := cpuTime(pids[name])
		if err != nil {
			b.Fatalf("CPU time of %s (pid %d): %v", name, pids[name], err)
		}
		out[name] = cpuSample{cpu: cpu, wall: time.Since(wallOrigin)}
	}
	return out
}
