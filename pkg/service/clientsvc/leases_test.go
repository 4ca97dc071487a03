package clientsvc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/auth/identity"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
)

func TestGetLease(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name  string
		req   string
		code  codes.Code
		parts []string
	}{
		{"own", "namespaces/lab/leases/active", codes.OK, nil},
		{"another client's", "namespaces/lab/leases/waiting", codes.OK, nil},
		{"unknown", "namespaces/lab/leases/nope", codes.NotFound, []string{`lease "namespaces/lab/leases/nope" not found`}},
		{"other namespace", "namespaces/other/leases/foreign", codes.PermissionDenied, []string{"namespace mismatch"}},
		{"malformed", "namespaces/lab/leases", codes.InvalidArgument, []string{"name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.srv.GetLease(alice, &clientv1.GetLeaseRequest{Name: tt.req})
			wantStatus(t, err, tt.code, tt.parts...)
			if err == nil && (got.Name != tt.req || got.Selector != "board=rpi4" || !strings.HasPrefix(got.GetClient(), "namespaces/lab/clients/")) {
				t.Errorf("GetLease = %v", got)
			}
		})
	}

	active, err := h.srv.GetLease(alice, &clientv1.GetLeaseRequest{Name: "namespaces/lab/leases/active"})
	if err != nil {
		t.Fatal(err)
	}
	if active.GetExporter() != "namespaces/lab/exporters/board1" || active.EffectiveDuration.AsDuration() != 10*time.Minute ||
		len(active.Conditions) != 2 || active.Conditions[1].GetType() != "Ready" || active.Tags["team"] != "qa" {
		t.Errorf("active lease = %v", active)
	}
}

// A lease created a moment ago may not be in the cache yet.
func TestGetLeaseFallsBackToAPIReader(t *testing.T) {
	h := newHarness(t)
	h.srv.Reader = newFake(t, nil) // an empty cache
	if _, err := h.srv.GetLease(alice, &clientv1.GetLeaseRequest{Name: "namespaces/lab/leases/active"}); err != nil {
		t.Fatal(err)
	}
	h.srv.APIReader = nil
	_, err := h.srv.GetLease(alice, &clientv1.GetLeaseRequest{Name: "namespaces/lab/leases/active"})
	wantStatus(t, err, codes.NotFound)
}

func TestListLeases(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name  string
		req   *clientv1.ListLeasesRequest
		want  []string
		code  codes.Code
		parts []string
	}{
		{"active by default", &clientv1.ListLeasesRequest{Parent: "namespaces/lab"}, []string{"active", "waiting"}, codes.OK, nil},
		{"only active", &clientv1.ListLeasesRequest{Parent: "namespaces/lab", OnlyActive: ptr.To(true)}, []string{"active", "waiting"}, codes.OK, nil},
		{"all", &clientv1.ListLeasesRequest{Parent: "namespaces/lab", OnlyActive: ptr.To(false)},
			[]string{"active", "ended", "ending", "waiting"}, codes.OK, nil},
		{"filter", &clientv1.ListLeasesRequest{Parent: "namespaces/lab", Filter: "board=rpi4", OnlyActive: ptr.To(true)},
			[]string{"active", "waiting"}, codes.OK, nil},
		{"filter without match", &clientv1.ListLeasesRequest{Parent: "namespaces/lab", Filter: "board=rpi5"}, nil, codes.OK, nil},
		{"tag filter", &clientv1.ListLeasesRequest{Parent: "namespaces/lab", TagFilter: "team=qa"}, []string{"active"}, codes.OK, nil},
		{"tag filter absent", &clientv1.ListLeasesRequest{Parent: "namespaces/lab", TagFilter: "!team", OnlyActive: ptr.To(false)},
			[]string{"ended", "ending", "waiting"}, codes.OK, nil},
		{"malformed filter", &clientv1.ListLeasesRequest{Parent: "namespaces/lab", Filter: "board in (rpi4"}, nil, codes.InvalidArgument,
			[]string{"filter", `"board in (rpi4"`}},
		{"malformed tag filter", &clientv1.ListLeasesRequest{Parent: "namespaces/lab", TagFilter: "team in (qa"}, nil, codes.InvalidArgument,
			[]string{"tag_filter"}},
		{"other namespace", &clientv1.ListLeasesRequest{Parent: "namespaces/other"}, nil, codes.PermissionDenied, []string{"namespace mismatch"}},
		{"negative page size", &clientv1.ListLeasesRequest{Parent: "namespaces/lab", PageSize: -1}, nil, codes.InvalidArgument, []string{"page_size"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := h.srv.ListLeases(alice, tt.req)
			wantStatus(t, err, tt.code, tt.parts...)
			if err != nil {
				return
			}
			var got []string
			for _, l := range resp.Leases {
				got = append(got, strings.TrimPrefix(l.Name, "namespaces/lab/leases/"))
			}
			if !slices.Equal(got, tt.want) || resp.NextPageToken != "" {
				t.Errorf("ListLeases = %v (next %q), want %v", got, resp.NextPageToken, tt.want)
			}
		})
	}

	t.Run("pages of 100 until the token is empty, as Python does", func(t *testing.T) {
		var objs []client.Object
		for i := range 250 {
			objs = append(objs, testLease("lab", fmt.Sprintf("l%03d", i), "alice"))
		}
		h := newHarness(t, objs...)
		req := &clientv1.ListLeasesRequest{Parent: "namespaces/lab", PageSize: 100, OnlyActive: ptr.To(true)}
		seen, pages := 0, 0
		for {
			resp, err := h.srv.ListLeases(alice, req)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			seen += len(resp.Leases)
			if resp.NextPageToken == "" {
				break
			}
			req.PageToken = resp.NextPageToken
		}
		if seen != 250 || pages != 3 {
			t.Errorf("%d leases in %d pages, want 250 in 3", seen, pages)
		}
	})
}

