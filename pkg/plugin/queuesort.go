package plugin

import (
	"time"

	v1 "k8s.io/api/core/v1"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	fwk "k8s.io/kube-scheduler/framework"
)

// podInfoGetter is implemented by the queue's single-pod entities (QueuedPodInfo).
type podInfoGetter interface {
	GetPodInfo() fwk.PodInfo
}

// namedEntity is implemented by every queue entity of kube-scheduler 1.37 (pods and pod groups).
type namedEntity interface {
	GetNamespace() string
	GetName() string
}

// Less orders the scheduling queue: higher priority first, then older pods (by creation time),
// then by namespace/name so that the order is total. Creation time does not move when a pod is
// retried, unlike the queue timestamp the default PrioritySort uses, so leases of equal
// priority are granted in the order they were requested.
//
// The same order applies to every pod of the profile, placeholder or not, to keep it a strict
// weak ordering. Entities that are not single pods (pod groups) fall back to their queue
// timestamp.
func (pl *Exporter) Less(a, b fwk.QueuedEntityInfo) bool {
	if pa, pb := a.GetPriority(), b.GetPriority(); pa != pb {
		return pa > pb
	}
	if ta, tb := createdAt(a), createdAt(b); !ta.Equal(tb) {
		return ta.Before(tb)
	}
	return keyOf(a) < keyOf(b)
}

// podBefore is Less for two pods, as the queue would compare them: the queueing hints use it to
// pick the waiting lease the queue would serve first. A pod's queue priority is
// corev1helpers.PodPriority, what QueuedPodInfo.GetPriority returns.
func podBefore(a, b *v1.Pod) bool {
	if pa, pb := corev1helpers.PodPriority(a), corev1helpers.PodPriority(b); pa != pb {
		return pa > pb
	}
	if ta, tb := a.CreationTimestamp.Time, b.CreationTimestamp.Time; !ta.Equal(tb) {
		return ta.Before(tb)
	}
	return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
}

func podOf(e fwk.QueuedEntityInfo) *v1.Pod {
	g, ok := e.(podInfoGetter)
	if !ok {
		return nil
	}
	pi := g.GetPodInfo()
	if pi == nil {
		return nil
	}
	return pi.GetPod()
}

func createdAt(e fwk.QueuedEntityInfo) time.Time {
	if pod := podOf(e); pod != nil {
		return pod.CreationTimestamp.Time
	}
	return e.GetTimestamp()
}

func keyOf(e fwk.QueuedEntityInfo) string {
	if pod := podOf(e); pod != nil {
		return pod.Namespace + "/" + pod.Name
	}
	if n, ok := e.(namedEntity); ok {
		return n.GetNamespace() + "/" + n.GetName()
	}
	return ""
}
