package leaseapi

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// MsgSelectorOrExporterRequired is the error text of a CreateLease without a target (wire
// contract §3.6).
const MsgSelectorOrExporterRequired = "one of selector or exporter_name is required"

// NewLease builds the Lease a CreateLease request asks for: named name in namespace, held by
// the client named client. Everything is checked before anything is written: the selector
// (parsed and stored structurally), exporter_name ("" counts as unset), tags (at most maxTags,
// 0 meaning DefaultMaxTags), context and times (§3.6). The lease gets the labels it is listed by.
func NewLease(namespace, name, client string, in *clientv1.Lease, maxTags int) (*jumpstarterv1alpha1.Lease, error) {
	if in == nil {
		return nil, invalidArgument("lease", "required")
	}
	exporterName := in.GetExporterName()
	if in.Selector == "" && exporterName == "" {
		return nil, status.Error(codes.InvalidArgument, MsgSelectorOrExporterRequired)
	}
	sel := &metav1.LabelSelector{}
	if in.Selector != "" {
		var err error
		if sel, err = parseSelectorField("lease.selector", in.Selector); err != nil {
			return nil, err
		}
	}
	var exporterRef *corev1.LocalObjectReference
	if exporterName != "" {
		if err := validateExporterName("lease.exporter_name", exporterName); err != nil {
			return nil, err
		}
		exporterRef = &corev1.LocalObjectReference{Name: exporterName}
	}
	if err := ValidateTags("lease.tags", in.Tags, maxTags); err != nil {
		return nil, err
	}
	if err := ValidateContext("lease.context", in.Context); err != nil {
		return nil, err
	}
	times, err := TimesFromProto("lease.", in.BeginTime, in.EndTime, in.Duration)
	if err != nil {
		return nil, err
	}
	if times, err = ResolveTimes("lease.", times); err != nil {
		return nil, err
	}
	lease := &jumpstarterv1alpha1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: LeaseLabels(sel, in.Tags)},
		Spec: jumpstarterv1alpha1.LeaseSpec{
			ClientRef:     corev1.LocalObjectReference{Name: client},
			Selector:      *sel,
			ExporterRef:   exporterRef,
			Tags:          cloneMap(in.Tags),
			AllowDisabled: in.AllowDisabled,
			Context:       cloneMap(in.Context),
		},
	}
	SetSpecTimes(&lease.Spec, times)
	return lease, nil
}

// validateExporterName: exporters are matched through node labels, so their names are label
// values too.
func validateExporterName(fieldName, name string) error {
	if err := ValidateObjectName(fieldName, name); err != nil {
		return err
	}
	if len(name) > content.LabelValueMaxLength {
		return invalidArgument(fieldName, "%s is longer than %d characters", quote(name), content.LabelValueMaxLength)
	}
	return nil
}

// NewLegacyLease builds the Lease a legacy RequestLease asks for: a structured selector, which
// is required, and a duration, which must be positive.
func NewLegacyLease(namespace, name, client string, req *jumpstarterv1.RequestLeaseRequest) (*jumpstarterv1alpha1.Lease, error) {
	sel := SelectorFromProto(req.GetSelector())
	if IsEmptySelector(sel) {
		return nil, invalidArgument("selector", "required")
	}
	if err := ValidateLabelSelector("selector", sel); err != nil {
		return nil, err
	}
	sel.MatchExpressions = canonicalExpressions(sel.MatchExpressions)
	if req.GetDuration() == nil {
		return nil, invalidArgument("duration", "required")
	}
	times, err := TimesFromProto("", nil, nil, req.GetDuration())
	if err != nil {
		return nil, err
	}
	if times, err = ResolveTimes("", times); err != nil {
		return nil, err
	}
	lease := &jumpstarterv1alpha1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: LeaseLabels(sel, nil)},
		Spec: jumpstarterv1alpha1.LeaseSpec{
			ClientRef: corev1.LocalObjectReference{Name: client},
			Selector:  *sel,
		},
	}
	SetSpecTimes(&lease.Spec, times)
	return lease, nil
}

// CheckOwner lets only the client that holds the lease act on it (§3.6 ownership). what names
// the lease in the message, e.g. `lease "namespaces/lab/leases/l1"`. The text contains
// "permission denied", which clients read as "the lease was transferred".
func CheckOwner(lease *jumpstarterv1alpha1.Lease, client, what string) error {
	if lease.Spec.ClientRef.Name != client {
		return status.Errorf(codes.PermissionDenied, "permission denied: %s is held by another client", what)
	}
	return nil
}

// CheckHolder lets only the exporter granted to the lease release it (§3.6, exporter path).
func CheckHolder(lease *jumpstarterv1alpha1.Lease, exporter, what string) error {
	if lease.Status.ExporterRef == nil || lease.Status.ExporterRef.Name != exporter {
		return status.Errorf(codes.FailedPrecondition, "%s is not held by exporter %q", what, exporter)
	}
	return nil
}

