package nodeagent

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/virtualnode"
)

// verdict is who holds a node, as the cache and this agent's record see it.
type verdict struct {
	holder *corev1.Pod
	// others are the bound placeholders that must be refused: the node is held.
	others []*corev1.Pod
	// deleting are the pods whose deletion the agent confirms.
	deleting []*corev1.Pod
	// blocked: the node is free of placeholders, but a lease that was granted the exporter
	// has not ended yet (it released its placeholder ahead of its end time, or its end is being
	// written). Nobody is admitted or refused until it has; until is when it is due to end.
	blocked bool
	until   time.Time
}

// Admit tells the lease controller whether placeholder pod, bound to an exporter's node, holds
// that exporter. The first placeholder admitted on a free node holds it until it is deleted or
// fails; the decision is recorded before anything is written, so this agent's Reconcile and
// every later Admit agree with it even before the pod's Running status reaches the cache. That
// lets the lease be granted on the binding itself, without waiting for the Running write.
//
// While a lease granted the exporter has not ended, no other placeholder is admitted there:
// the lease controller writes a lease's end and deletes its placeholder at the same time, so
// the next placeholder can be bound before that end is written, and no watcher may ever see two
// leases Ready on one exporter. Admission then reports Blocked, to be asked again shortly.
func (a *Agent) Admit(ctx context.Context, pod *corev1.Pod) (Admission, error) {
	if pod.Spec.NodeName == "" || !pod.DeletionTimestamp.IsZero() || isTerminal(pod) {
		return Admission{}, nil
	}
	node := &corev1.Node{}
	if err := a.Client.Get(ctx, types.NamespacedName{Name: pod.Spec.NodeName}, node); err != nil {
		if apierrors.IsNotFound(err) {
			return Admission{}, nil
		}
		return Admission{}, fmt.Errorf("get node %s: %w", pod.Spec.NodeName, err)
	}
	if node.Labels[jumpstarterv1alpha1.LabelExporterName] == "" {
		return Admission{}, nil
	}
	v, err := a.decide(ctx, node)
	if err != nil {
		return Admission{}, err
	}
	return Admission{Admitted: v.holder != nil && v.holder.UID == pod.UID, Blocked: v.blocked, Until: v.until}, nil
}

// Admission is the answer to Admit.
type Admission struct {
	// Admitted: the placeholder holds the exporter.
	Admitted bool
	// Blocked: nobody is admitted yet, because a lease granted the exporter has not ended.
	Blocked bool
	// Until is when the blocking lease is due to end (zero if it has no end time).
	Until time.Time
}

// BlockedRetry is how soon a blocked admission is worth asking again once the blocking lease
// is due to end: its end being written takes one API call.
const BlockedRetry = 20 * time.Millisecond

// RetryAfter is when a blocked admission is worth asking again: when the blocking lease is due
// to end, and every BlockedRetry after that.
func (a Admission) RetryAfter(now time.Time) time.Duration {
	return blockedRetry(a.Until, now)
}

func blockedRetry(until, now time.Time) time.Duration {
	return max(until.Sub(now), BlockedRetry)
}

// decide picks the node's holder among the placeholders bound to it (from the cache), and
// records it. In order of precedence:
//  1. the placeholder this agent admitted last, while it is still there and not failed;
//  2. a Running placeholder, the oldest if several (admitted by an earlier run of the agent);
//  3. a placeholder whose lease's status says it was granted this exporter (the controller
//     stopped between the grant and the Running write);
//  4. on a free node, the oldest waiting placeholder.
//
// It holds the agent's lock throughout, so two callers never admit two placeholders.
func (a *Agent) decide(ctx context.Context, n *corev1.Node) (verdict, error) {
	node, exporter := n.Name, n.Labels[jumpstarterv1alpha1.LabelExporterName]
	pods := &corev1.PodList{}
	if err := a.Client.List(ctx, pods, client.MatchingFields{virtualnode.PodNodeNameIndex: node}); err != nil {
		return verdict{}, fmt.Errorf("list placeholders on node %s: %w", node, err)
	}
	a.mu.Lock()
	defer a.mu.Unlock()

	var v verdict
	var live []*corev1.Pod
	for i := range pods.Items {
		pod := &pods.Items[i]
		switch {
		case !pod.DeletionTimestamp.IsZero():
			if awaitsKubelet(pod, a.Clock.Now()) {
				v.deleting = append(v.deleting, pod)
			}
		case isTerminal(pod) || pod.Labels[jumpstarterv1alpha1.LabelLeaseName] == "":
			// Failed already, or not a placeholder: the foreign-pod sweep refuses those.
		default:
			live = append(live, pod)
		}
	}
	sort.Slice(live, func(i, j int) bool { return olderThan(live[i], live[j]) })

	recorded := a.accepted[node]
	for _, pod := range live {
		if recorded != "" && pod.UID == recorded {
			v.holder = pod
		}
	}
	if v.holder == nil {
		v.holder = firstRunning(live)
	}
	if v.holder == nil && len(live) > 0 {
		granted, err := a.grantedLeases(ctx, n.Labels[jumpstarterv1alpha1.LabelExporterNamespace], exporter)
		if err != nil {
			return verdict{}, err
		}
		v.holder = placeholderOf(granted, live)
		if v.holder == nil {
			if v.blocked, v.until = releasedAhead(granted, live); v.blocked {
				delete(a.accepted, node)
				return v, nil
			}
		}
	}
	if v.holder == nil && len(live) > 0 {
		v.holder = live[0]
	}
	for _, pod := range live {
		if pod != v.holder {
			v.others = append(v.others, pod)
		}
	}
	if v.holder == nil {
		delete(a.accepted, node)
	} else {
		if a.accepted == nil {
			a.accepted = map[string]types.UID{}
		}
		a.accepted[node] = v.holder.UID
	}
	return v, nil
}

