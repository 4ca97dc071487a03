// Package plugin is the kube-scheduler plugin that grants leases: it schedules placeholder pods
// (pods labelled jumpstarter.dev/lease) onto the virtual nodes that stand for exporters, and the
// binding is the grant.
//
// The plugin implements these extension points:
//
//   - QueueSort: priority (descending), then pod creation time, then namespace/name, so that
//     leases are granted first come, first served. The default PrioritySort orders by the queue
//     timestamp, which moves every time a pod is retried.
//   - PreEnqueue: holds back a placeholder that could only fail: every exporter its lease
//     selects is held by a placeholder it cannot preempt (below, "Holding back leases
//     that could only fail").
//   - PreFilter: reads, once per scheduling cycle, the exporters reserved for a woken lease
//     ahead of the pod (below), for Filter. Pods that are not placeholders skip the Filter.
//   - Filter: the node must be an exporter's virtual node, online, enabled (unless the pod
//     allows disabled exporters), not held by another placeholder pod and not reserved for a
//     lease ahead of the pod. Offline, disabled and "not an exporter" are
//     UnschedulableAndUnresolvable. "Held" is Unschedulable when the holder is a spot lease
//     (label jumpstarter.dev/spot-access) of lower priority, so that preemption can free the
//     exporter; a lease that is not spot access is never preempted. Otherwise "held" and
//     "reserved" are Pending (see
//     "Waiting without back-off").
//   - Score (with NormalizeScore): the exporter released longest ago wins, to spread wear; an
//     exporter that was never leased beats every other.
//   - EnqueueExtensions: queueing hints that wake one waiting lease per free exporter (below),
//     when a placeholder leaves an exporter or an exporter comes online, is enabled or gets
//     matching labels.
//   - SignPlugin: the plugin's part of the pod signature, so that kube-scheduler keeps
//     opportunistic batching for the profile. Placeholder pods are not signed, which keeps them
//     out of batching: with reservations, two placeholders with the same selector no longer get
//     the same Filter results (sign.go).
//
// Pods without the lease label pass Filter and get the same score on every node. The plugin
// takes no arguments.
//
// # Waking one lease per free exporter
//
// QueueSort alone does not grant leases first come, first served. When a lease ends,
// kube-scheduler asks the queueing hints about every waiting placeholder this plugin rejected.
// Answering Queue for every one the freed exporter suits retries them all: one is granted, the
// others fail again and each gets a fresh back-off (1 s, see podInitialBackoffSeconds in
// config/scheduler). The back-off queue orders pods by back-off expiry truncated to whole seconds
// (backoffQOrderingWindowDuration) and only then by QueueSort, so a lease whose last failure fell
// in an earlier second overtakes older leases: with 3 exporters and 10 leases l-00..l-09 created
// 20 ms apart, the grant order came out l-00 l-01 l-02 l-03 l-06 l-05 l-04 l-09 l-07 l-08. The
// herd also costs: with 500 leases waiting for 50 exporters, every release retried about 50.
//
// So the hints wake one lease per free exporter. For each event, the first hint call picks the
// lease to wake: among the placeholders waiting in this profile's queue (read from the pod
// informer: unscheduled, not being deleted, no scheduling gates), those the exporter admits
// (online, enabled or allowed disabled, matching the required node affinity) and not already
// woken for another exporter, the first in queue order. The hint answers Queue for that pod and
// QueueSkip for every other pod asked about the same event. The choice is cached per event, so
// the first call reads the pod cache once and the others cost a map look-up. An exporter a
// placeholder is bound to (per the pod informer) wakes nobody: its release will. For a node
// change, only leases the change made the exporter acceptable to are considered.
//
// A woken lease is remembered per exporter (wake.go). While the wake is fresh (wakeTTL, 3 s),
// other exporters pass the lease over, so exporters freed together wake different leases; after
// that it competes again. The record also says which exporter waits for the lease:
//
//   - when a placeholder is bound (AssignedPod/Add), a lease woken for that exporter that lost
//     it competes again at once, and if the bound lease had been woken for another exporter
//     (freed together with this one; Score chose), the next lease is woken for that one;
//   - when a woken lease is deleted before it is granted (a cancelled lease), kube-scheduler
//     runs no hint (UnscheduledPod/Delete is only a metrics label in 1.37), so a delete handler
//     on the pod informer wakes the next lease through the queue's Activate.
//
// State lives in the plugin, behind a mutex: the queue calls hints under its own lock, so they
// never run concurrently with each other, but the delete handler runs on an informer goroutine
// and PreFilter in the scheduling cycle. Records are pruned when the next event is decided;
// nothing runs in the background.
//
// # Holding back leases that could only fail
//
// In a burst of leases most placeholders find every exporter they select held. Tried anyway,
// each fails once, and kube-scheduler writes a FailedScheduling event and a PodScheduled=False
// status for it: two API writes per waiting lease, on the API server every grant also waits
// for. PreEnqueue answers UnschedulableAndUnresolvable (the pod is gated, not tried) when the
// pod cache shows every exporter the lease selects (nodeAdmits) held by a placeholder of equal
// or higher priority. A gated pod waits in the unschedulable pool with this plugin as its
// rejector, so this plugin's hints decide when it moves, as for a pod that failed: a release
// wakes the first waiting lease in queue order, gated or not, and PreEnqueue lets a lease
// through while its wake is fresh (wakeTTL). Every other case passes and is decided by the
// attempt as before: an exporter free in the pod cache (even if assumed or reserved in the
// scheduler, where Filter turns the pod away), a holder of lower priority (preemption), and no
// matching exporter at all (the attempt's event says why). kube-scheduler re-runs PreEnqueue
// on every move and on its periodic flush of the unschedulable pool, so a gate never outlives
// the state that set it by more than the next event. In the load benchmark it took the API
// server's CPU per lease from 68-69 ms to 58-67 ms over four runs, and kube-scheduler's pod
// status writes from about 450 to 22-41 per run.
//
// # Reserving the exporter for the woken lease
//
// Waking a lease does not hand it the exporter. A woken lease whose last failure was not
// Pending (it waited for an offline exporter, or another plugin rejected it) waits out its
// back-off (podMaxBackoffSeconds, 1 s, served in the back-off queue's whole-second windows);
// even one woken straight into the active queue waits for the scheduling cycle in progress. A
// lease created in that moment goes straight to the active queue and would take
// the exporter first. So a fresh wake is a reservation (reserve.go): for reservationTTL (2.5 s)
// after the wake, Filter turns away from the exporter every other placeholder that is not ahead
// of the woken lease in queue order, as long as the pod cache shows the woken lease still
// waiting (same UID, not bound, not being deleted). The woken lease itself and leases ahead of
// it (higher priority, or older and woken for another exporter) pass; so does a lease the
// scheduler nominated for that exporter after preempting there, unless the woken lease has a
// higher priority. The TTL covers the longest stay in the back-off queue, podMaxBackoffSeconds
// plus the queue's one-second ordering window: by then the woken lease is in the active queue,
// ahead of every lease behind it.
//
// A reservation is Pending: the lease it is for is not on the node, so preemption cannot lift
// it and DefaultPreemption skips the node. An exporter both held (by a lease of lower priority)
// and reserved reports "held" (Unschedulable); preemption's dry run then filters it without its
// holder, and the reservation turns the pod away, so a lease cannot preempt its way past the
// lease ahead of it.
//
// A lease turned away by a reservation waits in the unschedulable pool with this plugin as the
// rejector, so this plugin's hints decide when it is retried. What happens to the woken lease
// decides:
//
//   - it is granted the exporter: the exporter is held, and its release wakes the next lease;
//   - it is granted another exporter: the AssignedPod/Add hint wakes the next lease for the
//     exporter it leaves (boundLocked), the turned-away lease if it is first in line;
//   - it is deleted: the delete handler wakes the next lease through Activate;
//   - a lease ahead of it takes the exporter: the AssignedPod/Add hint drops its wake, the
//     exporter is held, and the woken lease, already queued, fails and waits for the next
//     exporter, first in line. Should the queue not run that hint (it runs hints only when some
//     pod this plugin rejected waits in the unschedulable pool or is in flight), the next wake
//     still treats the woken lease as free, because the pod cache shows its exporter held.
//
// Nothing happens when a reservation expires, and nothing needs to: by then the woken lease has
// left the back-off queue and either had its attempt or waits in the active queue, from which no
// lease behind it is popped first. So one of the cases above has happened, or will before a
// lease behind it is tried. The one exception is a woken lease that another filter plugin
// rejects on that exporter (below): it fails there without this plugin hearing of it.
//
// Where an exporter can stay free while a lease it suits waits, until an event for that
// exporter or kube-scheduler's flush of pods unschedulable for 5 minutes (checked every 30 s):
//
//   - Another filter plugin rejects the first lease there: the exporter is cordoned or has a
//     taint that lease does not tolerate. The hints do not model other plugins, so the exporter
//     wakes that lease, which fails, and not a later one that could use it (tolerating the
//     taint). The reservation also turns away, for its 2.5 s, later leases created meanwhile,
//     which then wait likewise. If another plugin rejected that lease last time, the queue does
//     not even ask this plugin's hint about it, and the event wakes nobody.
//
// Where a later lease can still overtake an earlier one of the same priority:
//
//   - Wakes are recorded only when the queue runs a hint of this plugin, that is when a pod this
//     plugin rejected waits in the unschedulable pool or is in flight. If an exporter is freed
//     while every waiting lease is in the active or back-off queue, nobody is woken and nothing
//     is reserved; a lease in back-off that no wake names (one that lost the exporter it was
//     woken for, or was requeued after 5 minutes) can then be overtaken by a new lease. A lease
//     woken for an exporter is not exposed: its wake reserves that exporter.
//   - Until the binding of a woken lease that the scheduler assumed on another exporter reaches
//     the pod cache, the exporter it was woken for stays reserved for it, and a later lease
//     tried then is turned away and woken again by the binding (a few milliseconds).
//   - kube-scheduler's own NodeAffinity and TaintToleration hints still queue every matching
//     lease they rejected when an exporter is added or relabelled; those events are rare.
//
// # Waiting without back-off
//
// kube-scheduler puts a pod that failed into back-off (podInitialBackoffSeconds, doubling up to
// podMaxBackoffSeconds) and a queueing hint that answers Queue moves it to the back-off queue
// until that expires, whose entries leave in whole-second windows. For a lease that only waits
// for its turn, that turned every hand-over under load into a wait of about a second. The
// framework exempts one kind of failure: a pod that a plugin rejected with the Pending code goes
// straight to the active queue when that plugin's hint answers Queue. Filter therefore answers
// Pending when the lease waits for something no eviction can bring about: the exporter is held
// by a lease it may not preempt (not spot access, or of equal or higher priority), or reserved
// for the lease ahead. The hints still wake one lease per free exporter, so no herd follows.
// DefaultPreemption considers only Unschedulable nodes, so Pending also keeps it from
// simulating evictions that could not help. Offline and disabled exporters stay
// UnschedulableAndUnresolvable: a lease that waits for one coming online waits out its back-off.
//
// The plugin reads the Ready condition of virtual nodes: True means online and enabled, False
// with reason ExporterDisabled means online but disabled, anything else (False with any other
// reason, Unknown, missing) means offline.
//
// kube-scheduler turns a node update into a cluster event only when labels, taints, allocatable,
// annotations, a few spec fields or a condition's *status* change. A change of the Ready reason
// alone (False/ExporterOffline to False/ExporterDisabled) raises no event; that is why the
// controller also keeps the node condition jumpstarter.dev/ExporterOnline, whose status flips
// with the exporter's online state, so an exporter coming online while disabled is an
// UpdateNodeCondition event that the node hint sees (it compares the whole old and new node).
package plugin
