package controllersvc

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/auth/identity"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// MaxDriverInstances bounds the driver tree of one Register: the reports are stored in the
// Exporter's status, and an object must stay well under the API server's size limit.
const MaxDriverInstances = 1000

// Condition reasons of the Exporter conditions this package sets.
const (
	ReasonRegistered   = "Registered"
	ReasonUnregistered = "Unregistered"
	ReasonConnected    = "Connected"
)

// reservedLabels are jumpstarter.dev/ labels the service sets on its own objects; an exporter
// may not claim them for itself.
var reservedLabels = map[string]bool{
	jumpstarterv1alpha1.LabelExporterNamespace: true,
	jumpstarterv1alpha1.LabelExporterName:      true,
	jumpstarterv1alpha1.LabelLeaseName:         true,
	jumpstarterv1alpha1.LabelLeaseEnded:        true,
	jumpstarterv1alpha1.LabelCredential:        true,
	jumpstarterv1alpha1.LabelCredentialKind:    true,
}

// statusValues maps the wire enum to the PascalCase values of status.exporterStatus.
var statusValues = map[jumpstarterv1.ExporterStatus]string{
	jumpstarterv1.ExporterStatus_EXPORTER_STATUS_UNSPECIFIED:              jumpstarterv1alpha1.ExporterStatusUnspecified,
	jumpstarterv1.ExporterStatus_EXPORTER_STATUS_OFFLINE:                  jumpstarterv1alpha1.ExporterStatusOffline,
	jumpstarterv1.ExporterStatus_EXPORTER_STATUS_AVAILABLE:                jumpstarterv1alpha1.ExporterStatusAvailable,
	jumpstarterv1.ExporterStatus_EXPORTER_STATUS_BEFORE_LEASE_HOOK:        jumpstarterv1alpha1.ExporterStatusBeforeLeaseHook,
	jumpstarterv1.ExporterStatus_EXPORTER_STATUS_LEASE_READY:              jumpstarterv1alpha1.ExporterStatusLeaseReady,
	jumpstarterv1.ExporterStatus_EXPORTER_STATUS_AFTER_LEASE_HOOK:         jumpstarterv1alpha1.ExporterStatusAfterLeaseHook,
	jumpstarterv1.ExporterStatus_EXPORTER_STATUS_BEFORE_LEASE_HOOK_FAILED: jumpstarterv1alpha1.ExporterStatusBeforeLeaseHookFailed,
	jumpstarterv1.ExporterStatus_EXPORTER_STATUS_AFTER_LEASE_HOOK_FAILED:  jumpstarterv1alpha1.ExporterStatusAfterLeaseHookFailed,
}

// Register records the exporter's driver tree and its jumpstarter.dev/* labels, and marks it
// Registered. Labels without that prefix are the admin's and are neither taken from the
// request nor removed.
func (s *Server) Register(ctx context.Context, req *jumpstarterv1.RegisterRequest) (*jumpstarterv1.RegisterResponse, error) {
	id, err := caller(ctx, identity.KindExporter)
	if err != nil {
		return nil, err
	}
	labels, err := reportedLabels(req.GetLabels())
	if err != nil {
		return nil, err
	}
	devices, err := reportedDevices(req.GetReports())
	if err != nil {
		return nil, err
	}
	key := objectKey(id)
	exporter := &jumpstarterv1alpha1.Exporter{}
	if err := s.client.Get(ctx, key, exporter); err != nil {
		return nil, exporterError(key, fmt.Errorf("get exporter %s: %w", key, err))
	}
	if base := exporter.DeepCopy(); replaceReportedLabels(exporter, labels) {
		// Without a resourceVersion: the patch names only the jumpstarter.dev/* keys it sets
		// or removes, so it cannot undo an admin's concurrent label change.
		if err := s.client.Patch(ctx, exporter, client.MergeFrom(base)); err != nil {
			return nil, exporterError(key, fmt.Errorf("update labels of exporter %s: %w", key, err))
		}
	}
	now := s.clock.Now()
	exporter, err = s.patchExporterStatus(ctx, key, func(e *jumpstarterv1alpha1.Exporter) {
		e.Status.Devices = devices
		setCondition(e, jumpstarterv1alpha1.ExporterConditionRegistered, metav1.ConditionTrue, ReasonRegistered,
			fmt.Sprintf("%d driver instances reported", len(devices)), now)
	})
	if err != nil {
		return nil, exporterError(key, err)
	}
	klog.FromContext(ctx).Info("Exporter registered", "exporter", key, "devices", len(devices), "labels", labels)
	return &jumpstarterv1.RegisterResponse{Uuid: string(exporter.UID)}, nil
}

