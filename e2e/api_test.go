package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/e2e/support"
	"jumpstarter.dev/service/pkg/clientconfig"
	"jumpstarter.dev/service/pkg/leaseapi"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// TestAPI drives the controller's gRPC services (wire contract §2-§3) as the Jumpstarter
// client and exporter do. The features run in parallel: the silent exporter waits out the
// 60 s online threshold, and the others fit in that wait.
func TestAPI(t *testing.T) {
	testenv.TestInParallel(t, apiHappyPath(), apiErrors(), apiExporterSilence())
}

func apiHappyPath() features.Feature {
	return features.New("gRPC API happy path").
		Assess("admin config files connect; an exporter registers, a client leases, dials and releases it", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			ns := newNamespace(ctx, t, "api")
			if err := shared.lab.PublishCA(ctx, ns); err != nil {
				t.Fatal(err)
			}
			parent := leaseapi.FormatNamespace(ns)

			// The admin CLI writes the config files; the tools connect with what is in them.
			dir := t.TempDir()
			clientFile, exporterFile := filepath.Join(dir, "alice.yaml"), filepath.Join(dir, "board.yaml")
			jmpctl(ctx, t, "admin", "create", "client", "alice", "-n", ns, "--out", clientFile)
			jmpctl(ctx, t, "admin", "create", "exporter", "board", "-n", ns, "-l", "board=rpi4", "-l", "site=lab1", "--out", exporterFile)
			clientCfg, err := clientconfig.LoadClientConfig(clientFile)
			if err != nil {
				t.Fatal(err)
			}
			exporterCfg, err := clientconfig.LoadExporterConfig(exporterFile)
			if err != nil {
				t.Fatal(err)
			}
			for _, endpoint := range []string{clientCfg.Endpoint, exporterCfg.Endpoint} {
				if endpoint != shared.lab.GRPCEndpoint() {
					t.Errorf("config endpoint %q, want the lab's %q", endpoint, shared.lab.GRPCEndpoint())
				}
			}
			clientConn, alice, err := support.DialClientConfig(clientCfg)
			if err != nil {
				t.Fatal(err)
			}
			defer clientConn.Close()
			exporterConn, boardCaller, err := support.DialExporterConfig(exporterCfg)
			if err != nil {
				t.Fatal(err)
			}
			defer exporterConn.Close()
			cs := support.NewServices(clientConn)
			board := newAgent(t, support.NewServices(exporterConn), boardCaller)

			// Health answers without credentials.
			health := healthgrpc.NewHealthClient(clientConn)
			for _, service := range []string{"", jumpstarterv1.ControllerService_ServiceDesc.ServiceName, clientv1.ClientService_ServiceDesc.ServiceName} {
				resp, err := health.Check(ctx, &healthgrpc.HealthCheckRequest{Service: service})
				if err != nil || resp.GetStatus() != healthgrpc.HealthCheckResponse_SERVING {
					t.Errorf("health of %q: %v %v, want SERVING", service, resp, err)
				}
			}

			// Exporter: Register keeps the admin's labels, ReportStatus, no telemetry.
			reg := board.register(ctx)
			exporter := getExporter(ctx, t, ns, "board")
			if reg.GetUuid() != string(exporter.UID) {
				t.Errorf("Register uuid %q, want the exporter's uid %q", reg.GetUuid(), exporter.UID)
			}
			if l := exporter.Labels; l["board"] != "rpi4" || l["site"] != "lab1" || l["jumpstarter.dev/name"] != "board" {
				t.Errorf("exporter labels after Register: %v", l)
			}
			if len(exporter.Status.Devices) != 2 || !meta.IsStatusConditionTrue(exporter.Status.Conditions, jumpstarterv1alpha1.ExporterConditionRegistered) {
				t.Errorf("after Register: devices %+v, conditions %+v", exporter.Status.Devices, exporter.Status.Conditions)
			}
			board.report(ctx, jumpstarterv1.ExporterStatus_EXPORTER_STATUS_AVAILABLE, "Exporter registered and available")
			if e := getExporter(ctx, t, ns, "board"); e.Status.ExporterStatusValue != jumpstarterv1alpha1.ExporterStatusAvailable || e.Status.StatusMessage != "Exporter registered and available" {
				t.Errorf("after ReportStatus: status %q %q", e.Status.ExporterStatusValue, e.Status.StatusMessage)
			}
			endpoints, err := board.svc.Controller.GetServiceEndpoints(ctx, &jumpstarterv1.GetServiceEndpointsRequest{}, board.caller.Call())
			if err != nil || len(endpoints.GetTelemetryEndpoints()) != 0 {
				t.Errorf("GetServiceEndpoints: %v %v, want an empty list", endpoints, err)
			}

			// The Status stream says "not leased" at once, and its heartbeat brings the
			// exporter online and its node Ready.
			wantStatusMessage(t, board.openStatus(ctx), "", "", nil)
			waitFor(ctx, t, "exporter Online", func(ctx context.Context) (bool, error) {
				e := getExporter(ctx, t, ns, "board")
				return meta.IsStatusConditionTrue(e.Status.Conditions, jumpstarterv1alpha1.ExporterConditionOnline), nil
			})
			waitNode(ctx, t, ns, "board", func(n *corev1.Node) bool { return nodeReady(n) == corev1.ConditionTrue })

			// ListExporters and GetExporter.
			exporterName := leaseapi.FormatExporterName(ns, "board")
			list, err := cs.Client.ListExporters(ctx, &clientv1.ListExportersRequest{Parent: parent, Filter: "board=rpi4"}, alice.Call())
			if err != nil {
				t.Fatalf("ListExporters: %v", err)
			}
			if len(list.GetExporters()) != 1 || list.GetNextPageToken() != "" {
				t.Fatalf("ListExporters board=rpi4: %v", list)
			}
			if e := list.GetExporters()[0]; e.GetName() != exporterName || !e.GetOnline() || e.GetStatus() != jumpstarterv1.ExporterStatus_EXPORTER_STATUS_AVAILABLE ||
				e.GetLabels()["board"] != "rpi4" || !e.GetEnabled() {
				t.Errorf("ListExporters: %v", e)
			}
			if none, err := cs.Client.ListExporters(ctx, &clientv1.ListExportersRequest{Parent: parent, Filter: "board=pdp11"}, alice.Call()); err != nil || len(none.GetExporters()) != 0 {
				t.Errorf("ListExporters board=pdp11: %v %v, want none", none, err)
			}
			got, err := cs.Client.GetExporter(ctx, &clientv1.GetExporterRequest{Name: exporterName}, alice.Call())
			if err != nil || got.GetName() != exporterName || got.GetLabels()["jumpstarter.dev/name"] != "board" || !got.GetOnline() {
				t.Errorf("GetExporter: %v %v", got, err)
			}

			// CreateLease by selector, then GetLease until Ready, under the client's rules.
			created, err := cs.Client.CreateLease(ctx, &clientv1.CreateLeaseRequest{Parent: parent, Lease: &clientv1.Lease{
				Selector: "board=rpi4", Duration: durationpb.New(30 * time.Minute), ExporterName: ptr.To(""),
				Tags: map[string]string{"team": "qa"}, Context: map[string]string{"ci": "run-7"},
			}}, alice.Call())
			if err != nil {
				t.Fatalf("CreateLease: %v", err)
			}
			leaseID := bareName(t, created.GetName())
			if created.GetClient() != leaseapi.FormatClientName(ns, "alice") || created.GetSelector() != "board=rpi4" ||
				created.GetDuration().AsDuration() != 30*time.Minute || len(created.GetConditions()) != 0 || len(leaseID) != 36 {
				t.Errorf("CreateLease answered %v", created)
			}
			ready := acquire(ctx, t, cs, alice, created.GetName())
			if ready.GetExporter() != exporterName || ready.GetEffectiveBeginTime() == nil || ready.GetDuration().AsDuration() != 30*time.Minute ||
				ready.GetEffectiveEndTime() != nil {
				t.Errorf("ready lease: %v", ready)
			}
			wantStatusMessage(t, board.nextStatus(), leaseID, "alice", map[string]string{"ci": "run-7"})

			// Listen, then Dial while the exporter still reports Available: the controller
			// waits for it, and answers once it reports LEASE_READY.
			listenCtx, stopListen := context.WithCancel(ctx)
			defer stopListen()
			listenStream, err := board.svc.Controller.Listen(listenCtx, &jumpstarterv1.ListenRequest{LeaseName: leaseID}, board.caller.Call())
			if err != nil {
				t.Fatalf("Listen: %v", err)
			}
			tickets := support.Receive(listenStream)
			dialed := dialAsync(ctx, cs, alice, leaseID)
			select {
			case r := <-dialed:
				t.Fatalf("Dial answered while the exporter reported Available: %v, %v", r.resp, r.err)
			case <-time.After(2 * time.Second):
			}
			readyAt := time.Now()
			board.report(ctx, jumpstarterv1.ExporterStatus_EXPORTER_STATUS_LEASE_READY, "Ready for commands")
			var first dialResult
			select {
			case first = <-dialed:
			case <-time.After(20 * time.Second):
				t.Fatal("Dial did not answer after the exporter reported LEASE_READY")
			}
			if first.err != nil {
				t.Fatalf("Dial after LEASE_READY: %v", first.err)
			}
			if d := time.Since(readyAt); d > 8*time.Second {
				t.Errorf("Dial answered %s after LEASE_READY; the wait re-checks at most every 3 s", d)
			}
			for i, r := range []dialResult{first, <-dialAsync(ctx, cs, alice, leaseID)} {
				if r.err != nil {
					t.Fatalf("Dial %d: %v", i, r.err)
				}
				ticket, err := tickets.Next(5 * time.Second)
				if err != nil {
					t.Fatalf("Listen, ticket of Dial %d: %v", i, err)
				}
				if r.resp.GetRouterEndpoint() != shared.lab.RouterEndpoint() || r.resp.GetRouterToken() == "" ||
					ticket.GetRouterEndpoint() != r.resp.GetRouterEndpoint() || ticket.GetRouterToken() != r.resp.GetRouterToken() {
					t.Errorf("Dial %d answered %v, Listen received %v: want the same endpoint %s and token", i, r.resp, ticket, shared.lab.RouterEndpoint())
				}
			}

			// A newer Listen replaces the older one, which ends; with none open, Dial answers
			// the retryable UNAVAILABLE.
			listen2Ctx, stopListen2 := context.WithCancel(ctx)
			defer stopListen2()
			listenStream2, err := board.svc.Controller.Listen(listen2Ctx, &jumpstarterv1.ListenRequest{LeaseName: leaseID}, board.caller.Call())
			if err != nil {
				t.Fatalf("second Listen: %v", err)
			}
			tickets2 := support.Receive(listenStream2)
			if m, err := tickets.Next(streamTimeout); err == nil || !strings.Contains(err.Error(), "stream ended") {
				t.Errorf("the replaced Listen stream: %v %v, want it ended", m, err)
			}
			r := <-dialAsync(ctx, cs, alice, leaseID)
			if r.err != nil {
				t.Fatalf("Dial to the newer Listen: %v", r.err)
			}
			if ticket, err := tickets2.Next(5 * time.Second); err != nil || ticket.GetRouterToken() != r.resp.GetRouterToken() {
				t.Errorf("the newer Listen received %v %v, want the ticket of the Dial", ticket, err)
			}
			stopListen2()
			eventually(t, "Dial without a Listen stream", 10*time.Second, func() error {
				_, err := cs.Controller.Dial(ctx, &jumpstarterv1.DialRequest{LeaseName: leaseID}, alice.Call())
				if st := status.Convert(err); st.Code() != codes.Unavailable || st.Message() != "exporter is not listening on lease "+leaseID {
					return fmt.Errorf("Dial answered %v, want UNAVAILABLE exporter is not listening on lease %s", err, leaseID)
				}
				return nil
			})

			// Two more leases queue behind the first.
			var queued []string
			for _, id := range []string{"queued-1", "queued-2"} {
				l, err := cs.Client.CreateLease(ctx, &clientv1.CreateLeaseRequest{Parent: parent, LeaseId: id, Lease: &clientv1.Lease{
					Selector: "board=rpi4", Duration: durationpb.New(time.Minute),
				}}, alice.Call())
				if err != nil {
					t.Fatalf("CreateLease %s: %v", id, err)
				}
				if l.GetName() != parent+"/leases/"+id {
					t.Errorf("CreateLease with lease_id %s named it %s", id, l.GetName())
				}
				queued = append(queued, l.GetName())
			}
			all := slices.Sorted(slices.Values(append([]string{created.GetName()}, queued...)))

			// ListLeases: filters, tags, pagination. The services read through the controller's
			// cache, which sees the new leases a moment after CreateLease.
			listLeases := func(req *clientv1.ListLeasesRequest, c support.Caller) (*clientv1.ListLeasesResponse, error) {
				req.Parent = parent
				resp, err := cs.Client.ListLeases(ctx, req, c.Call())
				if err != nil {
					return nil, fmt.Errorf("ListLeases %v: %w", req, err)
				}
				return resp, nil
			}
			wantLeases := func(req *clientv1.ListLeasesRequest, want []string) {
				t.Helper()
				eventually(t, fmt.Sprintf("ListLeases %v", req), 10*time.Second, func() error {
					resp, err := listLeases(req, alice)
					if err != nil {
						return err
					}
					if got := leaseNames(resp.GetLeases()); !slices.Equal(got, want) || resp.GetNextPageToken() != "" {
						return fmt.Errorf("%v (next page %q), want %v", got, resp.GetNextPageToken(), want)
					}
					return nil
				})
			}
			wantLeases(&clientv1.ListLeasesRequest{OnlyActive: ptr.To(true)}, all)
			wantLeases(&clientv1.ListLeasesRequest{Filter: "board=rpi4"}, all)
			wantLeases(&clientv1.ListLeasesRequest{Filter: "board=pdp11"}, []string{})
			wantLeases(&clientv1.ListLeasesRequest{TagFilter: "team=qa"}, []string{created.GetName()})
			var paged []string
			pageToken := ""
			for pages := 1; ; pages++ {
				resp, err := listLeases(&clientv1.ListLeasesRequest{OnlyActive: ptr.To(true), PageSize: 1, PageToken: pageToken}, alice)
				if err != nil {
					t.Fatal(err)
				}
				if len(resp.GetLeases()) != 1 {
					t.Fatalf("page %d has %d leases, want 1", pages, len(resp.GetLeases()))
				}
				paged = append(paged, resp.GetLeases()[0].GetName())
				if pageToken = resp.GetNextPageToken(); pageToken == "" {
					break
				}
				if pages > len(all) {
					t.Fatalf("pagination does not end: %v", paged)
				}
			}
			if !slices.Equal(paged, all) {
				t.Errorf("pages of one: %v, want %v", paged, all)
			}

			// UpdateLease: a longer duration.
			updated, err := cs.Client.UpdateLease(ctx, &clientv1.UpdateLeaseRequest{
				Lease:      &clientv1.Lease{Name: created.GetName(), Duration: durationpb.New(45 * time.Minute)},
				UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"duration"}},
			}, alice.Call())
			if err != nil || updated.GetDuration().AsDuration() != 45*time.Minute || updated.GetExporter() != exporterName {
				t.Errorf("UpdateLease duration: %v %v", updated, err)
			}
			eventually(t, "GetLease after UpdateLease", 10*time.Second, func() error {
				l, err := cs.Client.GetLease(ctx, &clientv1.GetLeaseRequest{Name: created.GetName()}, alice.Call())
				if err == nil && l.GetDuration().AsDuration() != 45*time.Minute {
					err = fmt.Errorf("duration %s, want 45m", l.GetDuration().AsDuration())
				}
				return err
			})

			// The legacy ControllerService lease calls.
			names, err := cs.Controller.ListLeases(ctx, &jumpstarterv1.ListLeasesRequest{}, alice.Call())
			if want := []string{leaseID, "queued-1", "queued-2"}; err != nil || !slices.Equal(slices.Sorted(slices.Values(names.GetNames())), slices.Sorted(slices.Values(want))) {
				t.Errorf("legacy ListLeases: %v %v, want %v", names, err, want)
			}
			eventually(t, "legacy GetLease", 10*time.Second, func() error {
				legacy, err := cs.Controller.GetLease(ctx, &jumpstarterv1.GetLeaseRequest{Name: leaseID}, alice.Call())
				if err == nil && (legacy.GetSelector().GetMatchLabels()["board"] != "rpi4" || legacy.GetExporterUuid() != string(exporter.UID) ||
					legacy.GetBeginTime() == nil || legacy.GetDuration().AsDuration() != 45*time.Minute ||
					!conditionIs(legacy.GetConditions(), jumpstarterv1alpha1.LeaseConditionReady, "True")) {
					err = fmt.Errorf("got %v", legacy)
				}
				return err
			})
			requested, err := cs.Controller.RequestLease(ctx, &jumpstarterv1.RequestLeaseRequest{
				Duration: durationpb.New(time.Minute), Selector: &jumpstarterv1.LabelSelector{MatchLabels: map[string]string{"board": "rpi4"}},
			}, alice.Call())
			if err != nil || requested.GetName() == "" {
				t.Fatalf("legacy RequestLease: %v %v", requested, err)
			}
			if l, err := cs.Controller.GetLease(ctx, &jumpstarterv1.GetLeaseRequest{Name: requested.GetName()}, alice.Call()); err != nil ||
				l.GetSelector().GetMatchLabels()["board"] != "rpi4" || l.GetDuration().AsDuration() != time.Minute {
				t.Errorf("legacy GetLease of the requested lease: %v %v", l, err)
			}
			for range 2 { // idempotent
				if _, err := cs.Controller.ReleaseLease(ctx, &jumpstarterv1.ReleaseLeaseRequest{Name: requested.GetName()}, alice.Call()); err != nil {
					t.Errorf("legacy ReleaseLease: %v", err)
				}
			}
			waitLease(ctx, t, ns, requested.GetName(), support.IsEnded)

			// DeleteLease of a queued lease: it ends without ever starting.
			if _, err := cs.Client.DeleteLease(ctx, &clientv1.DeleteLeaseRequest{Name: queued[0]}, alice.Call()); err != nil {
				t.Fatalf("DeleteLease %s: %v", queued[0], err)
			}
			if l := released(ctx, t, cs, alice, queued[0]); l.GetEffectiveBeginTime() != nil || l.GetEffectiveEndTime() != nil || l.GetExporter() != "" {
				t.Errorf("a lease released while queued shows effective times or an exporter: %v", l)
			}

			// DeleteLease of the active lease: it ends as Released, stays readable, and the
			// exporter hears of it; a second DeleteLease is refused.
			if _, err := cs.Client.DeleteLease(ctx, &clientv1.DeleteLeaseRequest{Name: created.GetName()}, alice.Call()); err != nil {
				t.Fatalf("DeleteLease: %v", err)
			}
			if l := released(ctx, t, cs, alice, created.GetName()); l.GetEffectiveEndTime() == nil || l.GetEffectiveBeginTime() == nil {
				t.Errorf("released lease lacks its effective times: %v", l)
			}
			_, err = cs.Client.DeleteLease(ctx, &clientv1.DeleteLeaseRequest{Name: created.GetName()}, alice.Call())
			wantCode(t, "second DeleteLease", err, codes.FailedPrecondition, `lease "`+created.GetName()+`" has already been released`)
			_, err = cs.Controller.Dial(ctx, &jumpstarterv1.DialRequest{LeaseName: leaseID}, alice.Call())
			wantCode(t, "Dial of a released lease", err, codes.Unknown, "lease not active")
			wantStatusMessage(t, board.nextStatus(), "", "", nil)
			stopListen()
			board.report(ctx, jumpstarterv1.ExporterStatus_EXPORTER_STATUS_AVAILABLE, "Available for new lease")
			wantLeases(&clientv1.ListLeasesRequest{OnlyActive: ptr.To(true)}, queued[1:])
			wantLeases(&clientv1.ListLeasesRequest{OnlyActive: ptr.To(false)},
				slices.Sorted(slices.Values([]string{created.GetName(), queued[0], queued[1], parent + "/leases/" + requested.GetName()})))

			// The next queued lease is granted; its exporter releases it itself (idempotent).
			acquire(ctx, t, cs, alice, queued[1])
			wantStatusMessage(t, board.nextStatus(), "queued-2", "alice", nil)
			for range 2 {
				if _, err := board.svc.Controller.ReleaseLease(ctx, &jumpstarterv1.ReleaseLeaseRequest{Name: "queued-2"}, board.caller.Call()); err != nil {
					t.Errorf("ReleaseLease by the exporter: %v", err)
				}
			}
			released(ctx, t, cs, alice, queued[1])
			wantStatusMessage(t, board.nextStatus(), "", "", nil)

			// RotateToken: the new token works, the old one no longer does.
			rotated, err := cs.Client.RotateToken(ctx, &clientv1.RotateTokenRequest{Parent: parent}, alice.Call())
			if err != nil {
				t.Fatalf("RotateToken: %v", err)
			}
			if rotated.GetToken() == "" || rotated.GetToken() == alice.Token || !rotated.GetExpiry().AsTime().After(time.Now()) {
				t.Errorf("RotateToken: %v", rotated)
			}
			if _, err := cs.Client.ListExporters(ctx, &clientv1.ListExportersRequest{Parent: parent}, alice.WithToken(rotated.GetToken()).Call()); err != nil {
				t.Errorf("the rotated token is refused: %v", err)
			}
			// The controller checks tokens against its cache of the Secret first, so the old token
			// works until that cache sees the rotation.
			eventually(t, "the token before rotation", 10*time.Second, func() error {
				_, err := cs.Client.ListExporters(ctx, &clientv1.ListExportersRequest{Parent: parent}, alice.Call())
				if st := status.Convert(err); err == nil || st.Code() != codes.Unknown || !strings.Contains(st.Message(), "replaced by a newer token") {
					return fmt.Errorf("ListExporters answered %v, want UNKNOWN replaced by a newer token", err)
				}
				return nil
			})

			// Shutdown: OFFLINE, then Unregister; the exporter is no longer schedulable.
			board.report(ctx, jumpstarterv1.ExporterStatus_EXPORTER_STATUS_OFFLINE, "Exporter shutting down")
			if _, err := board.svc.Controller.Unregister(ctx, &jumpstarterv1.UnregisterRequest{Reason: "Exporter shutdown"}, board.caller.Call()); err != nil {
				t.Fatalf("Unregister: %v", err)
			}
			board.closeStatus()
			e := getExporter(ctx, t, ns, "board")
			if e.Status.ExporterStatusValue != jumpstarterv1alpha1.ExporterStatusOffline || e.Status.StatusMessage != "Exporter shutdown" ||
				len(e.Status.Devices) != 0 || !meta.IsStatusConditionFalse(e.Status.Conditions, jumpstarterv1alpha1.ExporterConditionRegistered) {
				t.Errorf("after Unregister: status %q %q, devices %v, conditions %+v", e.Status.ExporterStatusValue, e.Status.StatusMessage, e.Status.Devices, e.Status.Conditions)
			}
			waitNode(ctx, t, ns, "board", func(n *corev1.Node) bool { return nodeReady(n) != corev1.ConditionTrue })
			if got, err := cs.Client.GetExporter(ctx, &clientv1.GetExporterRequest{Name: exporterName}, alice.WithToken(rotated.GetToken()).Call()); err != nil || got.GetOnline() {
				t.Errorf("GetExporter after Unregister: %v %v, want online=false", got, err)
			}
			return ctx
		}).Feature()
}