func TestCreateLease(t *testing.T) {
	h := newHarness(t)
	req := &clientv1.CreateLeaseRequest{
		Parent: "namespaces/lab",
		Lease: &clientv1.Lease{Selector: "board=rpi4", Duration: durationpb.New(30 * time.Minute), ExporterName: ptr.To(""),
			Tags: map[string]string{"team": "qa"}, Context: map[string]string{"build": "42"}},
	}
	got, err := h.srv.CreateLease(alice, req)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimPrefix(got.Name, "namespaces/lab/leases/")
	if u, err := uuid.Parse(id); err != nil || u.Version() != 7 {
		t.Errorf("lease name %q does not end in a UUIDv7 (%v)", got.Name, err)
	}
	if got.GetClient() != "namespaces/lab/clients/alice" || got.Selector != "board=rpi4" || got.Duration.AsDuration() != 30*time.Minute ||
		len(got.Conditions) != 0 || got.Exporter != nil || got.EffectiveBeginTime != nil {
		t.Errorf("CreateLease = %v", got)
	}
	stored := h.lease("lab", id)
	if stored.Spec.ClientRef.Name != "alice" || stored.Spec.Selector.MatchLabels["board"] != "rpi4" || stored.Spec.ExporterRef != nil ||
		stored.Labels["board"] != "rpi4" || stored.Labels["metadata.jumpstarter.dev/team"] != "qa" || stored.Spec.Context["build"] != "42" {
		t.Errorf("stored lease = %#v", stored)
	}

	req.LeaseId = "my-lease"
	req.Lease.Selector = "board!=rpi5,board!=x86"
	got, err = h.srv.CreateLease(alice, req)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "namespaces/lab/leases/my-lease" || got.Selector != "board notin (rpi5,x86)" {
		t.Errorf("CreateLease with lease_id = %v", got)
	}

	before := h.leases()
	_, err = h.srv.CreateLease(as("lab", "bob"), req)
	wantStatus(t, err, codes.AlreadyExists, `lease "namespaces/lab/leases/my-lease" already exists`)
	h.unchanged(before)
}

