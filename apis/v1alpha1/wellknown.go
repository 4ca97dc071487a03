package v1alpha1

// Names shared by the controller (which builds virtual nodes and placeholder pods) and the
// scheduler plugin (which reads them). They are API: changing one strands existing objects.
const (
	// ResourceExporter is the extended resource every virtual node offers exactly one unit of and
	// every placeholder pod requests: the scheduler's resource accounting makes a grant exclusive.
	ResourceExporter = "jumpstarter.dev/exporter"

	// TaintExporterKey is the NoSchedule taint on virtual nodes, so ordinary pods never land there.
	TaintExporterKey = "jumpstarter.dev/exporter"

	// SchedulerName is the kube-scheduler profile that schedules placeholder pods.
	SchedulerName = "jumpstarter-scheduler"

	// LabelExporterNamespace and LabelExporterName on a virtual node name the exporter it stands
	// for. Node affinity always includes the namespace, so leases only see their own namespace.
	LabelExporterNamespace = "jumpstarter.dev/exporter-namespace"
	LabelExporterName      = "jumpstarter.dev/exporter-name"

	// LabelLeaseName on a placeholder pod names the lease it stands for; its presence is what
	// makes a pod a placeholder for the scheduler plugin and the node agent.
	LabelLeaseName = "jumpstarter.dev/lease"

	// LabelLeaseEnded marks ended leases so that listings can filter them out (upstream name).
	LabelLeaseEnded = "jumpstarter.dev/lease-ended"

	// LabelSpotAccess ("true") on a placeholder pod: the lease holds its exporter under spot
	// access, and a waiting lease of higher priority may preempt it. Other leases are never
	// preempted.
	LabelSpotAccess = "jumpstarter.dev/spot-access"

	// A pod (a CI step) asks for a lease with these. LabelLeaseRequest ("true") marks it for
	// the controller, which caches only such pods; GateLease holds it back from scheduling
	// until its lease is granted. Config's MutatingAdmissionPolicy adds both to a new pod that
	// carries AnnotationLeaseSelector or AnnotationLeaseExporter.
	LabelLeaseRequest = "jumpstarter.dev/lease-request"
	GateLease         = "jumpstarter.dev/lease"
	// AnnotationLeaseSelector (label selector syntax) or AnnotationLeaseExporter (an
	// exporter's name) say which exporter; AnnotationLeaseDuration (a Go duration, default an
	// hour) for how long; AnnotationLeaseClient names the Client to lease as (default: the one
	// whose spec.username is the pod's service account).
	AnnotationLeaseSelector = "jumpstarter.dev/lease-selector"
	AnnotationLeaseExporter = "jumpstarter.dev/lease-exporter"
	AnnotationLeaseDuration = "jumpstarter.dev/lease-duration"
	AnnotationLeaseClient   = "jumpstarter.dev/lease-client"
	// AnnotationLeaseName on such a pod names its lease once it is granted, before the pod is
	// let go; a container reads it with the downward API (JMP_LEASE).
	AnnotationLeaseName = "jumpstarter.dev/lease-name"
	// PodConditionLease on such a pod says where its lease stands.
	PodConditionLease = "jumpstarter.dev/Lease"

	// AnnotationAllowDisabled on a placeholder pod lets it be scheduled onto a disabled exporter.
	AnnotationAllowDisabled = "jumpstarter.dev/allow-disabled"

	// AnnotationExporter on a placeholder pod is written by the node agent when it accepts the
	// pod: the exporter the lease was granted.
	AnnotationExporter = "jumpstarter.dev/exporter"

	// LabelCredential ("true") marks the Secrets that hold a Client's or Exporter's token; the
	// controller caches only Secrets with this label. LabelCredentialKind says whose token it
	// is ("client" or "exporter").
	LabelCredential     = "jumpstarter.dev/credential"
	LabelCredentialKind = "jumpstarter.dev/credential-kind"

	// AnnotationRotateToken on a Client or Exporter asks the controller for a fresh token that
	// replaces (and so revokes) the current one. Set it to a new value each time, such as a
	// timestamp: every distinct value rotates once.
	AnnotationRotateToken = "jumpstarter.dev/rotate-token"

	// LabelPrefix is the label prefix reserved for the service; admins cannot set these labels
	// on an exporter's node through the exporter.
	LabelPrefix = "jumpstarter.dev/"
)

// NodeConditionExporterOnline is a virtual node condition that follows the exporter's online
// state alone. The scheduler requeues pods on node condition *status* changes only, and an
// exporter that comes online while disabled changes the Ready reason but not its status; this
// condition's flip is the event that wakes leases allowed on disabled exporters.
const NodeConditionExporterOnline = "jumpstarter.dev/ExporterOnline"

// Reasons on the virtual node's Ready condition. The scheduler plugin reads them to tell an
// exporter that is online but disabled (schedulable for allowDisabled leases) from one that is
// offline.
const (
	NodeReasonExporterReady    = "ExporterReady"
	NodeReasonExporterDisabled = "ExporterDisabled"
	NodeReasonExporterOffline  = "ExporterOffline"
)
