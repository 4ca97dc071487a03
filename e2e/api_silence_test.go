package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/e2e/support"
	"jumpstarter.dev/service/pkg/leaseapi"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
	"jumpstarter.dev/service/pkg/virtualnode"
)

// Bounds of the silence an exporter is declared offline after (§3.8): lastSeen is refreshed
// every 10 s while the Status stream is open and kept with second precision, so the
// threshold of 60 s passes 49-61 s after the stream closes; the controller then needs a
// moment to notice.
const (
	silentOfflineMin = virtualnode.OnlineTimeout - 15*time.Second
	silentOfflineMax = virtualnode.OnlineTimeout + 20*time.Second
)

func apiExporterSilence() features.Feature {
	return features.New("gRPC API: an exporter goes silent").
		Assess("its Status stream stops: offline within the threshold, node NotReady, no new grant, the active lease kept", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			ns := newNamespace(ctx, t, "apisilent")
			parent := leaseapi.FormatNamespace(ns)
			svc := labConn(t)
			alice := newAPIClient(ctx, t, ns, "alice")
			held := newAgent(t, svc, newAPIExporter(ctx, t, ns, "held", map[string]string{"board": "rpi4", "slot": "a"}))
			idle := newAgent(t, svc, newAPIExporter(ctx, t, ns, "idle", map[string]string{"board": "rpi4", "slot": "b"}))
			for _, a := range []*agent{held, idle} {
				a.register(ctx)
				a.report(ctx, jumpstarterv1.ExporterStatus_EXPORTER_STATUS_AVAILABLE, "Exporter registered and available")
				wantStatusMessage(t, a.openStatus(ctx), "", "", nil)
			}
			for _, name := range []string{"held", "idle"} {
				waitNode(ctx, t, ns, name, func(n *corev1.Node) bool { return nodeReady(n) == corev1.ConditionTrue })
			}
			createLease := func(id, selector string) string {
				t.Helper()
				l, err := svc.Client.CreateLease(ctx, &clientv1.CreateLeaseRequest{Parent: parent, LeaseId: id, Lease: &clientv1.Lease{
					Selector: selector, Duration: durationpb.New(time.Hour),
				}}, alice.Call())
				if err != nil {
					t.Fatalf("CreateLease %s: %v", id, err)
				}
				return l.GetName()
			}
			active := createLease("active", "slot=a")
			acquire(ctx, t, svc, alice, active)
			wantStatusMessage(t, held.nextStatus(), "active", "alice", nil)

			// A Dial while the exporter has not picked the lease up (it still reports
			// Available): the controller waits, then answers the error clients retry on.
			notReady := dialAsync(ctx, svc, alice, "active")

			// Both exporters go silent, as on a crash: no goodbye, the streams just end.
			held.closeStatus()
			idle.closeStatus()
			silentAt := time.Now()

			select {
			case r := <-notReady:
				wantCode(t, "Dial while the exporter reports Available", r.err, codes.FailedPrecondition, "not ready", "exporter is not ready (status: Available)")
				if r.took < 25*time.Second {
					t.Errorf("Dial gave up after %s; the contract waits up to 30 s for the exporter", r.took)
				}
			case <-time.After(45 * time.Second):
				t.Fatal("Dial to an exporter that stays Available did not answer within 45 s")
			}

			// Online turns False within the threshold (not before), and the nodes NotReady.
			for _, name := range []string{"held", "idle"} {
				var e *jumpstarterv1alpha1.Exporter
				for {
					e = getExporter(ctx, t, ns, name)
					if meta.IsStatusConditionFalse(e.Status.Conditions, jumpstarterv1alpha1.ExporterConditionOnline) {
						break
					}
					if time.Since(silentAt) > silentOfflineMax {
						t.Fatalf("exporter %s still online %s after its Status stream closed: %+v", name, time.Since(silentAt), e.Status.Conditions)
					}
					time.Sleep(250 * time.Millisecond)
				}
				if d := time.Since(silentAt); d < silentOfflineMin {
					t.Errorf("exporter %s declared offline %s after its last heartbeat, before the 60 s threshold", name, d)
				}
				if e.Status.ExporterStatusValue != jumpstarterv1alpha1.ExporterStatusOffline || !strings.Contains(e.Status.StatusMessage, "Connection lost") {
					t.Errorf("silent exporter %s: status %q %q, want Offline, connection lost", name, e.Status.ExporterStatusValue, e.Status.StatusMessage)
				}
				waitNode(ctx, t, ns, name, func(n *corev1.Node) bool { return nodeReady(n) != corev1.ConditionTrue })
			}
			// The controller lists through its cache, which may not have the offline status yet.
			eventually(t, "ListExporters of the silent exporters", 10*time.Second, func() error {
				list, err := svc.Client.ListExporters(ctx, &clientv1.ListExportersRequest{Parent: parent}, alice.Call())
				if err != nil || len(list.GetExporters()) != 2 {
					return fmt.Errorf("got %v %v, want 2 exporters", list, err)
				}
				for _, e := range list.GetExporters() {
					if e.GetOnline() || e.GetStatus() != jumpstarterv1.ExporterStatus_EXPORTER_STATUS_OFFLINE {
						return fmt.Errorf("silent exporter listed as %v", e)
					}
				}
				return nil
			})

			// No new grant: a lease for the silent idle exporter waits, Pending.
			waiting := createLease("waiting", "slot=b")
			pollLease(ctx, t, svc, alice, waiting, waitTimeout, acquisitionError, func(l *clientv1.Lease) bool {
				return conditionIs(l.GetConditions(), jumpstarterv1alpha1.LeaseConditionPending, "True")
			})
			staysPending(ctx, t, ns, "waiting", 5*time.Second)
			if l := pollLease(ctx, t, svc, alice, waiting, 0, nil, func(*clientv1.Lease) bool { return true }); acquisitionError(l) != nil ||
				condition(l.GetConditions(), jumpstarterv1alpha1.LeaseConditionPending).GetReason() != jumpstarterv1alpha1.LeaseReasonOffline {
				t.Errorf("lease for a silent exporter: %s, want Pending=True/Offline", conditionsString(l.GetConditions()))
			}

			// The active lease is kept; Dial now says the exporter is offline.
			if l, err := svc.Client.GetLease(ctx, &clientv1.GetLeaseRequest{Name: active}, alice.Call()); err != nil ||
				!conditionIs(l.GetConditions(), jumpstarterv1alpha1.LeaseConditionReady, "True") || l.GetEffectiveEndTime() != nil {
				t.Errorf("the lease of the silent exporter: %v %v, want still Ready", l, err)
			}
			waitLease(ctx, t, ns, "active", support.IsReady)
			_, err := svc.Controller.Dial(ctx, &jumpstarterv1.DialRequest{LeaseName: "active"}, alice.Call())
			wantCode(t, "Dial to a silent exporter", err, codes.FailedPrecondition, "exporter is offline")

			// The idle exporter reconnects: online again, and the waiting lease is granted.
			idle.openStatus(ctx)
			if l := acquire(ctx, t, svc, alice, waiting); l.GetExporter() != leaseapi.FormatExporterName(ns, "idle") {
				t.Errorf("waiting lease granted %q, want the reconnected exporter", l.GetExporter())
			}
			return ctx
		}).Feature()
}
