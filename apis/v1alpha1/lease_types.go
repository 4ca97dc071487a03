package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LeaseSpec is what a client asks for: one exporter, picked by selector or by name, for a time.
//
// +kubebuilder:validation:XValidation:rule="has(self.duration) || (has(self.beginTime) && has(self.endTime))",message="spec.duration is required unless both spec.beginTime and spec.endTime are set"
// +kubebuilder:validation:XValidation:rule="!has(self.beginTime) || !has(self.endTime) || timestamp(self.endTime) > timestamp(self.beginTime)",message="spec.endTime must be after spec.beginTime"
// +kubebuilder:validation:XValidation:rule="!has(self.beginTime) || !has(self.endTime) || !has(self.duration) || timestamp(self.endTime) - timestamp(self.beginTime) == duration(self.duration)",message="spec.duration must equal spec.endTime - spec.beginTime when all three are set"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.release) || !oldSelf.release || (has(self.release) && self.release)",message="spec.release cannot be undone"
type LeaseSpec struct {
	// ClientRef names the Client (in the lease's namespace) that holds the lease.
	ClientRef corev1.LocalObjectReference `json:"clientRef"`

	// Duration of the lease once granted. Optional when beginTime and endTime are both set.
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="spec.duration must be positive"
	// +optional
	Duration *metav1.Duration `json:"duration,omitempty"`

	// Selector picks the exporter by its labels. Empty selects any exporter (only together with
	// exporterRef; a lease with neither is Invalid).
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.selector is immutable"
	// +optional
	Selector metav1.LabelSelector `json:"selector"`

	// ExporterRef pins the lease to one exporter by name.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.exporterRef is immutable"
	// +optional
	ExporterRef *corev1.LocalObjectReference `json:"exporterRef,omitempty"`

	// Tags are free-form key/value pairs the client attaches for bookkeeping.
	// +kubebuilder:validation:MaxProperties=10
	// +optional
	Tags map[string]string `json:"tags,omitempty"`

	// AllowDisabled lets the lease be granted an exporter whose spec.enabled is false.
	// +optional
	AllowDisabled bool `json:"allowDisabled,omitempty"`

	// Release asks the controller to end the lease now. It cannot be unset.
	// +optional
	Release bool `json:"release,omitempty"`

	// BeginTime is when a scheduled lease starts; its placeholder is created then.
	// +optional
	BeginTime *metav1.Time `json:"beginTime,omitempty"`

	// EndTime is when the lease ends, whatever the duration.
	// +optional
	EndTime *metav1.Time `json:"endTime,omitempty"`

	// Context is handed to the exporter with the lease (upstream lease context).
	// +kubebuilder:validation:MaxProperties=8
	// +optional
	Context map[string]string `json:"context,omitempty"`
}

// LeasePhase summarises a lease's state for people; the conditions are the contract.
// +kubebuilder:validation:Enum=Pending;Scheduled;Active;Ended
type LeasePhase string

const (
	LeasePhasePending   LeasePhase = "Pending"
	LeasePhaseScheduled LeasePhase = "Scheduled"
	LeasePhaseActive    LeasePhase = "Active"
	LeasePhaseEnded     LeasePhase = "Ended"
)

// LeaseStatus is what happened to the lease.
type LeaseStatus struct {
	// BeginTime is when the exporter was granted. Microsecond precision: the end of an
	// immediate lease is computed from it, and whole seconds would end leases up to 1 s early.
	// Readers that parse RFC 3339 (metav1.Time, upstream clients) accept the fraction.
	// +optional
	BeginTime *metav1.MicroTime `json:"beginTime,omitempty"`
	// EndTime is when a granted lease ended.
	// +optional
	EndTime *metav1.MicroTime `json:"endTime,omitempty"`
	// ExporterRef is the exporter granted to the lease.
	// +optional
	ExporterRef *corev1.LocalObjectReference `json:"exporterRef,omitempty"`
	// Ended is true once the lease can never be (or be again) granted.
	// +optional
	Ended bool `json:"ended"`
	// Priority the lease is queued with (from access policies).
	// +optional
	Priority int `json:"priority,omitempty"`
	// SpotAccess leases may be preempted by others.
	// +optional
	SpotAccess bool `json:"spotAccess,omitempty"`
	// Phase summarises the conditions for kubectl get.
	// +optional
	Phase LeasePhase `json:"phase,omitempty"`
	// PlaceholderPod is the pod in the lease's namespace that the scheduler binds to the
	// exporter's virtual node; its binding is the grant.
	// +optional
	PlaceholderPod string `json:"placeholderPod,omitempty"`
	// QueuePosition is the lease's place among the pending leases that wait for the same
	// exporters (1 is next); unset when not waiting.
	// +optional
	QueuePosition *int32 `json:"queuePosition,omitempty"`
	// Conditions: Pending, Ready, Unsatisfiable, Invalid, in the order they first happened.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=jl;jlease,categories=jumpstarter
// +kubebuilder:printcolumn:name="Client",type=string,JSONPath=".spec.clientRef.name"
// +kubebuilder:printcolumn:name="Exporter",type=string,JSONPath=".status.exporterRef.name"
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=".status.phase"
// +kubebuilder:printcolumn:name="Queue",type=integer,JSONPath=".status.queuePosition",priority=1
// +kubebuilder:printcolumn:name="Priority",type=integer,JSONPath=".status.priority",priority=1
// +kubebuilder:printcolumn:name="Spot",type=boolean,JSONPath=".status.spotAccess",priority=1
// +kubebuilder:printcolumn:name="Selector",type=string,JSONPath=".spec.selector",priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=".metadata.creationTimestamp"

// Lease is a client's claim on one exporter for a time. It becomes a placeholder pod that the
// scheduler binds to the exporter's virtual node.
type Lease struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   LeaseSpec   `json:"spec,omitempty"`
	Status LeaseStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// LeaseList is a list of Leases.
type LeaseList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Lease `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Lease{}, &LeaseList{})
}
