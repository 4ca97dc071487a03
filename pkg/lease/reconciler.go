package lease

import (
	"cmp"
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/accesspolicy"
	"jumpstarter.dev/service/pkg/nodeagent"
	"jumpstarter.dev/service/pkg/ownwrites"
)

// DefaultQueueRefresh is how often, on average, a waiting lease refreshes its queue position
// and reason (each refresh comes at a random point from half to one and a half of it,
// spreadRefresh). Positions change with every grant in the queue; refreshing on a timer instead
// of on every grant keeps status writes linear in the number of waiting leases.
const DefaultQueueRefresh = 10 * time.Second

// refreshPriority is the work-queue priority of queue-position refreshes, below the default
// (0) of every event-driven reconcile.
const refreshPriority = -10

// waitingStatusPriority is the work-queue priority of a new lease's first waiting status
// (Pending, queue position), written once its placeholder exists: below the creation of other
// leases' placeholders (0), above position refreshes.
const waitingStatusPriority = -5

// DefaultWaitingStatusDelay is how long after its placeholder appears a lease gets its waiting
// status (Pending, queue position). A lease granted meanwhile, as most are when an exporter is
// free, never needs one: the write is saved, and it no longer delays the grant (a lease's
// reconciles run one at a time, so the grant waited for the waiting status's write). Half a
// second is not long for a person to see "Pending"; the grant-latency benchmark's p99 is
// well under it.
const DefaultWaitingStatusDelay = 500 * time.Millisecond

// waitingStatusFallback is when a lease whose placeholder was just created is reconciled
// again should the placeholder's create event not wake it first. Not sooner: before the cache
// shows the pod, the reconcile would try to create it again. Not sooner than the waiting
// status's delay either (waitingStatusRetry).
const waitingStatusFallback = time.Second

// DefaultReleaseAhead is how long before its end time a lease deletes its placeholder. The
// scheduler binds the next lease's placeholder meanwhile, and the node agent admits it the
// moment this lease's end is written (nodeagent.Admit), so a hand-over costs that one write and
// the grant's instead of the whole chain of delete, watch, bind, watch. Under the load
// benchmark that chain took 0.2 s at p50 and 0.6-0.8 s at p99; a second covers most of it. The
// lease holds its exporter until its end time all the same: nobody else is granted it before
// that end is written. The price: within that second the lease has no placeholder pod, and its
// end time can no longer move later.
const DefaultReleaseAhead = time.Second

// Event reasons on leases.
const (
	EventQueued  = "Queued"
	EventGranted = "Granted"
)

// Reconciler drives a Lease through its placeholder pod.
type Reconciler struct {
	Client client.Client
	// APIReader confirms a missing placeholder around the cache, which may not yet show a pod
	// that was just created.
	APIReader    client.Reader
	Recorder     recorder.EventRecorder
	Clock        clock.PassiveClock
	QueueRefresh time.Duration
	// WaitingStatusDelay is DefaultWaitingStatusDelay unless set.
	WaitingStatusDelay time.Duration
	// ReleaseAhead is how long before its end time an expiring lease gives up its placeholder
	// (DefaultReleaseAhead in the controller); zero turns it off.
	ReleaseAhead time.Duration
	// Admitter is the node agent: it says whether a bound placeholder holds its exporter, so
	// the lease is granted on the binding. Without one, the grant waits for the node agent to
	// mark the placeholder Running.
	Admitter Admitter
	// Metrics, if set, count grants and ends.
	Metrics *Metrics
	// EndedRetention is how long an ended lease is kept before it is deleted
	// (DefaultEndedRetention in the controller); zero keeps ended leases.
	EndedRetention time.Duration

	// written lets a reconcile see this controller's own last write of a lease before the
	// cache does: a lease is woken again (its placeholder appeared, or was deleted) often
	// before the watch brings back the status written a moment ago.
	written ownwrites.Log[*jumpstarterv1alpha1.Lease]
	// queueKeys remembers each waiting lease's queue key for queue positions.
	queueKeys queueKeys
	// grants indexes this reconciler's own grant writes by exporter, for the node agent
	// (OwnGrants).
	grants grantIndex
	// deleted remembers the placeholders this reconciler deleted: an ended lease is reconciled
	// again (its end's watch event) before the cache shows the pod gone, and deleting it again
	// only earned a 404.
	deleted deletedPods
}

