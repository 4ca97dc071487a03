package leaseapi

import (
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
	"jumpstarter.dev/service/pkg/virtualnode"
)

// ToLease is the ClientService view of a lease (wire contract §2.5, §3.6) at time now:
//   - name and client are always set, as resource names; exporter once one is granted;
//   - selector is rendered canonically ("<none>" when empty);
//   - duration, begin_time and end_time echo what was requested;
//   - effective_begin_time is the grant; effective_end_time and effective_duration (up to
//     now while active) exist only for a lease that started;
//   - conditions keep their order, which is the order they first happened.
func ToLease(lease *jumpstarterv1alpha1.Lease, now time.Time) *clientv1.Lease {
	out := &clientv1.Lease{
		Name:          FormatLeaseName(lease.Namespace, lease.Name),
		Selector:      FormatSelector(&lease.Spec.Selector),
		Client:        ptr.To(FormatClientName(lease.Namespace, lease.Spec.ClientRef.Name)),
		Conditions:    Conditions(lease.Status.Conditions),
		Tags:          cloneMap(lease.Spec.Tags),
		AllowDisabled: lease.Spec.AllowDisabled,
		Context:       cloneMap(lease.Spec.Context),
	}
	if lease.Spec.Duration != nil {
		out.Duration = durationpb.New(lease.Spec.Duration.Duration)
	}
	if lease.Spec.BeginTime != nil {
		out.BeginTime = timestamppb.New(lease.Spec.BeginTime.Time)
	}
	if lease.Spec.EndTime != nil {
		out.EndTime = timestamppb.New(lease.Spec.EndTime.Time)
	}
	if lease.Spec.ExporterRef != nil {
		out.ExporterName = ptr.To(lease.Spec.ExporterRef.Name)
	}
	if lease.Status.ExporterRef != nil {
		out.Exporter = ptr.To(FormatExporterName(lease.Namespace, lease.Status.ExporterRef.Name))
	}
	if begin := lease.Status.BeginTime; begin != nil {
		out.EffectiveBeginTime = timestamppb.New(begin.Time)
		end := now
		if lease.Status.EndTime != nil {
			end = lease.Status.EndTime.Time
			out.EffectiveEndTime = timestamppb.New(end)
		}
		out.EffectiveDuration = durationpb.New(max(end.Sub(begin.Time), 0))
	}
	return out
}

// ToGetLeaseResponse is the legacy ControllerService view of a lease: the structured selector,
// the actual begin and end, and the uid of the granted exporter (exporterUID; "" leaves
// exporter_uuid unset).
func ToGetLeaseResponse(lease *jumpstarterv1alpha1.Lease, exporterUID string) *jumpstarterv1.GetLeaseResponse {
	out := &jumpstarterv1.GetLeaseResponse{
		Selector:   SelectorToProto(&lease.Spec.Selector),
		Conditions: Conditions(lease.Status.Conditions),
	}
	if lease.Spec.Duration != nil {
		out.Duration = durationpb.New(lease.Spec.Duration.Duration)
	}
	if lease.Status.BeginTime != nil {
		out.BeginTime = timestamppb.New(lease.Status.BeginTime.Time)
	}
	if lease.Status.EndTime != nil {
		out.EndTime = timestamppb.New(lease.Status.EndTime.Time)
	}
	if lease.Status.ExporterRef != nil && exporterUID != "" {
		out.ExporterUuid = ptr.To(exporterUID)
	}
	return out
}

// ToExporter is the ClientService view of an exporter at time now: its labels, online as the
// rest of the service judges it (virtualnode.IsOnline), its reported status, and enabled.
func ToExporter(exporter *jumpstarterv1alpha1.Exporter, now time.Time) *clientv1.Exporter {
	return &clientv1.Exporter{
		Name:          FormatExporterName(exporter.Namespace, exporter.Name),
		Labels:        cloneMap(exporter.Labels),
		Online:        virtualnode.IsOnline(exporter, now),
		Status:        ExporterStatus(exporter.Status.ExporterStatusValue),
		StatusMessage: exporter.Status.StatusMessage,
		Enabled:       ptr.To(exporter.IsEnabled()),
	}
}

