package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// From matches the clients a policy rule applies to.
type From struct {
	// ClientSelector matches Client labels.
	ClientSelector metav1.LabelSelector `json:"clientSelector,omitempty"`
}

// Policy is one access rule: who may lease, at what priority, for how long.
type Policy struct {
	// +optional
	Description string `json:"description,omitempty"`
	// Priority of leases under this rule; higher is served first and may preempt spot leases.
	// It becomes the placeholder pod's PriorityClass value, hence the bounds of user-defined
	// PriorityClasses.
	// +kubebuilder:validation:Minimum=-1000000000
	// +kubebuilder:validation:Maximum=1000000000
	// +optional
	Priority int `json:"priority,omitempty"`
	// +optional
	From []From `json:"from,omitempty"`
	// MaximumDuration caps the lease duration under this rule: a longer lease is not approved
	// by it.
	// +optional
	MaximumDuration *metav1.Duration `json:"maximumDuration,omitempty"`
	// SpotAccess leases may be preempted by leases of higher priority.
	// +optional
	SpotAccess bool `json:"spotAccess,omitempty"`
}

// ExporterAccessPolicySpec selects exporters and lists the rules for them.
type ExporterAccessPolicySpec struct {
	// +optional
	ExporterSelector metav1.LabelSelector `json:"exporterSelector,omitempty"`
	// +optional
	Policies []Policy `json:"policies,omitempty"`
}

// ExporterAccessPolicyStatus is empty for now; kept for upstream compatibility.
type ExporterAccessPolicyStatus struct{}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=jeap,categories=jumpstarter

// ExporterAccessPolicy organises, prioritises and restricts access to exporters.
type ExporterAccessPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ExporterAccessPolicySpec   `json:"spec,omitempty"`
	Status ExporterAccessPolicyStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ExporterAccessPolicyList is a list of ExporterAccessPolicies.
type ExporterAccessPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ExporterAccessPolicy `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ExporterAccessPolicy{}, &ExporterAccessPolicyList{})
}
