package legacylease

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/auth/identity"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

var now = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

func caller(kind identity.Kind, name string) context.Context {
	return identity.NewContext(context.Background(), identity.Identity{Kind: kind, Namespace: "lab", Name: name})
}

var (
	alice  = caller(identity.KindClient, "alice")
	bob    = caller(identity.KindClient, "bob")
	board1 = caller(identity.KindExporter, "board1")
	board2 = caller(identity.KindExporter, "board2")
)

func testLease(name, owner string, mutate ...func(*jumpstarterv1alpha1.Lease)) *jumpstarterv1alpha1.Lease {
	l := &jumpstarterv1alpha1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: "lab", Name: name, Labels: map[string]string{"board": "rpi4"}},
		Spec: jumpstarterv1alpha1.LeaseSpec{
			ClientRef: corev1.LocalObjectReference{Name: owner},
			Selector:  metav1.LabelSelector{MatchLabels: map[string]string{"board": "rpi4"}},
			Duration:  &metav1.Duration{Duration: time.Hour},
		},
	}
	for _, m := range mutate {
		m(l)
	}
	return l
}

func holding(exporter string) func(*jumpstarterv1alpha1.Lease) {
	return func(l *jumpstarterv1alpha1.Lease) {
		l.Status.ExporterRef = &corev1.LocalObjectReference{Name: exporter}
		l.Status.BeginTime = ptr.To(metav1.NewMicroTime(now))
		l.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Ready", LastTransitionTime: metav1.NewTime(now)}}
	}
}

func isEnded(l *jumpstarterv1alpha1.Lease) {
	l.Status.Ended = true
	l.Labels[jumpstarterv1alpha1.LabelLeaseEnded] = "true"
}

func isReleased(l *jumpstarterv1alpha1.Lease) { l.Spec.Release = true }

type harness struct {
	t      *testing.T
	client client.Client
	svc    *Service
}

// newHarness: exporter board1 (uid-board1); leases in lab: active (alice, held by board1),
// waiting (alice), bobs (bob, held by board2), released (alice, marked), over (alice, ended);
// foreign in namespace other (alice of other).
func newHarness(t *testing.T) *harness {
	t.Helper()
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := jumpstarterv1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	foreign := testLease("foreign", "alice")
	foreign.Namespace = "other"
	c := fake.NewClientBuilder().WithScheme(s).
		WithStatusSubresource(&jumpstarterv1alpha1.Lease{}, &jumpstarterv1alpha1.Exporter{}).
		WithObjects(
			&jumpstarterv1alpha1.Exporter{ObjectMeta: metav1.ObjectMeta{Namespace: "lab", Name: "board1", UID: "uid-board1"}},
			testLease("active", "alice", holding("board1")),
			testLease("waiting", "alice"),
			testLease("bobs", "bob", holding("board2")),
			testLease("released", "alice", holding("board1"), isReleased),
			testLease("over", "alice", holding("board1"), isEnded),
			foreign,
		).Build()
	return &harness{t: t, client: c, svc: &Service{Reader: c, APIReader: c, Client: c}}
}

func (h *harness) leases() []jumpstarterv1alpha1.Lease {
	h.t.Helper()
	list := &jumpstarterv1alpha1.LeaseList{}
	if err := h.client.List(context.Background(), list); err != nil {
		h.t.Fatal(err)
	}
	return list.Items
}

func (h *harness) lease(name string) *jumpstarterv1alpha1.Lease {
	h.t.Helper()
	l := &jumpstarterv1alpha1.Lease{}
	if err := h.client.Get(context.Background(), client.ObjectKey{Namespace: "lab", Name: name}, l); err != nil {
		h.t.Fatal(err)
	}
	return l
}

func wantStatus(t *testing.T, err error, code codes.Code, parts ...string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("code = %s (%v), want %s", status.Code(err), err, code)
	}
	for _, p := range parts {
		if !strings.Contains(status.Convert(err).Message(), p) {
			t.Errorf("message %q does not contain %q", status.Convert(err).Message(), p)
		}
	}
}

func TestGetLease(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name    string
		ctx     context.Context
		lease   string
		code    codes.Code
		parts   []string
		wantUID string
	}{
		{"own active", alice, "active", codes.OK, nil, "uid-board1"},
		{"own waiting", alice, "waiting", codes.OK, nil, ""},
		{"exporter gone", bob, "bobs", codes.OK, nil, ""},
		{"not the owner", bob, "active", codes.PermissionDenied, []string{"permission denied", `lease "active"`}, ""},
		{"unknown", alice, "nope", codes.NotFound, []string{`lease "nope" not found`}, ""},
		{"other namespace is not visible", bob, "foreign", codes.NotFound, nil, ""},
		{"empty name", alice, "", codes.InvalidArgument, []string{"name"}, ""},
		{"resource name", alice, "namespaces/lab/leases/active", codes.InvalidArgument, []string{"name"}, ""},
		{"exporter caller", board1, "active", codes.InvalidArgument, []string{"object kind mismatch"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := h.svc.GetLease(tt.ctx, &jumpstarterv1.GetLeaseRequest{Name: tt.lease})
			wantStatus(t, err, tt.code, tt.parts...)
			if err != nil {
				return
			}
			if resp.GetExporterUuid() != tt.wantUID || resp.Duration.AsDuration() != time.Hour || resp.Selector.MatchLabels["board"] != "rpi4" {
				t.Errorf("GetLease = %v", resp)
			}
		})
	}
}

