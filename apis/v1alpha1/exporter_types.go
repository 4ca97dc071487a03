package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ExporterSpec is what an admin sets on an exporter. Its selector labels are metadata.labels.
type ExporterSpec struct {
	// Username is an external (OIDC) identity allowed to act as this exporter.
	// +optional
	Username *string `json:"username,omitempty"`
	// Enabled exporters can be granted to leases; disabled ones only to allowDisabled leases.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
}

// Device is one driver instance the exporter reported when it registered.
type Device struct {
	Uuid       string            `json:"uuid,omitempty"`
	ParentUuid *string           `json:"parent_uuid,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	// +optional
	FileDescriptorProto []byte `json:"file_descriptor_proto,omitempty"`
}

// ExporterStatus is what the exporter reported and what the service made of it.
type ExporterStatus struct {
	// Conditions: Registered (has reported its devices) and Online (heartbeat fresh).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Credential is the Secret that holds the exporter's token.
	// +optional
	Credential *corev1.LocalObjectReference `json:"credential,omitempty"`
	// +optional
	Devices []Device `json:"devices,omitempty"`
	// LeaseRef is the lease that holds the exporter now.
	// +optional
	LeaseRef *corev1.LocalObjectReference `json:"leaseRef,omitempty"`
	// LastSeen is the exporter's last heartbeat.
	// +optional
	LastSeen *metav1.Time `json:"lastSeen,omitempty"`
	// Endpoint is the controller address the exporter connects to.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
	// ExporterStatusValue is the lifecycle state the exporter last reported.
	// +kubebuilder:validation:Enum=Unspecified;Offline;Available;BeforeLeaseHook;LeaseReady;AfterLeaseHook;BeforeLeaseHookFailed;AfterLeaseHookFailed
	// +optional
	ExporterStatusValue string `json:"exporterStatus,omitempty"`
	// StatusMessage is the human-readable text that came with the state.
	// +optional
	StatusMessage string `json:"statusMessage,omitempty"`
	// NodeName is the exporter's virtual node.
	// +optional
	NodeName string `json:"nodeName,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=jexp;jexporter,categories=jumpstarter
// +kubebuilder:printcolumn:name="Online",type=string,JSONPath=".status.conditions[?(@.type==\"Online\")].status"
// +kubebuilder:printcolumn:name="Enabled",type=boolean,JSONPath=".spec.enabled"
// +kubebuilder:printcolumn:name="Leased-By",type=string,JSONPath=".status.leaseRef.name"
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=".status.exporterStatus"
// +kubebuilder:printcolumn:name="Labels",type=string,JSONPath=".metadata.labels"
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=".status.nodeName",priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=".metadata.creationTimestamp"

// Exporter is a host next to devices under test. It is scheduled as a virtual node.
type Exporter struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ExporterSpec   `json:"spec,omitempty"`
	Status ExporterStatus `json:"status,omitempty"`
}

// IsEnabled reports spec.enabled, which defaults to true.
func (e *Exporter) IsEnabled() bool {
	return e.Spec.Enabled == nil || *e.Spec.Enabled
}

// +kubebuilder:object:root=true

// ExporterList is a list of Exporters.
type ExporterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Exporter `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Exporter{}, &ExporterList{})
}