// +kubebuilder:rbac:groups=jumpstarter.dev,resources=leases,verbs=get;list;watch;update;patch;delete
// +kubebuilder:rbac:groups=jumpstarter.dev,resources=leases/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=jumpstarter.dev,resources=leases/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch

// Reconcile moves the lease one step: end it, wait, queue it, or grant it.
func (r *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	lease := &jumpstarterv1alpha1.Lease{}
	if err := r.Client.Get(ctx, req.NamespacedName, lease); err != nil {
		if apierrors.IsNotFound(err) {
			r.written.Forget(req.NamespacedName)
			r.grants.forget(req.NamespacedName)
			r.queueKeys.forget(req.NamespacedName)
			r.deleted.forget(req.NamespacedName)
		}
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	lease = r.written.Fresh(req.NamespacedName, lease)
	if lease.Status.Ended {
		r.queueKeys.forget(req.NamespacedName)
		return r.cleanupEnded(ctx, lease)
	}
	now := r.Clock.Now()

	if err := validateSelector(lease); err != nil {
		return r.end(ctx, lease, invalid(jumpstarterv1alpha1.LeaseReasonInvalidSelector, err.Error()))
	}
	if msg := validateTimes(lease); msg != "" {
		return r.end(ctx, lease, invalid(jumpstarterv1alpha1.LeaseReasonInvalidTimes, msg))
	}
	if lease.Spec.Release {
		return r.end(ctx, lease, outcome{jumpstarterv1alpha1.LeaseConditionReady, metav1.ConditionFalse,
			jumpstarterv1alpha1.LeaseReasonReleased, "the lease was released", corev1.EventTypeNormal})
	}
	if end := lease.EffectiveEndTime(); !end.IsZero() && !now.Before(end) {
		return r.end(ctx, lease, outcome{jumpstarterv1alpha1.LeaseConditionReady, metav1.ConditionFalse,
			jumpstarterv1alpha1.LeaseReasonExpired, "the lease reached its end time", corev1.EventTypeNormal})
	}

	pod := &corev1.Pod{}
	if err := r.Client.Get(ctx, types.NamespacedName{Namespace: lease.Namespace, Name: PlaceholderName(lease.Name)}, pod); err != nil {
		if !apierrors.IsNotFound(err) {
			return reconcile.Result{}, fmt.Errorf("get placeholder of lease %s: %w", req, err)
		}
		pod = nil
	}
	if lease.Status.ExporterRef != nil {
		r.queueKeys.forget(req.NamespacedName)
		return r.whileActive(ctx, lease, pod, now)
	}
	return r.whileWaiting(ctx, lease, pod, now)
}

// waitingStatusDelay is WaitingStatusDelay, or DefaultWaitingStatusDelay.
func (r *Reconciler) waitingStatusDelay() time.Duration {
	return cmp.Or(r.WaitingStatusDelay, DefaultWaitingStatusDelay)
}

// waitingStatusRetry is the fallback requeue after a placeholder's creation:
// waitingStatusFallback, or the waiting status's delay if that is longer.
func (r *Reconciler) waitingStatusRetry() time.Duration {
	return max(waitingStatusFallback, r.waitingStatusDelay())
}

// Admitter decides whether a placeholder bound to an exporter's node holds that exporter: the
// first one admitted does, until it is deleted or fails.
type Admitter interface {
	Admit(ctx context.Context, pod *corev1.Pod) (nodeagent.Admission, error)
}

// holdsNode: the placeholder is bound, not failed, not going away. After a grant that is what
// keeps the lease; the node agent marks it Running soon after, off the grant's path.
func holdsNode(pod *corev1.Pod) bool {
	return pod != nil && pod.DeletionTimestamp.IsZero() && pod.Spec.NodeName != "" &&
		pod.Status.Phase != corev1.PodFailed && pod.Status.Phase != corev1.PodSucceeded
}

// admission asks the node agent about a bound placeholder (Running says it was admitted).
func (r *Reconciler) admission(ctx context.Context, pod *corev1.Pod) (nodeagent.Admission, error) {
	if !holdsNode(pod) {
		return nodeagent.Admission{}, nil
	}
	if pod.Status.Phase == corev1.PodRunning {
		return nodeagent.Admission{Admitted: true}, nil
	}
	if r.Admitter == nil {
		return nodeagent.Admission{}, nil
	}
	return r.Admitter.Admit(ctx, pod)
}

// OwnGrants lists the leases of the namespace that this reconciler last wrote as granted the
// exporter and not ended, whether or not the cache shows that write yet. The node agent reads
// them through View.
func (r *Reconciler) OwnGrants(namespace, exporter string) []types.NamespacedName {
	return r.grants.leases(types.NamespacedName{Namespace: namespace, Name: exporter})
}

// View returns the freshest copy of a lease this reconciler knows: its own last write while
// the cache does not show it yet, else the given (cached) copy. The node agent reads leases
// through it.
func (r *Reconciler) View(lease *jumpstarterv1alpha1.Lease) *jumpstarterv1alpha1.Lease {
	return r.written.Fresh(client.ObjectKeyFromObject(lease), lease)
}

func invalid(reason, message string) outcome {
	return outcome{jumpstarterv1alpha1.LeaseConditionInvalid, metav1.ConditionTrue, reason, message, corev1.EventTypeWarning}
}

func unsatisfiable(reason, message string) outcome {
	return outcome{jumpstarterv1alpha1.LeaseConditionUnsatisfiable, metav1.ConditionTrue, reason, message, corev1.EventTypeWarning}
}

func lost(reason, message string) outcome {
	return outcome{jumpstarterv1alpha1.LeaseConditionReady, metav1.ConditionFalse, reason, message, corev1.EventTypeWarning}
}

// whileActive keeps a granted lease until its end time, gives up its placeholder shortly
// before (Lease.ReleaseTime), and ends it early if its placeholder is lost.
func (r *Reconciler) whileActive(ctx context.Context, lease *jumpstarterv1alpha1.Lease, pod *corev1.Pod, now time.Time) (reconcile.Result, error) {
	end := lease.EffectiveEndTime()
	release := lease.ReleaseTime(r.ReleaseAhead)
	if preempted, ok := preemption(pod); ok {
		return r.end(ctx, lease, preempted)
	}
	switch {
	case holdsNode(pod) && (release.IsZero() || now.Before(release)):
		return requeueUrgentlyAt(cmp.Or(release, end), now), nil
	case holdsNode(pod):
		if err := r.deletePlaceholder(ctx, client.ObjectKeyFromObject(lease)); err != nil {
			return reconcile.Result{}, err
		}
		klog.FromContext(ctx).V(2).Info("Placeholder released ahead of the lease's end", "lease", klog.KObj(lease), "end", end)
		return requeueUrgentlyAt(end, r.Clock.Now()), nil
	case !release.IsZero() && !now.Before(release):
		// Released ahead (by this process or, before a restart, an earlier one): the lease
		// holds the exporter until its end all the same, as the node agent sees it, unless
		// the exporter is gone.
		if deleted, ok := r.exporterDeleted(ctx, lease); ok {
			return r.end(ctx, lease, deleted)
		}
		return requeueUrgentlyAt(end, now), nil
	}
	return r.end(ctx, lease, r.whyLost(ctx, lease, pod))
}

// exporterDeleted is the outcome of a granted lease whose exporter is gone or going.
func (r *Reconciler) exporterDeleted(ctx context.Context, lease *jumpstarterv1alpha1.Lease) (outcome, bool) {
	exporter := &jumpstarterv1alpha1.Exporter{}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: lease.Namespace, Name: lease.Status.ExporterRef.Name}, exporter)
	if apierrors.IsNotFound(err) || (err == nil && !exporter.DeletionTimestamp.IsZero()) {
		return lost(jumpstarterv1alpha1.LeaseReasonExporterDeleted, fmt.Sprintf("exporter %s was deleted", lease.Status.ExporterRef.Name)), true
	}
	return outcome{}, false
}