// Release marks the lease for release, as DeleteLease does. A lease already marked fails with
// FAILED_PRECONDITION `lease "<name>" has already been released` (§3.6); name is the name the
// request used.
func Release(lease *jumpstarterv1alpha1.Lease, name string) error {
	if lease.Spec.Release {
		return status.Errorf(codes.FailedPrecondition, "lease %q has already been released", name)
	}
	lease.Spec.Release = true
	return nil
}

// ReleaseIdempotent marks the lease for release unless it has ended or is marked already, as
// the legacy ReleaseLease does. It reports whether it changed the lease.
func ReleaseIdempotent(lease *jumpstarterv1alpha1.Lease) bool {
	if lease.Status.Ended || lease.Spec.Release {
		return false
	}
	lease.Spec.Release = true
	return true
}

// Update is what an UpdateLease request changes.
type Update struct {
	// Times that were sent; nil fields stay as they are.
	Times Times
	// Client is the bare name of the client to transfer the lease to; "" for none.
	Client string
}

// Update paths (update_mask) by what they mean.
var (
	updatablePaths = []string{"begin_time", "duration", "end_time", "client"}
	immutablePaths = []string{"selector", "exporter_name", "tags", "allow_disabled", "context"}
)

// ParseUpdate reads an UpdateLease request for a lease in namespace. The fields that are set
// are changed (the reference's presence rule); an update_mask, if given, restricts the change
// to its paths and must name only updatable fields.
func ParseUpdate(req *clientv1.UpdateLeaseRequest, namespace string) (Update, error) {
	in := req.GetLease()
	if in == nil {
		return Update{}, invalidArgument("lease", "required")
	}
	inMask := func(string) bool { return true }
	if paths := req.GetUpdateMask().GetPaths(); len(paths) > 0 && !slices.Contains(paths, "*") {
		for _, p := range paths {
			switch {
			case slices.Contains(updatablePaths, p):
			case slices.Contains(immutablePaths, p):
				return Update{}, invalidArgument("update_mask", "%s is immutable", quote(p))
			default:
				return Update{}, invalidArgument("update_mask", "%s is not an updatable field (one of %v)", quote(p), updatablePaths)
			}
		}
		inMask = func(p string) bool { return slices.Contains(paths, p) }
	}
	var u Update
	var begin, end = in.BeginTime, in.EndTime
	var duration = in.Duration
	if !inMask("begin_time") {
		begin = nil
	}
	if !inMask("end_time") {
		end = nil
	}
	if !inMask("duration") {
		duration = nil
	}
	var err error
	if u.Times, err = TimesFromProto("lease.", begin, end, duration); err != nil {
		return Update{}, err
	}
	if target := in.GetClient(); target != "" && inMask("client") {
		key, err := ParseClientName("lease.client", target)
		if err != nil {
			return Update{}, err
		}
		if key.Namespace != namespace {
			return Update{}, invalidArgument("lease.client", "cannot transfer a lease to a client in another namespace (%s)", key.Namespace)
		}
		u.Client = key.Name
	}
	return u, nil
}

// changesTimes reports whether the update sends any time.
func (u Update) changesTimes() bool {
	return u.Times.Begin != nil || u.Times.End != nil || u.Times.Duration != nil
}

// Transfers reports whether the update gives the lease to another client.
func (u Update) Transfers(lease *jumpstarterv1alpha1.Lease) bool {
	return u.Client != "" && u.Client != lease.Spec.ClientRef.Name
}

// ApplyUpdate applies u to lease on behalf of the client named caller (§3.6): only the owner
// may update; an ended or released lease cannot change; begin_time changes only before the
// lease starts; only an active lease (an exporter granted, not ended) can be transferred.
func ApplyUpdate(lease *jumpstarterv1alpha1.Lease, caller string, u Update) error {
	name := FormatLeaseName(lease.Namespace, lease.Name)
	if err := CheckOwner(lease, caller, fmt.Sprintf("lease %q", name)); err != nil {
		return err
	}
	transfer := u.Transfers(lease)
	if !transfer && !u.changesTimes() {
		return nil
	}
	switch {
	case lease.Status.Ended:
		return status.Errorf(codes.FailedPrecondition, "lease %q has already ended", name)
	case lease.Spec.Release:
		return status.Errorf(codes.FailedPrecondition, "lease %q has already been released", name)
	}
	if transfer && lease.Status.ExporterRef == nil {
		return status.Errorf(codes.FailedPrecondition, "cannot transfer lease %q: it is not active yet (no exporter granted)", name)
	}
	if u.changesTimes() {
		var started *time.Time
		if lease.Status.BeginTime != nil {
			started = ptrTo(lease.Status.BeginTime.UTC())
		}
		times, err := UpdateTimes("lease.", SpecTimes(&lease.Spec), started, u.Times)
		if err != nil {
			return err
		}
		SetSpecTimes(&lease.Spec, times)
	}
	if transfer {
		lease.Spec.ClientRef.Name = u.Client
	}
	return nil
}

func cloneMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(m)
}
