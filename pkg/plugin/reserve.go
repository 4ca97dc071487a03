package plugin

import (
	"context"
	"time"

	v1 "k8s.io/api/core/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	fwk "k8s.io/kube-scheduler/framework"
)

// reservationTTL is how long a wake reserves the exporter for the woken lease: until then
// Filter turns away from that exporter every other placeholder that is not ahead of the woken
// lease in queue order. It must outlast the woken lease's stay in the back-off queue.
//
// The woken lease's back-off is podMaxBackoffSeconds (1 s, see
// config/scheduler/scheduler-config.yaml), counted from the end of its last failed attempt; the
// back-off queue rounds the expiry down to its one-second ordering window and releases that
// window at the next whole-second flush. So the lease is in the active queue at most 2 s after
// that failure, which came before the wake, or, for a lease woken while it was being scheduled,
// a few milliseconds after. From the active queue no lease behind it is popped first (the
// active queue is in QueueSort order), and a lease popped just before read its reservations at
// the start of its cycle. The other 500 ms cover the flush ticker and that in-flight attempt.
// Raise it with podMaxBackoffSeconds; TestReservationTTL checks the configuration.
const reservationTTL = 2500 * time.Millisecond

// reservationsKey is the CycleState key of the reservations PreFilter found for a pod.
const reservationsKey fwk.StateKey = "PreFilter" + Name

// reservations is, for one placeholder in one scheduling cycle, the exporters reserved for a
// lease it must give way to.
type reservations struct {
	// byNode maps an exporter to the lease it is reserved for, as namespace/name.
	byNode map[string]string
}

// Clone returns the state itself: it is not changed after PreFilter.
func (r *reservations) Clone() fwk.StateData { return r }

// PreFilter reads, for a placeholder, the exporters reserved against it: once per cycle, so that
// Filter takes no lock, stays O(1) per node and sees one view of the reservations for the whole
// cycle, preemption's dry runs included. Other pods skip this plugin's Filter, which would pass
// them anyway.
func (pl *Exporter) PreFilter(_ context.Context, state fwk.CycleState, pod *v1.Pod, _ []fwk.NodeInfo) (*fwk.PreFilterResult, *fwk.Status) {
	if !isPlaceholder(pod) {
		return nil, fwk.NewStatus(fwk.Skip)
	}
	state.Write(reservationsKey, pl.reservationsAgainst(pod))
	return nil, nil
}

// PreFilterExtensions returns nil: reservations do not depend on the pods on a node, so
// preemption's simulated removals do not change them.
func (pl *Exporter) PreFilterExtensions() fwk.PreFilterExtensions { return nil }

// reservationsAgainst returns the exporters reserved against a placeholder: those with a wake
// younger than reservationTTL for another lease that, per the pod cache, still waits in this
// profile's queue (same UID, not bound, not being deleted) and is ahead of the pod in queue
// order (podBefore). A pod nominated for the exporter (it preempted pods there) gives way only
// to a lease of higher priority: kube-scheduler holds a nominated node for its pod against pods
// of lower or equal priority, and the woken lease would be turned away there as "held".
//
// The pod cache lags the scheduler's: a woken lease the scheduler has just assumed on another
// exporter still counts as waiting until its binding arrives. Its AssignedPod/Add hint then
// wakes the next lease for the exporter it leaves (see boundLocked).
func (pl *Exporter) reservationsAgainst(pod *v1.Pod) *reservations {
	type candidate struct {
		node string
		wake wake
	}
	var candidates []candidate
	pl.wake.mu.Lock()
	now := pl.clock.Now()
	for node, w := range pl.wake.byNode {
		if w.pod != pod.UID && now.Sub(w.at) < reservationTTL {
			candidates = append(candidates, candidate{node: node, wake: w})
		}
	}
	pl.wake.mu.Unlock()

	r := &reservations{}
	for _, c := range candidates {
		woken, err := pl.podLister.Pods(c.wake.namespace).Get(c.wake.name)
		if err != nil || woken.UID != c.wake.pod || !pl.isWaiting(woken) {
			// Deleted (the delete handler has woken the next lease), bound, or being deleted.
			continue
		}
		if podBefore(pod, woken) {
			continue
		}
		if pod.Status.NominatedNodeName == c.node && corev1helpers.PodPriority(pod) >= corev1helpers.PodPriority(woken) {
			continue
		}
		if r.byNode == nil {
			r.byNode = map[string]string{}
		}
		r.byNode[c.node] = woken.Namespace + "/" + leaseOf(woken)
	}
	return r
}

// reservedFor returns the lease an exporter is reserved for against a placeholder, or "".
func (pl *Exporter) reservedFor(state fwk.CycleState, pod *v1.Pod, nodeName string) string {
	var r *reservations
	if state != nil {
		if data, err := state.Read(reservationsKey); err == nil {
			r, _ = data.(*reservations)
		}
	}
	if r == nil {
		// PreFilter is not enabled in the profile: read the wakes here, as in-tree filters
		// (NodeAffinity) fall back when their PreFilter did not run.
		r = pl.reservationsAgainst(pod)
	}
	return r.byNode[nodeName]
}