func TestRequestLease(t *testing.T) {
	h := newHarness(t)
	resp, err := h.svc.RequestLease(alice, &jumpstarterv1.RequestLeaseRequest{
		Duration: durationpb.New(30 * time.Minute),
		Selector: &jumpstarterv1.LabelSelector{MatchLabels: map[string]string{"board": "rpi5"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if u, err := uuid.Parse(resp.Name); err != nil || u.Version() != 7 {
		t.Errorf("name %q is not a UUIDv7 (%v)", resp.Name, err)
	}
	l := h.lease(resp.Name)
	if l.Spec.ClientRef.Name != "alice" || l.Spec.Duration.Duration != 30*time.Minute || l.Spec.Selector.MatchLabels["board"] != "rpi5" ||
		l.Labels["board"] != "rpi5" {
		t.Errorf("stored lease: %#v", l)
	}

	tests := []struct {
		name  string
		ctx   context.Context
		req   *jumpstarterv1.RequestLeaseRequest
		code  codes.Code
		parts []string
	}{
		{"no selector", alice, &jumpstarterv1.RequestLeaseRequest{Duration: durationpb.New(time.Hour)}, codes.InvalidArgument, []string{"selector"}},
		{"bad operator", alice, &jumpstarterv1.RequestLeaseRequest{Duration: durationpb.New(time.Hour), Selector: &jumpstarterv1.LabelSelector{
			MatchExpressions: []*jumpstarterv1.LabelSelectorRequirement{{Key: "board", Operator: "Like", Values: []string{"rpi"}}}}},
			codes.InvalidArgument, []string{"selector.matchExpressions[0].operator"}},
		{"oversized selector", alice, &jumpstarterv1.RequestLeaseRequest{Duration: durationpb.New(time.Hour), Selector: &jumpstarterv1.LabelSelector{
			MatchExpressions: []*jumpstarterv1.LabelSelectorRequirement{{Key: "board", Operator: "In", Values: slices.Repeat([]string{"rpi4"}, 25_000)}}}},
			codes.InvalidArgument, []string{"selector", "longer than the limit"}},
		{"no duration", alice, &jumpstarterv1.RequestLeaseRequest{Selector: &jumpstarterv1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}},
			codes.InvalidArgument, []string{"duration"}},
		{"exporter caller", board1, &jumpstarterv1.RequestLeaseRequest{Duration: durationpb.New(time.Hour),
			Selector: &jumpstarterv1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}}, codes.InvalidArgument, []string{"object kind mismatch"}},
		{"no caller", context.Background(), &jumpstarterv1.RequestLeaseRequest{}, codes.Unauthenticated, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.leases()
			_, err := h.svc.RequestLease(tt.ctx, tt.req)
			wantStatus(t, err, tt.code, tt.parts...)
			if after := h.leases(); !reflect.DeepEqual(before, after) {
				t.Error("the store changed")
			}
		})
	}
}

func TestReleaseLease(t *testing.T) {
	tests := []struct {
		name     string
		ctx      context.Context
		lease    string
		code     codes.Code
		parts    []string
		released bool // the lease ends up marked for release
	}{
		{"client, own", alice, "active", codes.OK, nil, true},
		{"client, own waiting", alice, "waiting", codes.OK, nil, true},
		{"client, already released", alice, "released", codes.OK, nil, true},
		{"client, already ended", alice, "over", codes.OK, nil, false},
		{"client, not the owner", bob, "active", codes.PermissionDenied, []string{"permission denied"}, false},
		{"client, unknown", alice, "nope", codes.NotFound, []string{`lease "nope" not found`}, false},
		{"exporter, holder", board1, "active", codes.OK, nil, true},
		{"exporter, holder of an ended lease", board1, "over", codes.OK, nil, false},
		{"exporter, not the holder", board2, "active", codes.FailedPrecondition, []string{`lease "active" is not held by exporter "board2"`}, false},
		{"exporter, waiting lease", board1, "waiting", codes.FailedPrecondition, []string{"not held"}, false},
		{"exporter, unknown", board1, "nope", codes.NotFound, []string{`lease "nope" not found`}, false},
		{"bad name", alice, "Not/A/Name", codes.InvalidArgument, []string{"name"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			before := h.leases()
			_, err := h.svc.ReleaseLease(tt.ctx, &jumpstarterv1.ReleaseLeaseRequest{Name: tt.lease})
			wantStatus(t, err, tt.code, tt.parts...)
			if err != nil || !tt.released {
				if after := h.leases(); !reflect.DeepEqual(before, after) {
					t.Error("the store changed")
				}
				return
			}
			if !h.lease(tt.lease).Spec.Release {
				t.Errorf("lease %s not marked for release", tt.lease)
			}
			// Idempotent.
			if _, err := h.svc.ReleaseLease(tt.ctx, &jumpstarterv1.ReleaseLeaseRequest{Name: tt.lease}); err != nil {
				t.Errorf("second release: %v", err)
			}
		})
	}
}

func TestListLeases(t *testing.T) {
	h := newHarness(t)
	resp, err := h.svc.ListLeases(alice, &jumpstarterv1.ListLeasesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"active", "released", "waiting"}; !slices.Equal(resp.Names, want) {
		t.Errorf("ListLeases = %v, want %v", resp.Names, want)
	}
	resp, err = h.svc.ListLeases(bob, &jumpstarterv1.ListLeasesRequest{})
	if err != nil || !slices.Equal(resp.Names, []string{"bobs"}) {
		t.Errorf("ListLeases of bob = %v, %v", resp.GetNames(), err)
	}
	_, err = h.svc.ListLeases(board1, &jumpstarterv1.ListLeasesRequest{})
	wantStatus(t, err, codes.InvalidArgument, "object kind mismatch")
}