var exporterStatuses = map[string]jumpstarterv1.ExporterStatus{
	jumpstarterv1alpha1.ExporterStatusUnspecified:           jumpstarterv1.ExporterStatus_EXPORTER_STATUS_UNSPECIFIED,
	jumpstarterv1alpha1.ExporterStatusOffline:               jumpstarterv1.ExporterStatus_EXPORTER_STATUS_OFFLINE,
	jumpstarterv1alpha1.ExporterStatusAvailable:             jumpstarterv1.ExporterStatus_EXPORTER_STATUS_AVAILABLE,
	jumpstarterv1alpha1.ExporterStatusBeforeLeaseHook:       jumpstarterv1.ExporterStatus_EXPORTER_STATUS_BEFORE_LEASE_HOOK,
	jumpstarterv1alpha1.ExporterStatusLeaseReady:            jumpstarterv1.ExporterStatus_EXPORTER_STATUS_LEASE_READY,
	jumpstarterv1alpha1.ExporterStatusAfterLeaseHook:        jumpstarterv1.ExporterStatus_EXPORTER_STATUS_AFTER_LEASE_HOOK,
	jumpstarterv1alpha1.ExporterStatusBeforeLeaseHookFailed: jumpstarterv1.ExporterStatus_EXPORTER_STATUS_BEFORE_LEASE_HOOK_FAILED,
	jumpstarterv1alpha1.ExporterStatusAfterLeaseHookFailed:  jumpstarterv1.ExporterStatus_EXPORTER_STATUS_AFTER_LEASE_HOOK_FAILED,
}

// ExporterStatus is the protocol enum of an Exporter's status.exporterStatus value; unknown
// and empty values are UNSPECIFIED.
func ExporterStatus(value string) jumpstarterv1.ExporterStatus {
	return exporterStatuses[value]
}

// Conditions converts conditions in their order; every field is set.
func Conditions(conditions []metav1.Condition) []*jumpstarterv1.Condition {
	if len(conditions) == 0 {
		return nil
	}
	out := make([]*jumpstarterv1.Condition, 0, len(conditions))
	for _, c := range conditions {
		ts := c.LastTransitionTime.ProtoTime()
		out = append(out, &jumpstarterv1.Condition{
			Type:               ptr.To(c.Type),
			Status:             ptr.To(string(c.Status)),
			ObservedGeneration: ptr.To(c.ObservedGeneration),
			LastTransitionTime: &jumpstarterv1.Time{Seconds: ptr.To(ts.Seconds), Nanos: ptr.To(ts.Nanos)},
			Reason:             ptr.To(c.Reason),
			Message:            ptr.To(c.Message),
		})
	}
	return out
}

// SelectorToProto converts a structured selector to its protocol form.
func SelectorToProto(sel *metav1.LabelSelector) *jumpstarterv1.LabelSelector {
	out := &jumpstarterv1.LabelSelector{MatchLabels: cloneMap(sel.MatchLabels)}
	for _, e := range sel.MatchExpressions {
		out.MatchExpressions = append(out.MatchExpressions, &jumpstarterv1.LabelSelectorRequirement{
			Key: e.Key, Operator: string(e.Operator), Values: slices.Clone(e.Values),
		})
	}
	return out
}

// SelectorFromProto converts a protocol selector (nil: empty) to the structured form, as is;
// ValidateLabelSelector checks it.
func SelectorFromProto(sel *jumpstarterv1.LabelSelector) *metav1.LabelSelector {
	out := &metav1.LabelSelector{}
	if sel == nil {
		return out
	}
	if len(sel.MatchLabels) > 0 {
		out.MatchLabels = maps.Clone(sel.MatchLabels)
	}
	for _, e := range sel.MatchExpressions {
		out.MatchExpressions = append(out.MatchExpressions, metav1.LabelSelectorRequirement{
			Key: e.GetKey(), Operator: metav1.LabelSelectorOperator(e.GetOperator()), Values: slices.Clone(e.GetValues()),
		})
	}
	return out
}