// stuckDeletion is how long a zero-grace deletion may show before the agent confirms it.
const stuckDeletion = 10 * time.Second

// awaitsKubelet: a graceful deletion that a kubelet would confirm. A deletion with a zero
// grace period (the controller's) is finished by the API server itself right after it set the
// deletion timestamp; confirming it too only costs a DELETE that finds nothing, so the agent
// leaves it alone unless it lingers.
func awaitsKubelet(pod *corev1.Pod, now time.Time) bool {
	return pod.DeletionGracePeriodSeconds == nil || *pod.DeletionGracePeriodSeconds > 0 ||
		now.Sub(pod.DeletionTimestamp.Time) > stuckDeletion
}

func firstRunning(pods []*corev1.Pod) *corev1.Pod {
	for _, pod := range pods {
		if pod.Status.Phase == corev1.PodRunning {
			return pod
		}
	}
	return nil
}

// grantedLeases are the leases of the exporter's namespace granted the exporter and not ended,
// as LeaseView shows them: the freshest copy this process knows (the lease controller's own
// writes before the cache shows them), or after a restart the cache alone, which is what makes
// the decisions below hold across restarts. The cache's index finds leases by the exporter the
// cache shows them granted; a grant this process wrote that the cache does not show yet comes
// from OwnGrants. Without it, a lease whose placeholder was released ahead within a second of
// its grant, on a lagging cache, blocked nobody: its exporter went to the next lease while it
// was still Ready.
func (a *Agent) grantedLeases(ctx context.Context, namespace, exporter string) ([]*jumpstarterv1alpha1.Lease, error) {
	list := &jumpstarterv1alpha1.LeaseList{}
	if err := a.Client.List(ctx, list, client.InNamespace(namespace),
		client.MatchingFields{virtualnode.LeaseExporterIndex: exporter}, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("list leases of exporter %s/%s: %w", namespace, exporter, err)
	}
	candidates := make([]*jumpstarterv1alpha1.Lease, 0, len(list.Items))
	indexed := make(map[types.NamespacedName]bool, len(list.Items))
	for i := range list.Items {
		candidates = append(candidates, &list.Items[i])
		indexed[client.ObjectKeyFromObject(&list.Items[i])] = true
	}
	if a.OwnGrants != nil {
		for _, key := range a.OwnGrants(namespace, exporter) {
			if indexed[key] {
				continue
			}
			lease := &jumpstarterv1alpha1.Lease{}
			if err := a.Client.Get(ctx, key, lease); err != nil {
				if apierrors.IsNotFound(err) {
					continue // deleted
				}
				return nil, fmt.Errorf("get lease %s: %w", key, err)
			}
			candidates = append(candidates, lease)
		}
	}
	var granted []*jumpstarterv1alpha1.Lease
	for _, lease := range candidates {
		if a.LeaseView != nil {
			lease = a.LeaseView(lease)
		}
		if slices.Contains(virtualnode.LeaseExporterIndexFunc(lease), exporter) {
			granted = append(granted, lease)
		}
	}
	return granted, nil
}

// placeholderOf is the pod among pods that is the placeholder of one of the granted leases
// (the controller stopped between the grant and the Running write).
func placeholderOf(granted []*jumpstarterv1alpha1.Lease, pods []*corev1.Pod) *corev1.Pod {
	for _, pod := range pods {
		owner := metav1.GetControllerOf(pod)
		if owner == nil {
			continue
		}
		for _, lease := range granted {
			if owner.UID == lease.UID && lease.Status.PlaceholderPod == pod.Name {
				return pod
			}
		}
	}
	return nil
}

// releasedAhead: a granted lease has no placeholder among live. It released it ahead of its
// end time, or is ending (its end is being written while its placeholder goes): nobody may take
// the exporter before that end is written, or a watcher could see two leases Ready on it. until
// is the latest end time among them.
func releasedAhead(granted []*jumpstarterv1alpha1.Lease, live []*corev1.Pod) (blocked bool, until time.Time) {
	for _, lease := range granted {
		if !ownsAny(lease, live) {
			blocked = true
			if end := lease.EffectiveEndTime(); end.After(until) {
				until = end
			}
		}
	}
	return blocked, until
}

// ownsAny: one of pods is the lease's placeholder.
func ownsAny(lease *jumpstarterv1alpha1.Lease, pods []*corev1.Pod) bool {
	for _, pod := range pods {
		if owner := metav1.GetControllerOf(pod); owner != nil && owner.UID == lease.UID {
			return true
		}
	}
	return false
}