// preemption is the outcome of a placeholder that the scheduler preempted.
func preemption(pod *corev1.Pod) (outcome, bool) {
	if pod == nil {
		return outcome{}, false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue && c.Reason == corev1.PodReasonPreemptionByScheduler {
			return lost(jumpstarterv1alpha1.LeaseReasonPreempted, "the lease was preempted: "+c.Message), true
		}
	}
	return outcome{}, false
}

// whyLost explains the loss of a granted lease's placeholder.
func (r *Reconciler) whyLost(ctx context.Context, lease *jumpstarterv1alpha1.Lease, pod *corev1.Pod) outcome {
	if deleted, ok := r.exporterDeleted(ctx, lease); ok {
		return deleted
	}
	if pod == nil && r.deleted.hasAny(client.ObjectKeyFromObject(lease)) {
		// The end time moved later after the placeholder had been released ahead of it.
		return lost(jumpstarterv1alpha1.LeaseReasonPlaceholderLost, fmt.Sprintf(
			"the end time was moved after the lease had released its exporter to the next lease, %s before the old end", r.ReleaseAhead))
	}
	return lost(jumpstarterv1alpha1.LeaseReasonPlaceholderLost,
		fmt.Sprintf("placeholder pod %s was deleted or stopped by someone other than the controller", PlaceholderName(lease.Name)))
}

