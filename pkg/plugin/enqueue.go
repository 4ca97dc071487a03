package plugin

import (
	"context"
	"fmt"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	schedutil "k8s.io/kubernetes/pkg/scheduler/util"
)

// EventsToRegister lists the cluster events that can make a placeholder pod this plugin
// rejected schedulable, each with a queueing hint that tells, per waiting pod, whether the
// event is worth a retry. The hints are only asked about pods this plugin rejected.
//
// A placeholder that goes terminal leaves kube-scheduler's pod informer (it watches non-terminal
// pods only), so "released" always arrives as an AssignedPod/Delete.
func (pl *Exporter) EventsToRegister(_ context.Context) ([]fwk.ClusterEventWithHint, error) {
	return []fwk.ClusterEventWithHint{
		// An exporter registers, comes online, is enabled, or gets labels a lease selects.
		// Annotations (last-released) only matter to Score, so they are not registered. Note
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
		// The waiting pod itself is allowed disabled exporters, or stops being a placeholder.
		{
			Event:          fwk.ClusterEvent{Resource: fwk.TargetPod, ActionType: fwk.Update},
			QueueingHintFn: pl.isSchedulableAfterTargetPodUpdate,
		},
	}, nil
}

// isSchedulableAfterNodeChange queues the pod only when the node went from not acceptable to
// acceptable for it: exporter, online, enabled or allowed disabled, and matching the pod's
// required node affinity. Whether the node is held is left to the release hint.
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
	admitsNew, err := nodeAdmits(pod, newNode)
	if err != nil {
		return fwk.Queue, err
	}
	if !admitsNew {
		logger.V(5).Info("Node change does not make the exporter acceptable to the lease",
			"pod", klog.KObj(pod), "node", klog.KObj(newNode))
		return fwk.QueueSkip, nil
	}
	if oldNode != nil {
		admitsOld, err := nodeAdmits(pod, oldNode)
		if err != nil {
			return fwk.Queue, err
		}
		if admitsOld {
			logger.V(5).Info("Exporter was already acceptable to the lease before the node change",
				"pod", klog.KObj(pod), "node", klog.KObj(newNode))
			return fwk.QueueSkip, nil
		}
	}
	logger.V(4).Info("Exporter became acceptable to the lease", "pod", klog.KObj(pod), "node", klog.KObj(newNode))
	return fwk.Queue, nil
}

// isSchedulableAfterPlaceholderRelease queues the pod when another placeholder leaves a node the
// pod could use: the node, read from the informer cache, is an exporter the pod's Filter and
// required node affinity accept.
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
	node, err := pl.nodeLister.Get(nodeName)
	if apierrors.IsNotFound(err) {
		// The node is gone; a new one arrives as a Node/Add event.
		return fwk.QueueSkip, nil
	}
	if err != nil {
		return fwk.Queue, fmt.Errorf("get node %s: %w", nodeName, err)
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
	logger.V(4).Info("Exporter released", "pod", klog.KObj(pod), "releasedPod", klog.KObj(released), "node", nodeName)
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
