package controllersvc

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

func wantStatus(t *testing.T, err error, code codes.Code, msg string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code || !strings.Contains(st.Message(), msg) {
		t.Fatalf("error = %v, want %s containing %q", err, code, msg)
	}
}

func TestRegister(t *testing.T) {
	reports := []*jumpstarterv1.DriverInstanceReport{
		{Uuid: "root", Labels: map[string]string{"jumpstarter.dev/client": "jumpstarter_driver_composite.client.CompositeClient"}},
		{Uuid: "power", ParentUuid: ptr.To("root"), Labels: map[string]string{"jumpstarter.dev/name": "power"}, Description: ptr.To("power switch")},
	}
	tests := []struct {
		name     string
		caller   func(context.Context, string) context.Context
		exporter string
		req      *jumpstarterv1.RegisterRequest
		code     codes.Code
		msg      string
	}{
		{name: "labels and devices", caller: asExporter, exporter: "e1",
			req: &jumpstarterv1.RegisterRequest{Labels: map[string]string{"jumpstarter.dev/name": "e1", "board": "hacked"}, Reports: reports}},
		{name: "no reports", caller: asExporter, exporter: "e1",
			req: &jumpstarterv1.RegisterRequest{Labels: map[string]string{"jumpstarter.dev/name": "e1"}}},
		{name: "client caller", caller: asClient, exporter: "e1", req: &jumpstarterv1.RegisterRequest{},
			code: codes.InvalidArgument, msg: "object kind mismatch"},
		{name: "unknown exporter", caller: asExporter, exporter: "ghost", req: &jumpstarterv1.RegisterRequest{},
			code: codes.NotFound, msg: "exporter lab/ghost not found"},
		{name: "reserved label", caller: asExporter, exporter: "e1",
			req:  &jumpstarterv1.RegisterRequest{Labels: map[string]string{jumpstarterv1alpha1.LabelLeaseName: "x"}},
			code: codes.InvalidArgument, msg: `labels["jumpstarter.dev/lease"]: reserved`},
		{name: "bad label value", caller: asExporter, exporter: "e1",
			req:  &jumpstarterv1.RegisterRequest{Labels: map[string]string{"jumpstarter.dev/name": "not valid!"}},
			code: codes.InvalidArgument, msg: `labels["jumpstarter.dev/name"]: invalid value`},
		{name: "report without uuid", caller: asExporter, exporter: "e1",
			req:  &jumpstarterv1.RegisterRequest{Reports: []*jumpstarterv1.DriverInstanceReport{{Uuid: "a"}, {}}},
			code: codes.InvalidArgument, msg: "reports[1].uuid is required"},
		{name: "duplicate uuid", caller: asExporter, exporter: "e1",
			req:  &jumpstarterv1.RegisterRequest{Reports: []*jumpstarterv1.DriverInstanceReport{{Uuid: "a"}, {Uuid: "a"}}},
			code: codes.InvalidArgument, msg: `reports[1].uuid "a" is not unique`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exporter := newExporter("e1", func(e *jumpstarterv1alpha1.Exporter) {
				e.Labels["jumpstarter.dev/old"] = "gone"
				e.Labels[jumpstarterv1alpha1.LabelCredential] = "kept"
				e.Status.Devices = []jumpstarterv1alpha1.Device{{Uuid: "stale"}}
				e.Status.NodeName = "node-e1"
			})
			env := newEnv(t, []client.Object{exporter})
			resp, err := env.ctl.Register(tt.caller(context.Background(), tt.exporter), tt.req)
			if tt.code != codes.OK {
				wantStatus(t, err, tt.code, tt.msg)
				if got := env.exporter("e1"); len(got.Status.Devices) != 1 || got.Labels["jumpstarter.dev/old"] != "gone" {
					t.Errorf("a refused Register changed the exporter: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := env.exporter("e1")
			if resp.GetUuid() != "uid-e1" {
				t.Errorf("uuid = %q, want the object UID", resp.GetUuid())
			}
			wantLabels := map[string]string{"board": "rpi4", "jumpstarter.dev/name": "e1", jumpstarterv1alpha1.LabelCredential: "kept"}
			if !equalMaps(got.Labels, wantLabels) {
				t.Errorf("labels = %v, want %v", got.Labels, wantLabels)
			}
			if len(got.Status.Devices) != len(tt.req.Reports) {
				t.Fatalf("devices = %+v, want %d", got.Status.Devices, len(tt.req.Reports))
			}
			for i, r := range tt.req.Reports {
				d := got.Status.Devices[i]
				if d.Uuid != r.Uuid || ptr.Deref(d.ParentUuid, "") != r.GetParentUuid() || !equalMaps(d.Labels, r.Labels) {
					t.Errorf("device %d = %+v, want %v", i, d, r)
				}
			}
			if !meta.IsStatusConditionTrue(got.Status.Conditions, jumpstarterv1alpha1.ExporterConditionRegistered) {
				t.Errorf("conditions = %+v, want Registered=True", got.Status.Conditions)
			}
			if got.Status.NodeName != "node-e1" {
				t.Errorf("nodeName = %q: Register overwrote another writer's field", got.Status.NodeName)
			}
		})
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func TestUnregister(t *testing.T) {
	exporter := newExporter("e1", withStatus(jumpstarterv1alpha1.ExporterStatusAvailable), func(e *jumpstarterv1alpha1.Exporter) {
		e.Status.Devices = []jumpstarterv1alpha1.Device{{Uuid: "root"}}
		e.Status.Conditions = []metav1.Condition{{Type: jumpstarterv1alpha1.ExporterConditionRegistered, Status: metav1.ConditionTrue, Reason: ReasonRegistered, LastTransitionTime: metav1.Now()}}
	})
	env := newEnv(t, []client.Object{exporter})
	if _, err := env.ctl.Unregister(asExporter(context.Background(), "e1"), &jumpstarterv1.UnregisterRequest{Reason: "Exporter shutdown"}); err != nil {
		t.Fatal(err)
	}
	got := env.exporter("e1")
	if got.Status.ExporterStatusValue != jumpstarterv1alpha1.ExporterStatusOffline || got.Status.StatusMessage != "Exporter shutdown" {
		t.Errorf("status = %q %q, want Offline with the reason", got.Status.ExporterStatusValue, got.Status.StatusMessage)
	}
	if got.Status.Devices != nil {
		t.Errorf("devices = %+v, want none", got.Status.Devices)
	}
	if c := meta.FindStatusCondition(got.Status.Conditions, jumpstarterv1alpha1.ExporterConditionRegistered); c == nil || c.Status != metav1.ConditionFalse {
		t.Errorf("Registered = %+v, want False", c)
	}
}

func TestReportStatus(t *testing.T) {
	tests := []struct {
		name        string
		req         *jumpstarterv1.ReportStatusRequest
		lease       bool
		wantStatus  string
		wantMessage string
		wantRelease bool
		code        codes.Code
		msg         string
	}{
		{name: "available", req: &jumpstarterv1.ReportStatusRequest{Status: jumpstarterv1.ExporterStatus_EXPORTER_STATUS_AVAILABLE, Message: ptr.To("Exporter registered and available")},
			wantStatus: jumpstarterv1alpha1.ExporterStatusAvailable, wantMessage: "Exporter registered and available"},
		{name: "lease ready without message", req: &jumpstarterv1.ReportStatusRequest{Status: jumpstarterv1.ExporterStatus_EXPORTER_STATUS_LEASE_READY},
			wantStatus: jumpstarterv1alpha1.ExporterStatusLeaseReady},
		{name: "hook failed", req: &jumpstarterv1.ReportStatusRequest{Status: jumpstarterv1.ExporterStatus_EXPORTER_STATUS_BEFORE_LEASE_HOOK_FAILED, Message: ptr.To("exit 1")},
			wantStatus: jumpstarterv1alpha1.ExporterStatusBeforeLeaseHookFailed, wantMessage: "exit 1"},
		{name: "release the current lease", lease: true,
			req:        &jumpstarterv1.ReportStatusRequest{Status: jumpstarterv1.ExporterStatus_EXPORTER_STATUS_AFTER_LEASE_HOOK, ReleaseLease: ptr.To(true)},
			wantStatus: jumpstarterv1alpha1.ExporterStatusAfterLeaseHook, wantRelease: true},
		{name: "release without a lease", req: &jumpstarterv1.ReportStatusRequest{Status: jumpstarterv1.ExporterStatus_EXPORTER_STATUS_AVAILABLE, ReleaseLease: ptr.To(true)},
			wantStatus: jumpstarterv1alpha1.ExporterStatusAvailable},
		{name: "lease kept without release", lease: true, req: &jumpstarterv1.ReportStatusRequest{Status: jumpstarterv1.ExporterStatus_EXPORTER_STATUS_AFTER_LEASE_HOOK},
			wantStatus: jumpstarterv1alpha1.ExporterStatusAfterLeaseHook},
		{name: "unknown status", req: &jumpstarterv1.ReportStatusRequest{Status: 42},
			code: codes.InvalidArgument, msg: "status: unknown exporter status 42"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := []client.Object{newExporter("e1", withStatus(jumpstarterv1alpha1.ExporterStatusOffline), func(e *jumpstarterv1alpha1.Exporter) {
				e.Status.StatusMessage = "old"
				e.Status.LastSeen = &metav1.Time{Time: time.Now().Add(-time.Hour)}
			})}
			if tt.lease {
				objs = append(objs, newLease("l1", "alice", granted("e1")))
			}
			env := newEnv(t, objs)
			before := time.Now().Add(-time.Second)
			_, err := env.ctl.ReportStatus(asExporter(context.Background(), "e1"), tt.req)
			if tt.code != codes.OK {
				wantStatus(t, err, tt.code, tt.msg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := env.exporter("e1")
			if got.Status.ExporterStatusValue != tt.wantStatus || got.Status.StatusMessage != tt.wantMessage {
				t.Errorf("status = %q %q, want %q %q", got.Status.ExporterStatusValue, got.Status.StatusMessage, tt.wantStatus, tt.wantMessage)
			}
			if got.Status.LastSeen == nil || got.Status.LastSeen.Time.Before(before) {
				t.Errorf("lastSeen = %v, want refreshed", got.Status.LastSeen)
			}
			if !meta.IsStatusConditionTrue(got.Status.Conditions, jumpstarterv1alpha1.ExporterConditionOnline) {
				t.Errorf("conditions = %+v, want Online=True", got.Status.Conditions)
			}
			if tt.lease {
				if release := env.lease("l1").Spec.Release; release != tt.wantRelease {
					t.Errorf("lease spec.release = %v, want %v", release, tt.wantRelease)
				}
			}
		})
	}
}

func TestGetServiceEndpointsIsEmpty(t *testing.T) {
	env := newEnv(t, []client.Object{newExporter("e1")})
	resp, err := env.ctl.GetServiceEndpoints(asExporter(context.Background(), "e1"), &jumpstarterv1.GetServiceEndpointsRequest{})
	if err != nil || len(resp.GetTelemetryEndpoints()) != 0 {
		t.Fatalf("GetServiceEndpoints = %v, %v; want an empty list", resp, err)
	}
}