// whileWaiting queues the lease (creating its placeholder), keeps its waiting status current,
// and grants it once the node agent accepted the placeholder.
func (r *Reconciler) whileWaiting(ctx context.Context, lease *jumpstarterv1alpha1.Lease, pod *corev1.Pod, now time.Time) (reconcile.Result, error) {
	// An admitted placeholder is a grant, whatever happened to the exporters since.
	admission, err := r.admission(ctx, pod)
	switch {
	case err != nil:
		return reconcile.Result{}, fmt.Errorf("admission of placeholder of lease %s: %w", klog.KObj(lease), err)
	case admission.Admitted:
		return r.grant(ctx, lease, pod, now)
	case admission.Blocked:
		// The lease before this one on the exporter released it ahead of its end, or is being
		// ended: ask again when it is due to end, and every moment after.
		return reconcile.Result{RequeueAfter: admission.RetryAfter(r.Clock.Now()), Priority: ptr.To(UrgentPriority)}, nil
	}
	if holdsNode(pod) && pod.Status.Phase != corev1.PodRunning {
		// Bound, but the exporter is held by another placeholder: the node agent refuses this
		// one (Failed), which wakes the lease to queue again.
		return reconcile.Result{}, nil
	}
	if begin := lease.Spec.BeginTime; begin != nil && now.Before(begin.Time) {
		return r.waitForBeginTime(ctx, lease, pod, begin.Time, now)
	}

	exporters := &jumpstarterv1alpha1.ExporterList{}
	// Read-only lists skip the cache's deep copy: with thousands of leases waiting, copying
	// every lease and exporter on every reconcile dominated the controller's CPU.
	if err := r.Client.List(ctx, exporters, client.InNamespace(lease.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return reconcile.Result{}, fmt.Errorf("list exporters in %s: %w", lease.Namespace, err)
	}
	access, err := accesspolicy.ForLease(ctx, r.Client, lease)
	if err != nil {
		return reconcile.Result{}, err
	}
	v := judge(lease, exporters.Items, access, now)
	if v.unsatisfiable {
		return r.end(ctx, lease, unsatisfiable(v.reason, v.message))
	}

	if pod == nil {
		var created bool
		var err error
		if pod, created, err = r.ensurePlaceholder(ctx, lease, v.access); pod == nil || err != nil {
			return reconcile.Result{}, err
		}
		if created {
			// The waiting status comes in a reconcile of its own, below every placeholder
			// creation (waitingStatusPriority), woken by the placeholder's create event.
			// In a burst of new leases the placeholders all reach the scheduler first, at
			// one write each instead of two: with both writes in one reconcile, 500 leases
			// took 26 s to get their placeholders and exporters freed meanwhile sat idle.
			// A lease granted before its turn comes never needs the waiting status at all.
			return reconcile.Result{RequeueAfter: r.waitingStatusRetry(), Priority: ptr.To(waitingStatusPriority)}, nil
		}
	}
	switch {
	case pod.Status.Phase == corev1.PodFailed:
		// Refused by the node agent (the exporter turned out to be held): queue again.
		return r.requeuePlaceholder(ctx, lease, pod)
	case !pod.DeletionTimestamp.IsZero():
		return r.end(ctx, lease, lost(jumpstarterv1alpha1.LeaseReasonPlaceholderLost,
			fmt.Sprintf("placeholder pod %s was deleted before the lease was granted", pod.Name)))
	}

	leases := &jumpstarterv1alpha1.LeaseList{}
	if err := r.Client.List(ctx, leases, client.InNamespace(lease.Namespace), client.UnsafeDisableDeepCopy); err != nil {
		return reconcile.Result{}, fmt.Errorf("list leases in %s: %w", lease.Namespace, err)
	}
	base := lease.DeepCopy()
	lease.Status.PlaceholderPod = pod.Name
	setAccess(lease, pod)
	position, queued := queuePosition(lease, leases.Items, &r.queueKeys)
	setWaiting(lease, jumpstarterv1alpha1.LeasePhasePending, v.reason, v.message, ptr.To(position), now)
	if err := r.patchStatus(ctx, base, lease); err != nil {
		return reconcile.Result{}, err
	}
	next := now.Add(spreadRefresh(refreshAfter(r.QueueRefresh, queued)))
	if end := lease.EffectiveEndTime(); !end.IsZero() && end.Before(next) {
		return requeueAt(end, r.Clock.Now()), nil
	}
	// A position refresh yields to grants, releases and expiries waiting in the same queue.
	result := requeueAt(next, now)
	result.Priority = ptr.To(refreshPriority)
	return result, nil
}

// waitForBeginTime keeps a scheduled lease out of the queue until its begin time. A placeholder
// that exists already (the begin time was moved later) is withdrawn first.
func (r *Reconciler) waitForBeginTime(ctx context.Context, lease *jumpstarterv1alpha1.Lease, pod *corev1.Pod, begin, now time.Time) (reconcile.Result, error) {
	if pod != nil {
		return r.requeuePlaceholder(ctx, lease, pod)
	}
	base := lease.DeepCopy()
	setWaiting(lease, jumpstarterv1alpha1.LeasePhaseScheduled, jumpstarterv1alpha1.LeaseReasonScheduled,
		"the lease starts at "+begin.UTC().Format(time.RFC3339), nil, now)
	if err := r.patchStatus(ctx, base, lease); err != nil {
		return reconcile.Result{}, err
	}
	return requeueAt(begin, r.Clock.Now()), nil
}

// requeuePlaceholder withdraws a placeholder that must not be granted as it is. The status
// forgets the pod first: a missing pod that the status still names reads as deleted by someone
// else, which ends the lease.
func (r *Reconciler) requeuePlaceholder(ctx context.Context, lease *jumpstarterv1alpha1.Lease, pod *corev1.Pod) (reconcile.Result, error) {
	base := lease.DeepCopy()
	lease.Status.PlaceholderPod = ""
	if err := r.patchStatus(ctx, base, lease); err != nil {
		return reconcile.Result{}, err
	}
	if err := r.Client.Delete(ctx, pod, client.GracePeriodSeconds(0), client.Preconditions{UID: &pod.UID}); client.IgnoreNotFound(err) != nil {
		return reconcile.Result{}, fmt.Errorf("withdraw placeholder %s: %w", klog.KObj(pod), err)
	}
	klog.FromContext(ctx).Info("Placeholder withdrawn, queueing again", "lease", klog.KObj(lease), "pod", klog.KObj(pod), "phase", pod.Status.Phase, "reason", pod.Status.Reason)
	return reconcile.Result{Requeue: true}, nil
}

// ensurePlaceholder creates the lease's pod (created), or finds it, or finds out that it
// existed and was deleted. It returns a nil pod when the lease ended instead.
func (r *Reconciler) ensurePlaceholder(ctx context.Context, lease *jumpstarterv1alpha1.Lease, access accesspolicy.Decision) (pod *corev1.Pod, created bool, err error) {
	name := PlaceholderName(lease.Name)
	if lease.Status.PlaceholderPod != "" {
		pod := &corev1.Pod{}
		err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: lease.Namespace, Name: name}, pod)
		if err == nil {
			return pod, false, nil
		}
		if !apierrors.IsNotFound(err) {
			return nil, false, fmt.Errorf("get placeholder %s/%s: %w", lease.Namespace, name, err)
		}
		_, err = r.end(ctx, lease, lost(jumpstarterv1alpha1.LeaseReasonPlaceholderLost,
			fmt.Sprintf("placeholder pod %s was deleted before the lease was granted", name)))
		return nil, false, err
	}

	if err := r.ensurePriorityClass(ctx, access.Priority); err != nil {
		return nil, false, err
	}
	pod = newPlaceholder(lease, access)
	err = r.Client.Create(ctx, pod)
	if apierrors.IsAlreadyExists(err) {
		existing := &corev1.Pod{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(pod), existing); err != nil {
			return nil, false, fmt.Errorf("get placeholder %s: %w", klog.KObj(pod), err)
		}
		if !metav1.IsControlledBy(existing, lease) {
			_, err := r.end(ctx, lease, invalid("PlaceholderNameTaken",
				fmt.Sprintf("pod %s exists and does not belong to this lease", klog.KObj(pod))))
			return nil, false, err
		}
		return existing, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("create placeholder for lease %s: %w", klog.KObj(lease), err)
	}
	r.Recorder.Eventf(lease, pod, corev1.EventTypeNormal, EventQueued, "Queue",
		"placeholder pod %s waits for an exporter matching %s", pod.Name, describeTarget(lease))
	return pod, true, nil
}

