package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/e2e/support"
	"jumpstarter.dev/service/pkg/auth/token"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

// streamTimeout bounds the wait for a message the controller sends on a change it sees
// through its cache: a watch event away, so a few seconds on a loaded machine.
const streamTimeout = 15 * time.Second

// labConn is a connection to the lab controller's gRPC endpoint, trusting the lab CA only.
func labConn(t *testing.T) support.Services {
	t.Helper()
	endpoint := shared.lab.GRPCEndpoint()
	if endpoint == "" {
		t.Fatal("the lab's controller serves no gRPC endpoint")
	}
	conn, err := support.DialControllerWithCAFile(endpoint, shared.lab.CACertPath())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return support.NewServices(conn)
}

// newAPIClient creates a Client object and returns the caller with its controller-issued token.
func newAPIClient(ctx context.Context, t *testing.T, ns, name string) support.Caller {
	t.Helper()
	c := &jumpstarterv1alpha1.Client{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := shared.client.Create(ctx, c); err != nil {
		t.Fatalf("create client %s/%s: %v", ns, name, err)
	}
	caller, err := support.WaitForCaller(ctx, shared.client, token.KindClient, ns, name, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	return caller
}

// newAPIExporter creates an enabled Exporter object with admin labels, without the fleet: its
// status comes from the gRPC calls of the test, as from a real exporter.
func newAPIExporter(ctx context.Context, t *testing.T, ns, name string, labels map[string]string) support.Caller {
	t.Helper()
	e := &jumpstarterv1alpha1.Exporter{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec:       jumpstarterv1alpha1.ExporterSpec{Enabled: ptr.To(true)},
	}
	if err := shared.client.Create(ctx, e); err != nil {
		t.Fatalf("create exporter %s/%s: %v", ns, name, err)
	}
	caller, err := support.WaitForCaller(ctx, shared.client, token.KindExporter, ns, name, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	return caller
}

// jmpctl runs bin/jmpctl against the lab and returns its combined output.
func jmpctl(ctx context.Context, t *testing.T, args ...string) string {
	t.Helper()
	bin, err := filepath.Abs(filepath.Join(os.Getenv(support.EnvBin), "jmpctl"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig", shared.lab.KubeconfigPath()}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("jmpctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// agent plays the controller side of one exporter as the Python exporter does (§3.8).
type agent struct {
	t      *testing.T
	svc    support.Services
	caller support.Caller
	// status is the open Status stream, nil when none is.
	status     *support.Stream[jumpstarterv1.StatusResponse]
	stopStatus context.CancelFunc
}

func newAgent(t *testing.T, svc support.Services, caller support.Caller) *agent {
	return &agent{t: t, svc: svc, caller: caller}
}

// register sends the exporter's name label and a two-instance driver tree.
func (a *agent) register(ctx context.Context) *jumpstarterv1.RegisterResponse {
	a.t.Helper()
	resp, err := a.svc.Controller.Register(ctx, &jumpstarterv1.RegisterRequest{
		Labels: map[string]string{"jumpstarter.dev/name": a.caller.Name},
		Reports: []*jumpstarterv1.DriverInstanceReport{
			{Uuid: "0190f7a2-1111-7000-8000-000000000001", Labels: map[string]string{"jumpstarter.dev/client": "jumpstarter_driver_composite.client.CompositeClient"}, Description: ptr.To("root")},
			{Uuid: "0190f7a2-1111-7000-8000-000000000002", ParentUuid: ptr.To("0190f7a2-1111-7000-8000-000000000001"),
				Labels:             map[string]string{"jumpstarter.dev/client": "jumpstarter_driver_power.client.PowerClient", "jumpstarter.dev/name": "power"},
				MethodsDescription: map[string]string{"on": "Power on"}},
		},
	}, a.caller.Call())
	if err != nil {
		a.t.Fatalf("Register %s: %v", a.caller.Name, err)
	}
	return resp
}

func (a *agent) report(ctx context.Context, st jumpstarterv1.ExporterStatus, message string) {
	a.t.Helper()
	if _, err := a.svc.Controller.ReportStatus(ctx, &jumpstarterv1.ReportStatusRequest{Status: st, Message: ptr.To(message)}, a.caller.Call()); err != nil {
		a.t.Fatalf("ReportStatus(%s) of %s: %v", st, a.caller.Name, err)
	}
}

// openStatus opens the Status stream (the heartbeat) and returns its first message, which the
// controller must send at once.
func (a *agent) openStatus(ctx context.Context) *jumpstarterv1.StatusResponse {
	a.t.Helper()
	streamCtx, cancel := context.WithCancel(ctx)
	a.t.Cleanup(cancel)
	stream, err := a.svc.Controller.Status(streamCtx, &jumpstarterv1.StatusRequest{}, a.caller.Call())
	if err != nil {
		cancel()
		a.t.Fatalf("Status of %s: %v", a.caller.Name, err)
	}
	a.status, a.stopStatus = support.Receive(stream), cancel
	first, err := a.status.Next(5 * time.Second)
	if err != nil {
		a.t.Fatalf("Status of %s: the current state must come at once: %v", a.caller.Name, err)
	}
	return first
}

// closeStatus ends the Status stream, as a crashed exporter's connection would.
func (a *agent) closeStatus() {
	if a.stopStatus != nil {
		a.stopStatus()
	}
	a.status, a.stopStatus = nil, nil
}

// nextStatus is the next message of the Status stream.
func (a *agent) nextStatus() *jumpstarterv1.StatusResponse {
	a.t.Helper()
	m, err := a.status.Next(streamTimeout)
	if err != nil {
		a.t.Fatalf("Status of %s: %v", a.caller.Name, err)
	}
	return m
}

// wantStatusMessage checks a StatusResponse: leased with the lease and client, or not leased
// with both unset.
func wantStatusMessage(t *testing.T, got *jumpstarterv1.StatusResponse, lease, clientName string, context map[string]string) {
	t.Helper()
	if lease == "" {
		if got.GetLeased() || got.LeaseName != nil || got.ClientName != nil {
			t.Errorf("Status = %v, want leased=false with lease_name and client_name unset", got)
		}
		return
	}
	if !got.GetLeased() || got.GetLeaseName() != lease || got.GetClientName() != clientName || !maps.Equal(got.GetContext(), context) {
		t.Errorf("Status = %v, want leased=true lease_name=%q client_name=%q context=%v", got, lease, clientName, context)
	}
}

// wantCode checks that err is a gRPC status with code and a message containing every fragment.
func wantCode(t *testing.T, what string, err error, code codes.Code, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want %s %q", what, code, fragments)
		return
	}
	st := status.Convert(err)
	if st.Code() != code {
		t.Errorf("%s: %s %q, want code %s", what, st.Code(), st.Message(), code)
	}
	for _, f := range fragments {
		if !strings.Contains(st.Message(), f) {
			t.Errorf("%s: message %q lacks %q", what, st.Message(), f)
		}
	}
}

func condition(conds []*jumpstarterv1.Condition, condType string) *jumpstarterv1.Condition {
	for _, c := range conds {
		if c.GetType() == condType {
			return c
		}
	}
	return nil
}

func conditionIs(conds []*jumpstarterv1.Condition, condType, st string) bool {
	c := condition(conds, condType)
	return c != nil && c.GetStatus() == st
}

func conditionsString(conds []*jumpstarterv1.Condition) string {
	parts := make([]string, len(conds))
	for i, c := range conds {
		parts[i] = fmt.Sprintf("[%s=%s %s: %s]", c.GetType(), c.GetStatus(), c.GetReason(), c.GetMessage())
	}
	return strings.Join(parts, "")
}

// acquisitionError applies the Python client's acquisition rules (§3.6) to one GetLease
// answer of a lease that has not been Ready yet: Pending=False, Ready=False, Unsatisfiable or
// Invalid are failures.
func acquisitionError(l *clientv1.Lease) error {
	switch {
	case conditionIs(l.GetConditions(), jumpstarterv1alpha1.LeaseConditionReady, "True"):
		return nil
	case conditionIs(l.GetConditions(), jumpstarterv1alpha1.LeaseConditionPending, "False"),
		conditionIs(l.GetConditions(), jumpstarterv1alpha1.LeaseConditionReady, "False"),
		conditionIs(l.GetConditions(), jumpstarterv1alpha1.LeaseConditionUnsatisfiable, "True"),
		conditionIs(l.GetConditions(), jumpstarterv1alpha1.LeaseConditionInvalid, "True"):
		return fmt.Errorf("lease %s: conditions %s before Ready=True", l.GetName(), conditionsString(l.GetConditions()))
	}
	return nil
}

// pollLease calls ClientService.GetLease, as a client polls, until done holds; every answer
// before that must pass check.
func pollLease(ctx context.Context, t *testing.T, svc support.Services, caller support.Caller, name string, timeout time.Duration,
	check func(*clientv1.Lease) error, done func(*clientv1.Lease) bool) *clientv1.Lease {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last *clientv1.Lease
	for {
		l, err := svc.Client.GetLease(ctx, &clientv1.GetLeaseRequest{Name: name}, caller.Call())
		if err != nil {
			t.Fatalf("GetLease %s: %v", name, err)
		}
		last = l
		if done(l) {
			return l
		}
		if check != nil {
			if err := check(l); err != nil {
				t.Fatal(err)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GetLease %s: condition not met within %s; last conditions %s", name, timeout, conditionsString(last.GetConditions()))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// acquire polls a new lease until Ready=True, under the Python client's rules.
func acquire(ctx context.Context, t *testing.T, svc support.Services, caller support.Caller, name string) *clientv1.Lease {
	t.Helper()
	return pollLease(ctx, t, svc, caller, name, waitTimeout, acquisitionError, func(l *clientv1.Lease) bool {
		return conditionIs(l.GetConditions(), jumpstarterv1alpha1.LeaseConditionReady, "True")
	})
}

// released polls a lease until it has ended as released.
func released(ctx context.Context, t *testing.T, svc support.Services, caller support.Caller, name string) *clientv1.Lease {
	t.Helper()
	return pollLease(ctx, t, svc, caller, name, waitTimeout, nil, func(l *clientv1.Lease) bool {
		c := condition(l.GetConditions(), jumpstarterv1alpha1.LeaseConditionReady)
		return c != nil && c.GetStatus() == "False" && c.GetReason() == jumpstarterv1alpha1.LeaseReasonReleased
	})
}

// bareName is the id of a lease resource name namespaces/{ns}/leases/{id}.
func bareName(t *testing.T, name string) string {
	t.Helper()
	parts := strings.Split(name, "/")
	if len(parts) != 4 || parts[0] != "namespaces" || parts[2] != "leases" || parts[3] == "" {
		t.Fatalf("lease name %q is not namespaces/{ns}/leases/{id}", name)
	}
	return parts[3]
}

// leaseVersions are the resourceVersions of the namespace's leases, read from the API server:
// an RPC that must change nothing leaves them equal.
func leaseVersions(ctx context.Context, t *testing.T, ns string) map[string]string {
	t.Helper()
	list := &jumpstarterv1alpha1.LeaseList{}
	if err := shared.client.List(ctx, list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range list.Items {
		out[l.Name] = l.ResourceVersion
	}
	return out
}

func getExporter(ctx context.Context, t *testing.T, ns, name string) *jumpstarterv1alpha1.Exporter {
	t.Helper()
	e := &jumpstarterv1alpha1.Exporter{}
	if err := shared.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, e); err != nil {
		t.Fatal(err)
	}
	return e
}

func leaseNames(leases []*clientv1.Lease) []string {
	out := make([]string, len(leases))
	for i, l := range leases {
		out[i] = l.GetName()
	}
	slices.Sort(out)
	return out
}

// dialResult is what a Dial answered.
type dialResult struct {
	resp *jumpstarterv1.DialResponse
	err  error
	took time.Duration
}

// dialAsync calls Dial in the background.
func dialAsync(ctx context.Context, svc support.Services, caller support.Caller, lease string, opts ...grpc.CallOption) <-chan dialResult {
	out := make(chan dialResult, 1)
	start := time.Now()
	go func() {
		resp, err := svc.Controller.Dial(ctx, &jumpstarterv1.DialRequest{LeaseName: lease}, append(opts, caller.Call())...)
		out <- dialResult{resp: resp, err: err, took: time.Since(start)}
	}()
	return out
}

// eventually retries check until it passes or timeout passes, then reports its last failure.
// The services read through the controller's cache, so a read right after a write may not
// see it yet.
func eventually(t *testing.T, what string, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: %v", what, err)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}
