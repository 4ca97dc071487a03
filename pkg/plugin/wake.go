package plugin

import (
	"fmt"
	"slices"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// wakeTTL is how long a lease woken for a free exporter counts as on its way there: while its
// wake is fresh, events for other exporters pass it over, so that exporters freed together wake
// different leases. For its first reservationTTL the wake also reserves the exporter for the
// lease (reserve.go). A woken lease normally binds within milliseconds, or once its back-off
// (podMaxBackoffSeconds, 1 s) is over when the active queue is busy. One still waiting after
// wakeTTL is stuck behind a busy queue or lost the exporter for a reason the hints do not see
// (another filter plugin rejected it), and competes again for other exporters.
const wakeTTL = 3 * time.Second

// wakeForget is how long the record of a wake is kept at most. After wakeTTL the record no
// longer holds the lease back, but it still says which exporter waits for that lease: if the
// lease is then bound elsewhere or deleted, the next lease is woken for that exporter. Past
// wakeForget the record goes: by then kube-scheduler has retried every pod left unschedulable
// (its podMaxInUnschedulablePodsDuration, 5 minutes).
const wakeForget = 5 * time.Minute

// wake records that a waiting placeholder was chosen for a free exporter.
type wake struct {
	pod       types.UID
	namespace string
	name      string
	at        time.Time
}

// key is the pod's namespace/name.
func (w wake) key() string { return w.namespace + "/" + w.name }

// eventKind tells apart the events a wake decision is cached for.
type eventKind int

const (
	eventRelease eventKind = iota // AssignedPod/Delete of a placeholder
	eventNode                     // Node/Add, UpdateNodeLabel, UpdateNodeCondition
	eventBound                    // AssignedPod/Add of a placeholder
)

// eventKey identifies one cluster event across the hint calls it causes. The queue calls the
// hint once per waiting pod with the same objects, and again with the same objects for a pod
// that was being scheduled when the event arrived (the in-flight replay).
type eventKey struct {
	kind eventKind
	uid  types.UID // eventRelease, eventBound: the pod of the event
	node string    // eventRelease, eventBound: the node the pod left or got
	// obj is the new node of an eventNode. Every informer update carries a new object, so the
	// pointer identifies the update; kube-scheduler may report one update as several events
	// (labels and a condition changed), which then share a decision.
	obj *v1.Node
}

// decision is the pods an event wakes: none or one, except when a bound lease had been woken
// for more than one exporter.
type decision struct {
	pods []types.UID
	at   time.Time
}

// wakeState is what the queueing hints remember between calls. In kube-scheduler 1.37 the queue
// calls hints with its own lock held, so hints never run concurrently; the mutex is still needed
// for the pod delete handler, which runs on an informer goroutine, and for PreFilter, which reads
// the wakes as reservations in the scheduling cycle; it also keeps the plugin correct should the
// queue ever call hints in parallel. Decisions older than wakeTTL and wakes older than
// wakeForget are dropped when the next event is decided; nothing runs in the background.
type wakeState struct {
	mu sync.Mutex
	// byNode is the last lease woken for each exporter. It holds at most one entry per
	// exporter; an entry goes when a lease is bound to that exporter, when its lease is bound
	// elsewhere or deleted, or after wakeForget.
	byNode    map[string]wake
	decisions map[eventKey]decision
}

// decide returns the pods the event wakes. The first hint call of an event runs compute, with
// the wake state locked and pruned; the other calls of the same event get the cached answer.
func (pl *Exporter) decide(key eventKey, compute func(now time.Time) ([]*v1.Pod, error)) ([]types.UID, error) {
	pl.wake.mu.Lock()
	defer pl.wake.mu.Unlock()
	if d, ok := pl.wake.decisions[key]; ok {
		return d.pods, nil
	}
	now := pl.clock.Now()
	pl.pruneLocked(now)
	pods, err := compute(now)
	if err != nil {
		// Not cached: the caller reports the error and the queue treats it as Queue.
		return nil, err
	}
	d := decision{at: now}
	for _, p := range pods {
		d.pods = append(d.pods, p.UID)
	}
	if pl.wake.decisions == nil {
		pl.wake.decisions = map[eventKey]decision{}
	}
	pl.wake.decisions[key] = d
	return d.pods, nil
}

// pruneLocked drops decisions older than wakeTTL (an event's hint calls, in-flight replays
// included, come within milliseconds) and wakes older than wakeForget.
func (pl *Exporter) pruneLocked(now time.Time) {
	for node, w := range pl.wake.byNode {
		if now.Sub(w.at) >= wakeForget {
			delete(pl.wake.byNode, node)
		}
	}
	for key, d := range pl.wake.decisions {
		if now.Sub(d.at) >= wakeTTL {
			delete(pl.wake.decisions, key)
		}
	}
}

// freshWakesLocked returns the exporter each lease woken less than wakeTTL ago was woken for.
func (pl *Exporter) freshWakesLocked(now time.Time) map[types.UID]string {
	fresh := make(map[types.UID]string, len(pl.wake.byNode))
	for node, w := range pl.wake.byNode {
		if now.Sub(w.at) < wakeTTL {
			fresh[w.pod] = node
		}
	}
	return fresh
}

func (pl *Exporter) setWakeLocked(node string, pod *v1.Pod, now time.Time) {
	if pl.wake.byNode == nil {
		pl.wake.byNode = map[string]wake{}
	}
	pl.wake.byNode[node] = wake{pod: pod.UID, namespace: pod.Namespace, name: pod.Name, at: now}
}

// leftByLocked drops the wakes of a lease and returns the exporters it had been woken for,
// other than except.
func (pl *Exporter) leftByLocked(pod types.UID, except string) []string {
	var left []string
	for node, w := range pl.wake.byNode {
		if w.pod != pod {
			continue
		}
		delete(pl.wake.byNode, node)
		if node != except {
			left = append(left, node)
		}
	}
	slices.Sort(left)
	return left
}

// wakeLeftLocked wakes the next lease for each exporter a woken lease left.
func (pl *Exporter) wakeLeftLocked(logger klog.Logger, left []string, now time.Time) ([]*v1.Pod, error) {
	var woken []*v1.Pod
	for _, name := range left {
		node, err := pl.getNode(name)
		if err != nil {
			return nil, err
		}
		if node == nil {
			continue
		}
		next, err := pl.wakeLocked(logger, node, now, nil)
		if err != nil {
			return nil, err
		}
		if next != nil {
			woken = append(woken, next)
		}
	}
	return woken, nil
}

// isWaiting tells whether a pod is a placeholder waiting in this profile's queue: unscheduled,
// not being deleted, not held back by scheduling gates.
func (pl *Exporter) isWaiting(pod *v1.Pod) bool {
	return isPlaceholder(pod) && pod.Spec.NodeName == "" && pod.DeletionTimestamp == nil &&
		pod.Spec.SchedulerName == pl.schedulerName && len(pod.Spec.SchedulingGates) == 0
}

func isTerminal(pod *v1.Pod) bool {
	return pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed
}

// podScan is what one pass over the pod cache found.
type podScan struct {
	// waiting is the placeholders waiting in this profile's queue.
	waiting []*v1.Pod
	// held is the nodes a placeholder is bound to, each with the lowest preemption floor
	// among its placeholders: the priority a preemption would have to beat.
	held map[string]int32
}

// isHeld tells whether a placeholder is bound to the node.
func (s podScan) isHeld(node string) bool {
	_, ok := s.held[node]
	return ok
}

// scan reads the pod cache once: the placeholders waiting in this profile's queue and the
// exporters placeholders are bound to. It does not see pods the scheduler has assumed (binding
// in flight): those hold the exporter in the scheduler's cache, not yet in the API.
func (pl *Exporter) scan() (podScan, error) {
	pods, err := pl.podLister.List(labels.Everything())
	if err != nil {
		return podScan{}, fmt.Errorf("list pods: %w", err)
	}
	s := podScan{held: map[string]int32{}}
	for _, p := range pods {
		if !isPlaceholder(p) {
			continue
		}
		if p.Spec.NodeName != "" && !isTerminal(p) {
			floor := preemptionFloor(p)
			if current, ok := s.held[p.Spec.NodeName]; !ok || floor < current {
				s.held[p.Spec.NodeName] = floor
			}
		}
		if pl.isWaiting(p) {
			s.waiting = append(s.waiting, p)
		}
	}
	return s, nil
}

// wakeLocked chooses the lease to wake for a node, if the node is free: the first, in queue
// order, of the waiting placeholders that the node admits (nodeAdmits), that accept accepts
// (nil accepts all) and that are not woken for another node. It records the wake and returns
// the pod, or nil when the node is held or no lease suits it.
//
// A lease woken for another node that a placeholder now holds has lost that node (the
// AssignedPod/Add hint drops such wakes, but the queue runs it only when some pod this plugin
// rejected is waiting): it is not on its way anywhere and may be woken again.
func (pl *Exporter) wakeLocked(logger klog.Logger, node *v1.Node, now time.Time, accept func(*v1.Pod) bool) (*v1.Pod, error) {
	s, err := pl.scan()
	if err != nil {
		return nil, err
	}
	if s.isHeld(node.Name) {
		logger.V(5).Info("Exporter is held, no lease to wake", "node", node.Name)
		return nil, nil
	}
	fresh := pl.freshWakesLocked(now)
	var first *v1.Pod
	for _, p := range s.waiting {
		if other, ok := fresh[p.UID]; ok && other != node.Name && !s.isHeld(other) {
			continue
		}
		if first != nil && !podBefore(p, first) {
			continue
		}
		if ok, err := nodeAdmits(p, node); err != nil || !ok {
			// An affinity that does not parse cannot match any node: the pod waits forever
			// either way, and its own hint calls report the error.
			continue
		}
		if accept != nil && !accept(p) {
			continue
		}
		first = p
	}
	if first == nil {
		logger.V(5).Info("No waiting lease suits the free exporter", "node", node.Name)
		return nil, nil
	}
	pl.setWakeLocked(node.Name, first, now)
	logger.V(4).Info("Waking the first waiting lease for a free exporter", "pod", klog.KObj(first), "node", node.Name)
	return first, nil
}

// getNode reads a node from the cache; a node that is gone is nil without an error.
func (pl *Exporter) getNode(name string) (*v1.Node, error) {
	node, err := pl.nodeLister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get node %s: %w", name, err)
	}
	return node, nil
}

