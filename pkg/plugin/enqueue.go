package plugin

import (
	"context"
	"slices"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	schedutil "k8s.io/kubernetes/pkg/scheduler/util"
)

// EventsToRegister lists the cluster events that can make a placeholder pod this plugin
// rejected schedulable, each with a queueing hint that tells, per waiting pod, whether the
// event is worth a retry. The hints are only asked about pods this plugin rejected.
//
// The node and release hints wake one lease per free exporter (see the package documentation
// and wake.go): of all the pods asked about one event, at most one gets Queue.
//
// A placeholder that goes terminal leaves kube-scheduler's pod informer (it watches non-terminal
// pods only), so "released" always arrives as an AssignedPod/Delete. The deletion of a waiting
// placeholder raises no event a hint sees; the pod delete handler registered in New covers it.
func (pl *Exporter) EventsToRegister(_ context.Context) ([]fwk.ClusterEventWithHint, error) {
	return []fwk.ClusterEventWithHint{
		// An exporter registers, comes online, is enabled, or gets labels a lease selects.
		// Annotations do not matter to the plugin, so they are not registered. Note
		// that kube-scheduler emits UpdateNodeCondition only when a condition's status changes:
		// see the package documentation about a change of the Ready reason alone.
		{
			Event:          fwk.ClusterEvent{Resource: fwk.Node, ActionType: fwk.Add | fwk.UpdateNodeLabel | fwk.UpdateNodeCondition},
			QueueingHintFn: pl.isSchedulableAfterNodeChange,
		},
		// A lease ends: its placeholder is deleted or goes terminal; also an assumed placeholder
		// whose binding failed, or a nominated one that is deleted or loses its nomination.
		{
			Event:          fwk.ClusterEvent{Resource: fwk.AssignedPod, ActionType: fwk.Delete},
			QueueingHintFn: pl.isSchedulableAfterPlaceholderRelease,
		},
		// A lease is granted. A woken lease that got another exporter than the one it was woken
		// for leaves that one free: the next lease is woken for it.
		{
			Event:          fwk.ClusterEvent{Resource: fwk.AssignedPod, ActionType: fwk.Add},
			QueueingHintFn: pl.isSchedulableAfterPlaceholderBound,
		},
		// The waiting pod itself is allowed disabled exporters, or stops being a placeholder.
		{
			Event:          fwk.ClusterEvent{Resource: fwk.TargetPod, ActionType: fwk.Update},
			QueueingHintFn: pl.isSchedulableAfterTargetPodUpdate,
		},
	}, nil
}