// grant records that the node agent accepted the placeholder on an exporter's node.
func (r *Reconciler) grant(ctx context.Context, lease *jumpstarterv1alpha1.Lease, pod *corev1.Pod, now time.Time) (reconcile.Result, error) {
	node := &corev1.Node{}
	if err := r.Client.Get(ctx, types.NamespacedName{Name: pod.Spec.NodeName}, node); err != nil {
		if err := r.APIReader.Get(ctx, types.NamespacedName{Name: pod.Spec.NodeName}, node); err != nil {
			return reconcile.Result{}, fmt.Errorf("get node %s of placeholder %s: %w", pod.Spec.NodeName, klog.KObj(pod), err)
		}
	}
	exporter := node.Labels[jumpstarterv1alpha1.LabelExporterName]
	if exporter == "" {
		return reconcile.Result{}, fmt.Errorf("placeholder %s runs on node %s, which is not an exporter's", klog.KObj(pod), node.Name)
	}
	base := lease.DeepCopy()
	lease.Status.PlaceholderPod = pod.Name
	setAccess(lease, pod)
	setGranted(lease, exporter, metav1.NewMicroTime(now))
	if err := r.patchStatus(ctx, base, lease); err != nil {
		return reconcile.Result{}, err
	}
	r.Metrics.granted(lease, now)
	r.Recorder.Eventf(lease, pod, corev1.EventTypeNormal, EventGranted, "Grant", "exporter %s granted", exporter)
	klog.FromContext(ctx).V(2).Info("Lease granted", "lease", klog.KObj(lease), "exporter", exporter)
	// The delay counts from now, after the write: from the stamp taken before it, a lease
	// would end late by the write's round trip (200 ms at p50 in the load benchmark).
	return requeueUrgentlyAt(cmp.Or(lease.ReleaseTime(r.ReleaseAhead), lease.EffectiveEndTime()), r.Clock.Now()), nil
}

