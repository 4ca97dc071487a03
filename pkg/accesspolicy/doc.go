// Package accesspolicy evaluates ExporterAccessPolicies: which exporters a client may lease,
// at what priority, under spot access or not, and for how long.
//
// The rules are those of the upstream Jumpstarter controller. Only the policies of the lease's
// namespace count. A namespace without policies lets every client have every exporter at
// priority 0. Once a namespace has a policy, an exporter is open to a client only through a
// rule (spec.policies[i]) of a policy whose exporterSelector matches the exporter's labels and
// one of whose from[].clientSelector matches the Client's labels; a rule with a
// maximumDuration approves only leases no longer than it. Of the rules that approve an
// exporter, one that is not spot access beats a spot one, and then the higher priority wins.
//
// A lease becomes one placeholder pod, and a pod has one priority, so a lease gets one
// Decision: it is a spot lease only when spot rules are all its client has for the exporters
// it selects; otherwise it may take only exporters that a rule without spot access opens to it.
// Its priority is the highest of the rules of that kind that approve an exporter it selects,
// and its placeholder's node affinity admits the exporters of all those rules.
package accesspolicy