func TestCreateLeaseRefused(t *testing.T) {
	manyTags := map[string]string{}
	for i := range 11 {
		manyTags[fmt.Sprintf("tag%d", i)] = "v"
	}
	hour := durationpb.New(time.Hour)
	tests := []struct {
		name  string
		ctx   context.Context
		req   *clientv1.CreateLeaseRequest
		code  codes.Code
		parts []string
	}{
		{"no lease", alice, &clientv1.CreateLeaseRequest{Parent: "namespaces/lab"}, codes.InvalidArgument, []string{"lease: required"}},
		{"no target", alice, &clientv1.CreateLeaseRequest{Parent: "namespaces/lab", Lease: &clientv1.Lease{Duration: hour, ExporterName: ptr.To("")}},
			codes.InvalidArgument, []string{"one of selector or exporter_name is required"}},
		{"malformed selector", alice, &clientv1.CreateLeaseRequest{Parent: "namespaces/lab", Lease: &clientv1.Lease{Selector: "board in rpi4", Duration: hour}},
			codes.InvalidArgument, []string{"lease.selector", `"board in rpi4"`}},
		{"100 KB selector", alice, &clientv1.CreateLeaseRequest{Parent: "namespaces/lab",
			Lease: &clientv1.Lease{Selector: "board=" + strings.Repeat("x", 100_000), Duration: hour}},
			codes.InvalidArgument, []string{"lease.selector", "longer than the limit"}},
		{"too many tags", alice, &clientv1.CreateLeaseRequest{Parent: "namespaces/lab", Lease: &clientv1.Lease{Selector: "a=b", Duration: hour, Tags: manyTags}},
			codes.InvalidArgument, []string{"lease.tags"}},
		{"context too long", alice, &clientv1.CreateLeaseRequest{Parent: "namespaces/lab",
			Lease: &clientv1.Lease{Selector: "a=b", Duration: hour, Context: map[string]string{"k": strings.Repeat("v", 100_000)}}},
			codes.InvalidArgument, []string{"lease.context"}},
		{"inconsistent times", alice, &clientv1.CreateLeaseRequest{Parent: "namespaces/lab", Lease: &clientv1.Lease{Selector: "a=b",
			BeginTime: timestamppb.New(now), EndTime: timestamppb.New(now.Add(time.Hour)), Duration: durationpb.New(time.Minute)}},
			codes.InvalidArgument, []string{"lease.duration", "conflicts"}},
		{"no duration", alice, &clientv1.CreateLeaseRequest{Parent: "namespaces/lab", Lease: &clientv1.Lease{Selector: "a=b"}},
			codes.InvalidArgument, []string{"lease.duration"}},
		{"bad lease id", alice, &clientv1.CreateLeaseRequest{Parent: "namespaces/lab", LeaseId: "Not_Valid",
			Lease: &clientv1.Lease{Selector: "a=b", Duration: hour}}, codes.InvalidArgument, []string{"lease_id"}},
		{"other namespace", alice, &clientv1.CreateLeaseRequest{Parent: "namespaces/other",
			Lease: &clientv1.Lease{Selector: "a=b", Duration: hour}}, codes.PermissionDenied, []string{"namespace mismatch"}},
		{"exporter caller", identity.NewContext(context.Background(), identity.Identity{Kind: identity.KindExporter, Namespace: "lab", Name: "board1"}),
			&clientv1.CreateLeaseRequest{Parent: "namespaces/lab", Lease: &clientv1.Lease{Selector: "a=b", Duration: hour}},
			codes.InvalidArgument, []string{"object kind mismatch"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			before := h.leases()
			_, err := h.srv.CreateLease(tt.ctx, tt.req)
			wantStatus(t, err, tt.code, tt.parts...)
			h.unchanged(before)
		})
	}
}