// end ends the lease: the status and the placeholder's deletion at the same time (which
// frees the exporter for the next lease a write sooner), then, in a reconcile of its own, the
// label. The label only serves listing; under load, ends held a worker for two round trips, and
// with every worker busy the grants and ends behind them waited (end lateness p99 0.5-0.8 s in
// the load benchmark, 0.2-0.3 s with the label queued apart). The lease API stays
// exclusive all the same: the node agent admits no placeholder on the exporter while a lease
// granted it has not ended (nodeagent.Admit), as this process or, after a restart, the cache
// sees it, so no watcher ever sees this lease still Ready while the next one is granted the
// exporter. Should the status write fail, the next reconcile ends the lease again: release and
// expiry are checked before the placeholder.
func (r *Reconciler) end(ctx context.Context, lease *jumpstarterv1alpha1.Lease, o outcome) (reconcile.Result, error) {
	base := lease.DeepCopy()
	now := r.Clock.Now()
	setEnded(lease, o, metav1.NewMicroTime(now))
	deleted := make(chan error, 1)
	key := client.ObjectKeyFromObject(lease) // the patch below rewrites lease from the response
	go func() { deleted <- r.deletePlaceholder(ctx, key) }()
	err := r.patchStatus(ctx, base, lease)
	delErr := <-deleted
	if err != nil {
		return reconcile.Result{}, err
	}
	// The end is written: tell it whatever became of the deletion, which the ended lease's
	// next reconcile retries (cleanupEnded) without coming here again.
	r.Metrics.ended(o.reason, expiryDue(base, o), now)
	r.Recorder.Eventf(lease, nil, o.eventType, o.reason, "End", o.message)
	klog.FromContext(ctx).V(2).Info("Lease ended", "lease", klog.KObj(lease), "reason", o.reason)
	if delErr != nil {
		return reconcile.Result{}, delErr
	}
	return reconcile.Result{RequeueAfter: labelEndedDelay, Priority: ptr.To(labelEndedPriority)}, nil
}

