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
//   - EnqueueExtensions: queueing hints that retry a waiting placeholder only when an event can
//     make a node acceptable to it: an exporter that comes online, is enabled or gets matching
//     labels, or a placeholder that leaves an exporter the waiting pod could use.
//   - SignPlugin: the plugin's part of the pod signature, so that kube-scheduler keeps
//     opportunistic batching for placeholder pods.
//
// Pods without the lease label pass Filter and get the same score on every node. The plugin
// takes no arguments.
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