// boundLocked updates the wakes when a placeholder is bound to a node, and returns the leases to
// wake:
//   - a lease woken for this node, other than the bound one, lost it: its wake is dropped so
//     that it competes again at once;
//   - a bound lease that had been woken for other nodes leaves them free, with leases perhaps
//     waiting: two exporters were freed together and Score sent the first woken lease to the
//     second, or its wake had expired and it was woken again for another exporter. The next
//     lease is woken for each.
func (pl *Exporter) boundLocked(logger klog.Logger, bound *v1.Pod, now time.Time) ([]*v1.Pod, error) {
	nodeName := bound.Spec.NodeName
	if w, ok := pl.wake.byNode[nodeName]; ok && w.pod != bound.UID {
		logger.V(4).Info("Woken lease lost the exporter to another lease", "woken", w.key(), "pod", klog.KObj(bound), "node", nodeName)
		delete(pl.wake.byNode, nodeName)
	}
	left := pl.leftByLocked(bound.UID, nodeName)
	if len(left) == 0 {
		return nil, nil
	}
	logger.V(4).Info("Woken lease got another exporter, waking the next lease", "pod", klog.KObj(bound), "node", nodeName, "wokenFor", left)
	return pl.wakeLeftLocked(logger, left, now)
}

// onPodDelete records the release of an exporter whose granted placeholder left (for Score),
// and handles the deletion of a woken lease that is still waiting: its exporter would
// stay free, because kube-scheduler runs no queueing hint when an unscheduled pod is deleted
// (UnscheduledPod/Delete is only a metrics label in 1.37). The next lease is woken through the
// queue's Activate, which moves it to the active queue. Bound placeholders are left to the
// release hint (AssignedPod/Delete).
func (pl *Exporter) onPodDelete(obj interface{}) {
	pod, ok := deletedObject[*v1.Pod](obj)
	if !ok || !isPlaceholder(pod) {
		return
	}
	if pod.Spec.NodeName != "" && pod.Status.Phase == v1.PodRunning {
		pl.releases.record(pod.Spec.NodeName, pl.clock.Now())
	}
	next, err := pl.wokenPodDeleted(pod)
	if err != nil {
		pl.logger.Error(err, "Waking the next lease after a woken lease was deleted", "pod", klog.KObj(pod))
	}
	if len(next) == 0 {
		return
	}
	activate := make(map[string]*v1.Pod, len(next))
	for _, p := range next {
		activate[p.Namespace+"/"+p.Name] = p
	}
	// Outside the wake lock: Activate takes the queue's lock, under which the queue calls hints.
	pl.activator.Activate(pl.logger, activate)
}

// wokenPodDeleted drops the wakes of a deleted pod and, if the pod was still waiting, wakes the
// next lease for each exporter it had been woken for and is free. It returns those leases.
func (pl *Exporter) wokenPodDeleted(pod *v1.Pod) ([]*v1.Pod, error) {
	pl.wake.mu.Lock()
	defer pl.wake.mu.Unlock()
	now := pl.clock.Now()
	pl.pruneLocked(now)
	left := pl.leftByLocked(pod.UID, pod.Spec.NodeName)
	if len(left) == 0 {
		return nil, nil
	}
	pl.logger.V(4).Info("Woken lease deleted before it was granted, waking the next lease", "pod", klog.KObj(pod), "wokenFor", left)
	return pl.wakeLeftLocked(pl.logger, left, now)
}

// deletedObject is the object of an informer's delete event: the object itself, or the last
// state a tombstone (cache.DeletedFinalStateUnknown) holds of it.
func deletedObject[T any](obj interface{}) (T, bool) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	t, ok := obj.(T)
	return t, ok
}