// expiryDue is when a granted lease that expired was due to end; zero for other ends, whose
// delay after an end time means nothing (a lease may be created with its end time passed).
func expiryDue(lease *jumpstarterv1alpha1.Lease, o outcome) time.Time {
	if o.reason != jumpstarterv1alpha1.LeaseReasonExpired || lease.Status.BeginTime == nil {
		return time.Time{}
	}
	return lease.EffectiveEndTime()
}

// deletePlaceholder deletes the placeholder pod of the lease named key, if there is one.
func (r *Reconciler) deletePlaceholder(ctx context.Context, key types.NamespacedName) error {
	pod := &corev1.Pod{}
	err := r.Client.Get(ctx, types.NamespacedName{Namespace: key.Namespace, Name: PlaceholderName(key.Name)}, pod)
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("get placeholder of lease %s: %w", key, err)
	case !pod.DeletionTimestamp.IsZero() || r.deleted.has(key, pod.UID):
		return nil
	}
	if err := r.Client.Delete(ctx, pod, client.GracePeriodSeconds(0), client.Preconditions{UID: &pod.UID}); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete placeholder of lease %s: %w", key, err)
	}
	r.deleted.add(key, pod.UID)
	return nil
}

// cleanupEnded deletes an ended lease's placeholder, labels the lease, and deletes it once its
// retention is over; safe to repeat.
func (r *Reconciler) cleanupEnded(ctx context.Context, lease *jumpstarterv1alpha1.Lease) (reconcile.Result, error) {
	if err := r.deletePlaceholder(ctx, client.ObjectKeyFromObject(lease)); err != nil {
		return reconcile.Result{}, err
	}
	if lease.Labels[jumpstarterv1alpha1.LabelLeaseEnded] != "true" {
		return r.labelEnded(ctx, lease)
	}
	return r.expireEnded(ctx, lease)
}

