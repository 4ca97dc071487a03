// Package plugin is the kube-scheduler plugin that grants leases: it schedules placeholder pods
// (pods labelled jumpstarter.dev/lease) onto the virtual nodes that stand for exporters, and the
// binding is the grant.
//
// The plugin implements these extension points:
//
//   - QueueSort: priority (descending), then pod creation time, then namespace/name, so that
//     leases are granted first come, first served. The default PrioritySort orders by the queue
//     timestamp, which moves every time a pod is retried.
//   - Filter: the node must be an exporter's virtual node, online, enabled (unless the pod
//     allows disabled exporters) and not held by another placeholder pod. Every check but the
//     last is UnschedulableAndUnresolvable; "held" is Unschedulable so that preemption can free
//     the exporter for a lease of higher priority.
//   - Score (with NormalizeScore): the exporter released longest ago wins, to spread wear; an
//     exporter that was never leased beats every other.
//   - EnqueueExtensions: queueing hints that wake one waiting lease per free exporter (below),
//     when a placeholder leaves an exporter or an exporter comes online, is enabled or gets
//     matching labels.
//   - SignPlugin: the plugin's part of the pod signature, so that kube-scheduler keeps
//     opportunistic batching for placeholder pods.
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
// never run concurrently with each other, but the delete handler runs on an informer goroutine.
// Records are pruned when the next event is decided; nothing runs in the background.
//
// Where an exporter can stay free while a lease it suits waits, until an event for that
// exporter or kube-scheduler's flush of pods unschedulable for 5 minutes (checked every 30 s):
//
//   - Another filter plugin rejects the first lease there: the exporter is cordoned or has a
//     taint that lease does not tolerate. The hints do not model other plugins, so the exporter
//     wakes that lease, which fails, and not a later one that could use it (tolerating the
//     taint). If another plugin rejected that lease last time, the queue does not even ask this
//     plugin's hint about it, and the event wakes nobody.
//
// Where a later lease can still overtake an earlier one of the same priority:
//
//   - A woken lease still in back-off (it failed less than 1 s before the release) waits in the
//     back-off queue, while a lease created in that moment goes to the active queue and takes
//     the exporter first. The woken lease competes again at once (the grant is an AssignedPod/Add)
//     but has lost that exporter. Filter would have to honour fresh wakes to close this.
//   - kube-scheduler's own NodeAffinity and TaintToleration hints still queue every matching
//     lease they rejected when an exporter is added or relabelled; those events are rare.
//
// The plugin reads the Ready condition of virtual nodes: True means online and enabled, False
// with reason ExporterDisabled means online but disabled, anything else (False with any other
// reason, Unknown, missing) means offline.
//
// Known gap: kube-scheduler turns a node update into a cluster event only when labels, taints,
// allocatable, annotations, a few spec fields or a condition's *status* change. A change of the
// Ready reason alone (False/ExporterOffline to False/ExporterDisabled) raises no event, so a
// lease that allows disabled exporters and waits for that exporter is retried only when the
// scheduler flushes its unschedulable pods (after five minutes by default). Pairing the change
// with an annotation does not help: status and metadata are separate writes, and in neither
// order does an event show the condition changing. The fix belongs to the node's
// owner: a second condition whose status flips when the exporter comes online (for example
// ExporterOnline True/False) makes the change an UpdateNodeCondition event, which the node
// hint already handles since it compares the whole old and new node.
package plugin