// isSchedulableAfterNodeChange wakes one lease when a node becomes acceptable to waiting
// leases: of the waiting placeholders for which the node went from not acceptable to
// acceptable (exporter, online, enabled or allowed disabled, matching the required node
// affinity), the first in queue order that is not woken for another exporter, and only if no
// placeholder is bound to the node. A held exporter wakes nobody: its release will.
func (pl *Exporter) isSchedulableAfterNodeChange(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (fwk.QueueingHint, error) {
	if !isPlaceholder(pod) {
		return fwk.QueueSkip, nil
	}
	oldNode, newNode, err := schedutil.As[*v1.Node](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	if newNode == nil {
		return fwk.QueueSkip, nil
	}
	became, err := becameAcceptable(pod, oldNode, newNode)
	if err != nil {
		return fwk.Queue, err
	}
	if !became {
		logger.V(5).Info("Node change does not make the exporter acceptable to the lease",
			"pod", klog.KObj(pod), "node", klog.KObj(newNode))
		return fwk.QueueSkip, nil
	}
	chosen, err := pl.decide(eventKey{kind: eventNode, obj: newNode}, func(now time.Time) ([]*v1.Pod, error) {
		return one(pl.wakeLocked(logger, newNode, now, func(p *v1.Pod) bool {
			ok, err := becameAcceptable(p, oldNode, newNode)
			return err == nil && ok
		}))
	})
	return pl.hintFor(logger, pod, chosen, err, "Exporter became acceptable", "node", newNode.Name)
}

// becameAcceptable tells whether the node is acceptable to the pod (nodeAdmits) and the old
// node, if any, was not.
func becameAcceptable(pod *v1.Pod, oldNode, newNode *v1.Node) (bool, error) {
	admitsNew, err := nodeAdmits(pod, newNode)
	if err != nil || !admitsNew {
		return false, err
	}
	if oldNode == nil {
		return true, nil
	}
	admitsOld, err := nodeAdmits(pod, oldNode)
	return !admitsOld, err
}

// isSchedulableAfterPlaceholderRelease wakes one lease when another placeholder leaves a node:
// of the waiting placeholders that the node, read from the informer cache, admits (nodeAdmits),
// the first in queue order that is not woken for another exporter, if no other placeholder is
// bound to the node.
func (pl *Exporter) isSchedulableAfterPlaceholderRelease(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (fwk.QueueingHint, error) {
	if !isPlaceholder(pod) {
		return fwk.QueueSkip, nil
	}
	released, _, err := schedutil.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	if released == nil || released.UID == pod.UID || !isPlaceholder(released) {
		return fwk.QueueSkip, nil
	}
	nodeName := released.Spec.NodeName
	if nodeName == "" {
		// A nominated placeholder holds its node for pods of lower or equal priority.
		nodeName = released.Status.NominatedNodeName
	}
	if nodeName == "" {
		return fwk.QueueSkip, nil
	}
	node, err := pl.getNode(nodeName)
	if err != nil {
		return fwk.Queue, err
	}
	if node == nil {
		// The node is gone; a new one arrives as a Node/Add event.
		return fwk.QueueSkip, nil
	}
	admits, err := nodeAdmits(pod, node)
	if err != nil {
		return fwk.Queue, err
	}
	if !admits {
		logger.V(5).Info("Released exporter is not acceptable to the lease",
			"pod", klog.KObj(pod), "releasedPod", klog.KObj(released), "node", nodeName)
		return fwk.QueueSkip, nil
	}
	chosen, err := pl.decide(eventKey{kind: eventRelease, uid: released.UID, node: nodeName}, func(now time.Time) ([]*v1.Pod, error) {
		return one(pl.wakeLocked(logger, node, now, nil))
	})
	return pl.hintFor(logger, pod, chosen, err, "Exporter released", "releasedPod", klog.KObj(released), "node", nodeName)
}

// isSchedulableAfterPlaceholderBound keeps the wakes right when a placeholder is bound (see
// boundLocked) and wakes the next lease for the exporter a woken lease did not take.
func (pl *Exporter) isSchedulableAfterPlaceholderBound(logger klog.Logger, pod *v1.Pod, oldObj, newObj interface{}) (fwk.QueueingHint, error) {
	if !isPlaceholder(pod) {
		return fwk.QueueSkip, nil
	}
	_, bound, err := schedutil.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	// Most bindings in a cluster are not placeholders: this is the fast path.
	if bound == nil || !isPlaceholder(bound) || bound.Spec.NodeName == "" || bound.UID == pod.UID {
		return fwk.QueueSkip, nil
	}
	chosen, err := pl.decide(eventKey{kind: eventBound, uid: bound.UID, node: bound.Spec.NodeName}, func(now time.Time) ([]*v1.Pod, error) {
		return pl.boundLocked(logger, bound, now)
	})
	return pl.hintFor(logger, pod, chosen, err, "Lease granted", "boundPod", klog.KObj(bound), "node", bound.Spec.NodeName)
}

// one turns wakeLocked's answer into a decision's list of pods.
func one(pod *v1.Pod, err error) ([]*v1.Pod, error) {
	if pod == nil || err != nil {
		return nil, err
	}
	return []*v1.Pod{pod}, nil
}

// hintFor turns an event's decision into the hint for one pod: Queue for a chosen pod,
// QueueSkip for the others. An error is returned with Queue, as the queue expects.
func (pl *Exporter) hintFor(logger klog.Logger, pod *v1.Pod, chosen []types.UID, err error, event string, kv ...interface{}) (fwk.QueueingHint, error) {
	if err != nil {
		return fwk.Queue, err
	}
	if !slices.Contains(chosen, pod.UID) {
		logger.V(5).Info(event+", another lease is woken or none", append([]interface{}{"pod", klog.KObj(pod)}, kv...)...)
		return fwk.QueueSkip, nil
	}
	logger.V(4).Info(event+", lease woken", append([]interface{}{"pod", klog.KObj(pod)}, kv...)...)
	return fwk.Queue, nil
}

// isSchedulableAfterTargetPodUpdate queues the pod when an update of the pod itself can only
// widen what this plugin accepts: disabled exporters became allowed, or the pod is no longer a
// placeholder (this plugin then accepts any node).
func (pl *Exporter) isSchedulableAfterTargetPodUpdate(_ klog.Logger, _ *v1.Pod, oldObj, newObj interface{}) (fwk.QueueingHint, error) {
	oldPod, newPod, err := schedutil.As[*v1.Pod](oldObj, newObj)
	if err != nil {
		return fwk.Queue, err
	}
	if oldPod == nil || newPod == nil {
		return fwk.QueueSkip, nil
	}
	if isPlaceholder(oldPod) && !isPlaceholder(newPod) {
		return fwk.Queue, nil
	}
	if isPlaceholder(newPod) && !allowsDisabled(oldPod) && allowsDisabled(newPod) {
		return fwk.Queue, nil
	}
	return fwk.QueueSkip, nil
}