func TestUpdateLease(t *testing.T) {
	name := "namespaces/lab/leases/active"
	tests := []struct {
		name  string
		ctx   context.Context
		req   *clientv1.UpdateLeaseRequest
		check func(*jumpstarterv1alpha1.Lease, *clientv1.Lease) bool
		code  codes.Code
		parts []string
	}{
		{"extend", alice, &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{Name: name, Duration: durationpb.New(2 * time.Hour)}},
			func(l *jumpstarterv1alpha1.Lease, out *clientv1.Lease) bool {
				return l.Spec.Duration.Duration == 2*time.Hour && out.Duration.AsDuration() == 2*time.Hour
			}, codes.OK, nil},
		{"end time", alice, &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{Name: name, EndTime: timestamppb.New(now.Add(time.Hour))},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"end_time"}}},
			func(l *jumpstarterv1alpha1.Lease, out *clientv1.Lease) bool {
				return l.Spec.EndTime.Time.Equal(now.Add(time.Hour)) && l.Spec.Duration.Duration == 70*time.Minute
			}, codes.OK, nil},
		{"transfer", alice, &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{Name: name, Client: ptr.To("namespaces/lab/clients/bob")},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"client"}}},
			func(l *jumpstarterv1alpha1.Lease, out *clientv1.Lease) bool {
				return l.Spec.ClientRef.Name == "bob" && out.GetClient() == "namespaces/lab/clients/bob"
			}, codes.OK, nil},
		{"mask leaves out the duration", alice, &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{Name: name, Duration: durationpb.New(5 * time.Hour),
			Client: ptr.To("namespaces/lab/clients/bob")}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"client"}}},
			func(l *jumpstarterv1alpha1.Lease, _ *clientv1.Lease) bool {
				return l.Spec.ClientRef.Name == "bob" && l.Spec.Duration.Duration == time.Hour
			}, codes.OK, nil},
		{"nothing to change", alice, &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{Name: name}},
			func(l *jumpstarterv1alpha1.Lease, out *clientv1.Lease) bool { return out.Name == name }, codes.OK, nil},
		{"not the owner", as("lab", "bob"), &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{Name: name, Duration: durationpb.New(2 * time.Hour)}},
			nil, codes.PermissionDenied, []string{"permission denied", name}},
		{"not the owner transfers to self", as("lab", "bob"), &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{Name: name,
			Client: ptr.To("namespaces/lab/clients/bob")}}, nil, codes.PermissionDenied, []string{"permission denied"}},
		{"unknown lease", alice, &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{Name: "namespaces/lab/leases/nope", Duration: durationpb.New(time.Hour)}},
			nil, codes.NotFound, []string{`lease "namespaces/lab/leases/nope" not found`}},
		{"unknown client", alice, &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{Name: name, Client: ptr.To("namespaces/lab/clients/nobody")}},
			nil, codes.InvalidArgument, []string{"lease.client", `"nobody"`}},
		{"client of another namespace", alice, &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{Name: name,
			Client: ptr.To("namespaces/other/clients/carol")}}, nil, codes.InvalidArgument, []string{"lease.client", "another namespace"}},
		{"transfer a waiting lease", as("lab", "bob"), &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{Name: "namespaces/lab/leases/waiting",
			Client: ptr.To("namespaces/lab/clients/alice")}}, nil, codes.FailedPrecondition, []string{"not active"}},
		{"begin time after start", alice, &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{Name: name, BeginTime: timestamppb.New(now.Add(time.Hour))}},
			nil, codes.FailedPrecondition, []string{"begin_time"}},
		{"ended lease", alice, &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{Name: "namespaces/lab/leases/ended", Duration: durationpb.New(time.Hour)}},
			nil, codes.FailedPrecondition, []string{"has already ended"}},
		{"immutable field in mask", alice, &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{Name: name, Selector: "board=rpi5"},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"selector"}}}, nil, codes.InvalidArgument, []string{"update_mask", "immutable"}},
		{"zero duration", alice, &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{Name: name, Duration: durationpb.New(0)}},
			nil, codes.InvalidArgument, []string{"lease.duration"}},
		{"no lease", alice, &clientv1.UpdateLeaseRequest{}, nil, codes.InvalidArgument, []string{"lease"}},
		{"other namespace", alice, &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{Name: "namespaces/other/leases/foreign",
			Duration: durationpb.New(time.Hour)}}, nil, codes.PermissionDenied, []string{"namespace mismatch"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			before := h.leases()
			out, err := h.srv.UpdateLease(tt.ctx, tt.req)
			wantStatus(t, err, tt.code, tt.parts...)
			if err != nil {
				h.unchanged(before)
				return
			}
			key, _ := strings.CutPrefix(tt.req.Lease.Name, "namespaces/lab/leases/")
			if stored := h.lease("lab", key); !tt.check(stored, out) {
				t.Errorf("after update: stored %#v\nanswer %v", stored.Spec, out)
			}
		})
	}
}

