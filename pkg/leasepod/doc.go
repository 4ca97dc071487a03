// Package leasepod holds back a pod that asks for a lease, such as a Tekton TaskRun's step
// pod in CI, until the lease is granted, then lets it run with the lease.
//
// The pod asks with annotations (apis/v1alpha1: jumpstarter.dev/lease-selector or
// lease-exporter, lease-duration, lease-client) and is held back by the scheduling gate
// jumpstarter.dev/lease; config's MutatingAdmissionPolicy adds that gate, and the label that
// lets this controller see the pod, to every new pod with those annotations. The reconciler
// creates a Lease named after the pod and controlled by it, so that it goes with the pod. Once
// the lease is granted, one update writes the lease's name into the pod's annotation
// jumpstarter.dev/lease-name (a container reads it through the downward API as JMP_LEASE) and
// lifts the gate. When the pod finishes or is deleted, the lease is released.
//
// The lease is the pod's service account's: its Client is the one whose spec.username is
// system:serviceaccount:<namespace>:<name>, the identity the pod's token authenticates as
// with the controller's API, so a pod cannot lease in another client's name. The pod's
// condition jumpstarter.dev/Lease and its events say where the lease stands. A pod that can
// have no lease (a bad annotation, no client for its service account, a lease that ended
// before its grant, such as NoAccess) is failed at once, phase Failed with the reason, so that
// the CI run fails with it rather than at its own timeout.
package leasepod
