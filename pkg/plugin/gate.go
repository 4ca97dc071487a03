package plugin

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	fwk "k8s.io/kube-scheduler/framework"

	jsv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// ReasonAllHeld is the gate's reason: every exporter the lease could have is held by a lease
// it cannot preempt.
const ReasonAllHeld = "every matching exporter is held by a lease it cannot preempt"

// PreEnqueue holds back a placeholder that could only fail: every exporter its lease selects
// (online, enabled or allowed disabled, matching its node affinity) is held by a placeholder
// it cannot preempt (one not under spot access, or of equal or higher priority). Such a lease waits for a release, which this plugin's queueing
// hints answer by waking it; an attempt before that would only fail and cost a
// FailedScheduling event and a pod status write, two API writes for every lease that queues.
// Everything else passes: a lease woken for an exporter, one an exporter is free for (held
// only in the scheduler's cache, or reserved, it fails in Filter as before), one that may
// preempt a holder, and one no exporter matches (its attempt reports why).
func (pl *Exporter) PreEnqueue(_ context.Context, pod *v1.Pod) *fwk.Status {
	if !isPlaceholder(pod) || pod.DeletionTimestamp != nil {
		return nil
	}
	if pl.wokenNow(pod) {
		return nil
	}
	scan, err := pl.scan()
	if err != nil {
		return fwk.AsStatus(err)
	}
	nodes, err := pl.nodeLister.List(labels.Everything())
	if err != nil {
		return fwk.AsStatus(fmt.Errorf("list nodes: %w", err))
	}
	priority := corev1helpers.PodPriority(pod)
	matched := false
	for _, node := range nodes {
		if _, ok := node.Labels[jsv1alpha1.LabelExporterName]; !ok {
			continue
		}
		if ok, err := nodeAdmits(pod, node); err != nil || !ok {
			continue
		}
		matched = true
		holder, isHeld := scan.held[node.Name]
		if !isHeld || holder < priority {
			return nil
		}
	}
	if !matched {
		return nil
	}
	return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, ReasonAllHeld)
}

// wokenNow: a queueing hint chose the pod for a free exporter within wakeTTL.
func (pl *Exporter) wokenNow(pod *v1.Pod) bool {
	pl.wake.mu.Lock()
	defer pl.wake.mu.Unlock()
	_, ok := pl.freshWakesLocked(pl.clock.Now())[pod.UID]
	return ok
}