// An active lease within ReleaseAhead of its end has handed its exporter on: its end can move
// earlier, not later. The harness's active lease ends 50 minutes from now.
func TestUpdateLeaseWithinReleaseAhead(t *testing.T) {
	name := "namespaces/lab/leases/active"
	tests := []struct {
		name     string
		ahead    time.Duration
		duration time.Duration
		code     codes.Code
	}{
		{"extend before the window", 49 * time.Minute, 2 * time.Hour, codes.OK},
		{"extend within the window", 51 * time.Minute, 2 * time.Hour, codes.FailedPrecondition},
		{"shorten within the window", 51 * time.Minute, 30 * time.Minute, codes.OK},
		{"extend with releasing ahead off", 0, 2 * time.Hour, codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.srv.ReleaseAhead = tt.ahead
			before := h.leases()
			_, err := h.srv.UpdateLease(alice, &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{Name: name, Duration: durationpb.New(tt.duration)}})
			if tt.code != codes.OK {
				wantStatus(t, err, tt.code, name, "ends in 50m0s", "handing its exporter to the next lease")
				h.unchanged(before)
				return
			}
			wantStatus(t, err, codes.OK)
			if got := h.lease("lab", "active").Spec.Duration.Duration; got != tt.duration {
				t.Errorf("duration %v, want %v", got, tt.duration)
			}
		})
	}
}

func TestDeleteLease(t *testing.T) {
	tests := []struct {
		name  string
		ctx   context.Context
		req   string
		code  codes.Code
		parts []string
	}{
		{"own", alice, "namespaces/lab/leases/active", codes.OK, nil},
		{"own, waiting", as("lab", "bob"), "namespaces/lab/leases/waiting", codes.OK, nil},
		{"not the owner", as("lab", "bob"), "namespaces/lab/leases/active", codes.PermissionDenied, []string{"permission denied"}},
		{"unknown", alice, "namespaces/lab/leases/nope", codes.NotFound, []string{`lease "namespaces/lab/leases/nope" not found`}},
		{"other namespace", alice, "namespaces/other/leases/foreign", codes.PermissionDenied, []string{"namespace mismatch"}},
		{"malformed", alice, "leases/active", codes.InvalidArgument, []string{"name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			before := h.leases()
			_, err := h.srv.DeleteLease(tt.ctx, &clientv1.DeleteLeaseRequest{Name: tt.req})
			wantStatus(t, err, tt.code, tt.parts...)
			if err != nil {
				h.unchanged(before)
				return
			}
			key := strings.TrimPrefix(tt.req, "namespaces/lab/leases/")
			if !h.lease("lab", key).Spec.Release {
				t.Errorf("lease %s not marked for release", key)
			}
			// Released leases stay readable, and a second release is refused.
			if _, err := h.srv.GetLease(tt.ctx, &clientv1.GetLeaseRequest{Name: tt.req}); err != nil {
				t.Error(err)
			}
			before = h.leases()
			_, err = h.srv.DeleteLease(tt.ctx, &clientv1.DeleteLeaseRequest{Name: tt.req})
			wantStatus(t, err, codes.FailedPrecondition, fmt.Sprintf("lease %q has already been released", tt.req))
			h.unchanged(before)
		})
	}
}