// Unregister marks the exporter Offline with the reason, forgets its devices and clears
// Registered, so that nothing new is scheduled on it.
func (s *Server) Unregister(ctx context.Context, req *jumpstarterv1.UnregisterRequest) (*jumpstarterv1.UnregisterResponse, error) {
	id, err := caller(ctx, identity.KindExporter)
	if err != nil {
		return nil, err
	}
	reason := req.GetReason()
	if reason == "" {
		reason = "exporter unregistered"
	}
	key := objectKey(id)
	now := s.clock.Now()
	if _, err := s.patchExporterStatus(ctx, key, func(e *jumpstarterv1alpha1.Exporter) {
		e.Status.ExporterStatusValue = jumpstarterv1alpha1.ExporterStatusOffline
		e.Status.StatusMessage = reason
		e.Status.Devices = nil
		setCondition(e, jumpstarterv1alpha1.ExporterConditionRegistered, metav1.ConditionFalse, ReasonUnregistered, reason, now)
	}); err != nil {
		return nil, exporterError(key, err)
	}
	klog.FromContext(ctx).Info("Exporter unregistered", "exporter", key, "reason", reason)
	return &jumpstarterv1.UnregisterResponse{}, nil
}

// ReportStatus records the exporter's lifecycle state and counts as a heartbeat. With
// release_lease it also ends the exporter's current lease (the deprecated path Python falls
// back to when ReleaseLease is refused).
func (s *Server) ReportStatus(ctx context.Context, req *jumpstarterv1.ReportStatusRequest) (*jumpstarterv1.ReportStatusResponse, error) {
	id, err := caller(ctx, identity.KindExporter)
	if err != nil {
		return nil, err
	}
	value, ok := statusValues[req.GetStatus()]
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "status: unknown exporter status %d", req.GetStatus())
	}
	key := objectKey(id)
	now := s.clock.Now()
	if _, err := s.patchExporterStatus(ctx, key, func(e *jumpstarterv1alpha1.Exporter) {
		e.Status.ExporterStatusValue = value
		e.Status.StatusMessage = req.GetMessage()
		markSeen(e, now)
	}); err != nil {
		return nil, exporterError(key, err)
	}
	logger := klog.FromContext(ctx)
	logger.V(2).Info("Exporter status", "exporter", key, "status", value, "message", req.GetMessage())
	if req.GetReleaseLease() {
		if err := s.releaseCurrentLease(ctx, key); err != nil {
			return nil, err
		}
	}
	return &jumpstarterv1.ReportStatusResponse{}, nil
}

