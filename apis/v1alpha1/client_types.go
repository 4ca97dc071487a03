package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ClientSpec is what an admin sets on a client.
type ClientSpec struct {
	// Username is an external identity (OIDC user, or system:serviceaccount:<ns>:<name>)
	// allowed to act as this client.
	// +optional
	Username *string `json:"username,omitempty"`
}

// ClientStatus holds the client's credential.
type ClientStatus struct {
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Credential is the Secret that holds the client's token.
	// +optional
	Credential *corev1.LocalObjectReference `json:"credential,omitempty"`
	// Endpoint is the controller address the client connects to.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
	// TokenExpiresAt is when the internal token expires.
	// +optional
	TokenExpiresAt *metav1.Time `json:"tokenExpiresAt,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=jcl;jclient,categories=jumpstarter
// +kubebuilder:printcolumn:name="Username",type=string,JSONPath=".spec.username"
// +kubebuilder:printcolumn:name="Token-Expires",type=string,JSONPath=".status.tokenExpiresAt"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=".metadata.creationTimestamp"

// Client is a person or a CI job that leases exporters.
type Client struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ClientSpec   `json:"spec,omitempty"`
	Status ClientStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ClientList is a list of Clients.
type ClientList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Client `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Client{}, &ClientList{})
}