// A write on a stale copy fails on the optimistic lock and is redone on fresh data.
func TestDeleteLeaseRetriesConflicts(t *testing.T) {
	conflicts := 0
	c := newFake(t, &interceptor.Funcs{Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
		if conflicts < 2 {
			conflicts++
			return apierrors.NewConflict(schema.GroupResource{Group: "jumpstarter.dev", Resource: "leases"}, obj.GetName(), errors.New("stale"))
		}
		return c.Patch(ctx, obj, patch, opts...)
	}}, fixtures()...)
	srv := &Server{Reader: c, APIReader: c, Client: c}
	if _, err := srv.DeleteLease(alice, &clientv1.DeleteLeaseRequest{Name: "namespaces/lab/leases/active"}); err != nil {
		t.Fatal(err)
	}
	if conflicts != 2 {
		t.Errorf("%d conflicts, want 2", conflicts)
	}

	// A stale cache: the lease changed on the server since the cache saw it.
	stale := newFake(t, nil, fixtures()...)
	live := newFake(t, nil, fixtures()...)
	lease := &jumpstarterv1alpha1.Lease{}
	if err := live.Get(context.Background(), client.ObjectKey{Namespace: "lab", Name: "active"}, lease); err != nil {
		t.Fatal(err)
	}
	lease.Spec.Duration.Duration = 3 * time.Hour
	if err := live.Update(context.Background(), lease); err != nil {
		t.Fatal(err)
	}
	srv = &Server{Reader: stale, APIReader: live, Client: live}
	if _, err := srv.DeleteLease(alice, &clientv1.DeleteLeaseRequest{Name: "namespaces/lab/leases/active"}); err != nil {
		t.Fatal(err)
	}
	if err := live.Get(context.Background(), client.ObjectKey{Namespace: "lab", Name: "active"}, lease); err != nil {
		t.Fatal(err)
	}
	if !lease.Spec.Release || lease.Spec.Duration.Duration != 3*time.Hour {
		t.Errorf("after release on a stale cache: %#v", lease.Spec)
	}
}

func TestCheckNamespaceHook(t *testing.T) {
	h := newHarness(t)
	var asked []string
	h.srv.CheckNamespace = func(_ context.Context, ns string) error {
		asked = append(asked, ns)
		return nil
	}
	if _, err := h.srv.GetLease(alice, &clientv1.GetLeaseRequest{Name: "namespaces/other/leases/foreign"}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(asked, []string{"other"}) {
		t.Errorf("CheckNamespace asked for %v", asked)
	}
}

// Under access policies, an active lease cannot be transferred to a client the policies keep
// from its exporter, nor extended past the maximumDuration that let it in. The policy opens
// the rpi4 boards to QA clients (alice) for up to 90 minutes; the active lease (alice, board1,
// an hour) is within it.
func TestUpdateLeaseUnderAccessPolicies(t *testing.T) {
	name := "namespaces/lab/leases/active"
	policy := &jumpstarterv1alpha1.ExporterAccessPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: "lab", Name: "qa"},
		Spec: jumpstarterv1alpha1.ExporterAccessPolicySpec{
			ExporterSelector: metav1.LabelSelector{MatchLabels: map[string]string{"board": "rpi4"}},
			Policies: []jumpstarterv1alpha1.Policy{{
				Priority:        10,
				MaximumDuration: &metav1.Duration{Duration: 90 * time.Minute},
				From:            []jumpstarterv1alpha1.From{{ClientSelector: metav1.LabelSelector{MatchLabels: map[string]string{"team": "qa"}}}},
			}},
		},
	}
	tests := []struct {
		name  string
		req   *clientv1.UpdateLeaseRequest
		code  codes.Code
		parts []string
	}{
		{"extend within the maximum", &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{Name: name, Duration: durationpb.New(80 * time.Minute)}},
			codes.OK, nil},
		{"extend past the maximum", &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{Name: name, Duration: durationpb.New(2 * time.Hour)}},
			codes.PermissionDenied, []string{`do not let client "alice" have exporter "board1" for 2h0m0s`, "exporteraccesspolicy qa spec.policies[0] allows at most 1h30m0s"}},
		{"transfer to a client the policy does not name", &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{Name: name,
			Client: ptr.To("namespaces/lab/clients/bob")}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"client"}}},
			codes.PermissionDenied, []string{`do not let client "bob" have exporter "board1"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := append(fixtures(), policy)
			for _, o := range objs {
				if c, ok := o.(*jumpstarterv1alpha1.Client); ok && c.Name == "alice" {
					c.Labels = map[string]string{"team": "qa"}
				}
			}
			h := newHarness(t, objs...)
			before := h.leases()
			_, err := h.srv.UpdateLease(alice, tt.req)
			wantStatus(t, err, tt.code, tt.parts...)
			if err != nil {
				h.unchanged(before)
			}
		})
	}
}