// releaseCurrentLease asks the lease controller to end the exporter's active lease, if any.
func (s *Server) releaseCurrentLease(ctx context.Context, key types.NamespacedName) error {
	lease, err := s.activeLease(ctx, key.Namespace, key.Name)
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	if lease == nil || lease.Spec.Release {
		return nil
	}
	patch := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"release":true}}`))
	if err := s.client.Patch(ctx, lease, patch); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return status.Errorf(codes.Internal, "release lease %s: %v", lease.Name, err)
	}
	klog.FromContext(ctx).Info("Lease released by its exporter", "lease", klog.KObj(lease), "exporter", key)
	return nil
}

// heartbeat records that the exporter is connected: lastSeen now and Online=True. A stored
// Offline status is cleared when the exporter reconnects (so that exporters that never call
// ReportStatus recover, §3.8), and when the heartbeat had been declared lost: the stream is
// evidently alive. An Offline the exporter reported itself stays while Online is True.
func (s *Server) heartbeat(ctx context.Context, key types.NamespacedName, reconnect bool) error {
	now := s.clock.Now()
	_, err := s.patchExporterStatus(ctx, key, func(e *jumpstarterv1alpha1.Exporter) {
		wasOnline := meta.IsStatusConditionTrue(e.Status.Conditions, jumpstarterv1alpha1.ExporterConditionOnline)
		markSeen(e, now)
		if (reconnect || !wasOnline) && e.Status.ExporterStatusValue == jumpstarterv1alpha1.ExporterStatusOffline {
			e.Status.ExporterStatusValue = jumpstarterv1alpha1.ExporterStatusUnspecified
			e.Status.StatusMessage = ""
		}
	})
	return err
}

// markSeen sets lastSeen to now and Online=True. lastSeen has the second precision of its
// serialisation, so that two heartbeats within a second write once.
func markSeen(e *jumpstarterv1alpha1.Exporter, now time.Time) {
	seen := metav1.NewTime(now.Truncate(time.Second))
	e.Status.LastSeen = &seen
	setCondition(e, jumpstarterv1alpha1.ExporterConditionOnline, metav1.ConditionTrue, ReasonConnected, "the exporter is connected", now)
}

func setCondition(e *jumpstarterv1alpha1.Exporter, condType string, st metav1.ConditionStatus, reason, message string, now time.Time) {
	meta.SetStatusCondition(&e.Status.Conditions, metav1.Condition{
		Type:               condType,
		Status:             st,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: e.Generation,
		LastTransitionTime: metav1.NewTime(now),
	})
}

// patchExporterStatus applies mutate to the exporter's status and writes what changed as a
// merge patch. A patch that changes the conditions carries the resourceVersion: a merge patch
// replaces the whole list, and must not undo a condition written meanwhile (the virtual node
// reconciler's Online=False). Other fields are this package's own and need no lock. On a
// conflict the exporter is reread around the cache, which is known to be behind.
func (s *Server) patchExporterStatus(ctx context.Context, key types.NamespacedName, mutate func(*jumpstarterv1alpha1.Exporter)) (*jumpstarterv1alpha1.Exporter, error) {
	var reader client.Reader = s.client
	exporter := &jumpstarterv1alpha1.Exporter{}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		exporter = &jumpstarterv1alpha1.Exporter{}
		if err := reader.Get(ctx, key, exporter); err != nil {
			return err
		}
		reader = s.apiReader
		base := exporter.DeepCopy()
		mutate(exporter)
		if equality.Semantic.DeepEqual(base.Status, exporter.Status) {
			return nil
		}
		patch := client.MergeFrom(base)
		if !equality.Semantic.DeepEqual(base.Status.Conditions, exporter.Status.Conditions) {
			patch = client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})
		}
		return s.client.Status().Patch(ctx, exporter, patch)
	})
	if err != nil {
		return nil, fmt.Errorf("update status of exporter %s: %w", key, err)
	}
	return exporter, nil
}

// exporterError turns a failed read or write of the calling exporter into a gRPC status.
func exporterError(key types.NamespacedName, err error) error {
	if apierrors.IsNotFound(err) {
		return status.Errorf(codes.NotFound, "exporter %s not found", key)
	}
	return status.Error(codes.Internal, err.Error())
}

// reportedLabels are the jumpstarter.dev/* labels of a RegisterRequest, checked.
func reportedLabels(in map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range in {
		if !strings.HasPrefix(k, jumpstarterv1alpha1.LabelPrefix) {
			continue
		}
		if reservedLabels[k] {
			return nil, status.Errorf(codes.InvalidArgument, "labels[%q]: reserved for the service", k)
		}
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return nil, status.Errorf(codes.InvalidArgument, "labels[%q]: invalid key: %s", k, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return nil, status.Errorf(codes.InvalidArgument, "labels[%q]: invalid value %q: %s", k, v, strings.Join(errs, "; "))
		}
		out[k] = v
	}
	return out, nil
}

// replaceReportedLabels makes the exporter's jumpstarter.dev/* labels exactly reported and
// says whether anything changed.
func replaceReportedLabels(e *jumpstarterv1alpha1.Exporter, reported map[string]string) bool {
	labels := maps.Clone(e.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	for k := range labels {
		if strings.HasPrefix(k, jumpstarterv1alpha1.LabelPrefix) && !reservedLabels[k] {
			delete(labels, k)
		}
	}
	maps.Copy(labels, reported)
	if maps.Equal(labels, e.Labels) || (len(labels) == 0 && len(e.Labels) == 0) {
		return false
	}
	e.Labels = labels
	return true
}

// reportedDevices converts and checks the driver tree of a RegisterRequest.
func reportedDevices(reports []*jumpstarterv1.DriverInstanceReport) ([]jumpstarterv1alpha1.Device, error) {
	if len(reports) > MaxDriverInstances {
		return nil, status.Errorf(codes.InvalidArgument, "reports: %d driver instances, at most %d", len(reports), MaxDriverInstances)
	}
	devices := make([]jumpstarterv1alpha1.Device, 0, len(reports))
	seen := make(map[string]bool, len(reports))
	for i, r := range reports {
		if r.GetUuid() == "" {
			return nil, status.Errorf(codes.InvalidArgument, "reports[%d].uuid is required", i)
		}
		if seen[r.GetUuid()] {
			return nil, status.Errorf(codes.InvalidArgument, "reports[%d].uuid %q is not unique", i, r.GetUuid())
		}
		seen[r.GetUuid()] = true
		d := jumpstarterv1alpha1.Device{Uuid: r.GetUuid(), Labels: maps.Clone(r.GetLabels())}
		if r.ParentUuid != nil {
			parent := r.GetParentUuid()
			d.ParentUuid = &parent
		}
		devices = append(devices, d)
	}
	if len(devices) == 0 {
		return nil, nil
	}
	return devices, nil
}