// labelEnded sets the ended label, by which clients list leases that are over. The label is
// this reconciler's last write of the lease, and its own-writes record would outlive it: only
// a reconcile drops a record, once the cache shows the write, and nothing wakes an ended lease
// again before the periodic resync hours later, so the controller held a copy of every ended
// lease. One more reconcile, once the cache has surely caught up (ownWriteSettle), drops it.
// Dropping it at once instead would let a lagging cache show the node agent the lease as not
// ended yet, and block the exporter's next lease until the cache caught up.
func (r *Reconciler) labelEnded(ctx context.Context, lease *jumpstarterv1alpha1.Lease) (reconcile.Result, error) {
	patch := fmt.Appendf(nil, `{"metadata":{"labels":{%q:"true"}}}`, jumpstarterv1alpha1.LabelLeaseEnded)
	replaced := lease.ResourceVersion
	if err := r.Client.Patch(ctx, lease, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return reconcile.Result{}, fmt.Errorf("label ended lease %s: %w", klog.KObj(lease), err)
	}
	r.written.Wrote(client.ObjectKeyFromObject(lease), replaced, lease)
	return reconcile.Result{RequeueAfter: ownWriteSettle, Priority: ptr.To(refreshPriority)}, nil
}

// ownWriteSettle is how long after an ended lease's label the reconciler looks at the lease
// once more, to drop its own-writes record: the cache shows a write within a second even under
// the load benchmark.
const ownWriteSettle = 10 * time.Second

// patchStatus writes the status if it changed, with an optimistic lock (the resourceVersion of
// the copy it was decided on): a decision taken on a stale copy of the lease fails with a
// conflict and is taken again on fresh data. It is an update (PUT), not a merge patch: with
// the same lock, the API server skips the patch's encode-apply-decode round, which was a third
// of the cost of a custom resource's status write, the most frequent write of a lease.
func (r *Reconciler) patchStatus(ctx context.Context, base, lease *jumpstarterv1alpha1.Lease) error {
	if equality.Semantic.DeepEqual(base.Status, lease.Status) {
		return nil
	}
	if err := r.Client.Status().Update(ctx, lease); err != nil {
		return fmt.Errorf("update status of lease %s: %w", klog.KObj(lease), err)
	}
	r.written.Wrote(client.ObjectKeyFromObject(lease), base.ResourceVersion, lease)
	r.grants.record(lease)
	return nil
}

// requeueUrgentlyAt is requeueAt for an end time: the expiry goes ahead of routine work.
func requeueUrgentlyAt(at, now time.Time) reconcile.Result {
	result := requeueAt(at, now)
	if !result.IsZero() {
		result.Priority = ptr.To(UrgentPriority)
	}
	return result
}

func requeueAt(at, now time.Time) reconcile.Result {
	if at.IsZero() {
		return reconcile.Result{}
	}
	return reconcile.Result{RequeueAfter: max(at.Sub(now), time.Millisecond)}
}

// labelEndedPriority and labelEndedDelay queue the ended label's write in a reconcile of its
// own, behind the grants and ends waiting (UrgentPriority) and in line with new leases'
// placeholders (not below them: a burst of thousands of new leases would hold the label back
// for minutes).
const (
	labelEndedPriority = 0
	labelEndedDelay    = time.Millisecond
)
