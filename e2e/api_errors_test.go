package e2e

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/e2e/support"
	"jumpstarter.dev/service/pkg/auth/token"
	"jumpstarter.dev/service/pkg/leaseapi"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
	jumpstarterv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/v1"
)

func apiErrors() features.Feature {
	return features.New("gRPC API errors").
		Assess("bad credentials, foreign leases, bad selectors, unknown names and oversized fields are refused and change nothing", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			ns := newNamespace(ctx, t, "apierr")
			parent := leaseapi.FormatNamespace(ns)
			svc := labConn(t)
			alice := newAPIClient(ctx, t, ns, "alice")
			bob := newAPIClient(ctx, t, ns, "bob")
			createExporter(ctx, t, ns, "e1", rpi4, true, true)
			e1, err := support.WaitForCaller(ctx, shared.client, token.KindExporter, ns, "e1", waitTimeout)
			if err != nil {
				t.Fatal(err)
			}

			// alice holds a granted lease.
			held, err := svc.Client.CreateLease(ctx, &clientv1.CreateLeaseRequest{Parent: parent, LeaseId: "held", Lease: &clientv1.Lease{
				Selector: "board=rpi4", Duration: durationpb.New(time.Hour),
			}}, alice.Call())
			if err != nil {
				t.Fatalf("CreateLease: %v", err)
			}
			acquire(ctx, t, svc, alice, held.GetName())

			expired := expiredToken(ctx, t, ns, "alice")
			listLeases := func(ctx context.Context, c support.Caller) error {
				_, err := svc.Client.ListLeases(ctx, &clientv1.ListLeasesRequest{Parent: parent}, c.Call())
				return err
			}
			otherNS := ns + "-other"
			tooManyTags := map[string]string{}
			for i := range 50 {
				tooManyTags[fmt.Sprintf("t%02d", i)] = "x"
			}
			tooMuchContext := map[string]string{}
			for i := range leaseapi.MaxContextEntries + 1 {
				tooMuchContext[fmt.Sprintf("k%d", i)] = "v"
			}
			hugeSelector := "board in (" + strings.Repeat("rpi4,", 20_000) + "rpi4)"
			createLease := func(l *clientv1.Lease) func(context.Context) error {
				return func(ctx context.Context) error {
					_, err := svc.Client.CreateLease(ctx, &clientv1.CreateLeaseRequest{Parent: parent, Lease: l}, alice.Call())
					return err
				}
			}
			hour := durationpb.New(time.Hour)

			tests := []struct {
				name      string
				call      func(context.Context) error
				code      codes.Code
				fragments []string
			}{
				// Credentials (§3.2, §3.3).
				{"no authorization header", func(ctx context.Context) error {
					_, err := svc.Client.ListLeases(support.Context(ctx, "jumpstarter-kind", "Client", "jumpstarter-namespace", ns, "jumpstarter-name", "alice"),
						&clientv1.ListLeasesRequest{Parent: parent})
					return err
				}, codes.Unauthenticated, []string{"missing authorization header"}},
				{"not a bearer token", func(ctx context.Context) error {
					_, err := svc.Client.ListLeases(support.Context(ctx, "authorization", "Basic "+alice.Token, "jumpstarter-kind", "Client",
						"jumpstarter-namespace", ns, "jumpstarter-name", "alice"), &clientv1.ListLeasesRequest{Parent: parent})
					return err
				}, codes.InvalidArgument, []string{"malformed authorization header"}},
				{"garbage token", func(ctx context.Context) error { return listLeases(ctx, alice.WithToken("garbage")) },
					codes.Unknown, []string{"invalid token"}},
				{"token of another issuer's key", func(ctx context.Context) error { return listLeases(ctx, alice.WithToken(foreignToken(t, ns, "alice"))) },
					codes.Unknown, []string{"invalid token", "signature"}},
				{"expired token", func(ctx context.Context) error { return listLeases(ctx, alice.WithToken(expired)) },
					codes.Unknown, []string{"token is expired"}},
				{"no jumpstarter-kind", func(ctx context.Context) error {
					_, err := svc.Client.ListLeases(support.Context(ctx, "authorization", "Bearer "+alice.Token, "jumpstarter-namespace", ns, "jumpstarter-name", "alice"),
						&clientv1.ListLeasesRequest{Parent: parent})
					return err
				}, codes.InvalidArgument, []string{"missing metadata: jumpstarter-kind"}},
				{"no jumpstarter-name", func(ctx context.Context) error {
					return listLeases(ctx, support.Caller{Token: alice.Token, Kind: support.KindClient, Namespace: ns})
				},
					codes.InvalidArgument, []string{"resource name required"}},
				{"alice's token as bob", func(ctx context.Context) error {
					return listLeases(ctx, support.Caller{Token: alice.Token, Kind: support.KindClient, Namespace: ns, Name: "bob"})
				}, codes.PermissionDenied, []string{"permission denied for client " + ns + "/bob"}},
				{"exporter token on a client call, as an exporter", func(ctx context.Context) error { return listLeases(ctx, e1) },
					codes.InvalidArgument, []string{"object kind mismatch"}},
				{"exporter token on a client call, as a client", func(ctx context.Context) error {
					return listLeases(ctx, support.Caller{Token: e1.Token, Kind: support.KindClient, Namespace: ns, Name: "e1"})
				}, codes.PermissionDenied, []string{"permission denied for client " + ns + "/e1"}},
				{"client token on an exporter call", func(ctx context.Context) error {
					_, err := svc.Controller.Register(ctx, &jumpstarterv1.RegisterRequest{}, alice.Call())
					return err
				}, codes.InvalidArgument, []string{"object kind mismatch"}},
				{"another namespace", func(ctx context.Context) error {
					_, err := svc.Client.ListLeases(ctx, &clientv1.ListLeasesRequest{Parent: leaseapi.FormatNamespace(otherNS)}, alice.Call())
					return err
				}, codes.PermissionDenied, []string{"namespace mismatch", otherNS}},

				// Another client's lease (§3.6 ownership).
				{"bob deletes alice's lease", func(ctx context.Context) error {
					_, err := svc.Client.DeleteLease(ctx, &clientv1.DeleteLeaseRequest{Name: held.GetName()}, bob.Call())
					return err
				}, codes.PermissionDenied, []string{"permission denied", held.GetName()}},
				{"bob extends alice's lease", func(ctx context.Context) error {
					_, err := svc.Client.UpdateLease(ctx, &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{Name: held.GetName(), Duration: durationpb.New(2 * time.Hour)}}, bob.Call())
					return err
				}, codes.PermissionDenied, []string{"permission denied", held.GetName()}},
				{"bob dials alice's lease", func(ctx context.Context) error {
					_, err := svc.Controller.Dial(ctx, &jumpstarterv1.DialRequest{LeaseName: "held"}, bob.Call())
					return err
				}, codes.Unknown, []string{"permission denied"}},
				{"bob reads alice's lease the legacy way", func(ctx context.Context) error {
					_, err := svc.Controller.GetLease(ctx, &jumpstarterv1.GetLeaseRequest{Name: "held"}, bob.Call())
					return err
				}, codes.PermissionDenied, []string{"permission denied"}},
				{"bob releases alice's lease the legacy way", func(ctx context.Context) error {
					_, err := svc.Controller.ReleaseLease(ctx, &jumpstarterv1.ReleaseLeaseRequest{Name: "held"}, bob.Call())
					return err
				}, codes.PermissionDenied, []string{"permission denied"}},

				// Malformed selectors and filters name the field and the selector.
				{"malformed lease selector", createLease(&clientv1.Lease{Selector: "board in (rpi4", Duration: hour}),
					codes.InvalidArgument, []string{"lease.selector", `"board in (rpi4"`}},
				{"lease selector with two values for one key", createLease(&clientv1.Lease{Selector: "board=rpi4,board=rpi5", Duration: hour}),
					codes.InvalidArgument, []string{"lease.selector", "board"}},
				{"no selector and no exporter", createLease(&clientv1.Lease{Duration: hour, ExporterName: ptr.To("")}),
					codes.InvalidArgument, []string{leaseapi.MsgSelectorOrExporterRequired}},
				{"malformed exporter filter", func(ctx context.Context) error {
					_, err := svc.Client.ListExporters(ctx, &clientv1.ListExportersRequest{Parent: parent, Filter: "board in (rpi4"}, alice.Call())
					return err
				}, codes.InvalidArgument, []string{"filter", `"board in (rpi4"`}},
				{"malformed tag filter", func(ctx context.Context) error {
					_, err := svc.Client.ListLeases(ctx, &clientv1.ListLeasesRequest{Parent: parent, TagFilter: "team in qa"}, alice.Call())
					return err
				}, codes.InvalidArgument, []string{"tag_filter", `"team in qa"`}},
				{"malformed legacy selector", func(ctx context.Context) error {
					_, err := svc.Controller.RequestLease(ctx, &jumpstarterv1.RequestLeaseRequest{Duration: hour, Selector: &jumpstarterv1.LabelSelector{
						MatchExpressions: []*jumpstarterv1.LabelSelectorRequirement{{Key: "board", Operator: "Near", Values: []string{"x"}}},
					}}, alice.Call())
					return err
				}, codes.InvalidArgument, []string{"selector.matchExpressions[0].operator"}},
				{"malformed lease name", func(ctx context.Context) error {
					_, err := svc.Client.GetLease(ctx, &clientv1.GetLeaseRequest{Name: "leases/held"}, alice.Call())
					return err
				}, codes.InvalidArgument, []string{"name", `"leases/held"`}},

				// Unknown names.
				{"unknown lease", func(ctx context.Context) error {
					_, err := svc.Client.GetLease(ctx, &clientv1.GetLeaseRequest{Name: parent + "/leases/nope"}, alice.Call())
					return err
				}, codes.NotFound, []string{`lease "` + parent + `/leases/nope" not found`}},
				{"delete an unknown lease", func(ctx context.Context) error {
					_, err := svc.Client.DeleteLease(ctx, &clientv1.DeleteLeaseRequest{Name: parent + "/leases/nope"}, alice.Call())
					return err
				}, codes.NotFound, []string{parent + "/leases/nope"}},
				{"update an unknown lease", func(ctx context.Context) error {
					_, err := svc.Client.UpdateLease(ctx, &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{Name: parent + "/leases/nope", Duration: hour}}, alice.Call())
					return err
				}, codes.NotFound, []string{parent + "/leases/nope"}},
				{"unknown exporter", func(ctx context.Context) error {
					_, err := svc.Client.GetExporter(ctx, &clientv1.GetExporterRequest{Name: parent + "/exporters/nope"}, alice.Call())
					return err
				}, codes.NotFound, []string{`exporter "` + parent + `/exporters/nope" not found`}},
				{"unknown lease, legacy", func(ctx context.Context) error {
					_, err := svc.Controller.GetLease(ctx, &jumpstarterv1.GetLeaseRequest{Name: "nope"}, alice.Call())
					return err
				}, codes.NotFound, []string{`lease "nope" not found`}},
				{"exporter releases an unknown lease", func(ctx context.Context) error {
					_, err := svc.Controller.ReleaseLease(ctx, &jumpstarterv1.ReleaseLeaseRequest{Name: "nope"}, e1.Call())
					return err
				}, codes.NotFound, []string{`lease "nope" not found`}},
				{"transfer to an unknown client", func(ctx context.Context) error {
					_, err := svc.Client.UpdateLease(ctx, &clientv1.UpdateLeaseRequest{Lease: &clientv1.Lease{Name: held.GetName(), Client: ptr.To(parent + "/clients/nope")}}, alice.Call())
					return err
				}, codes.InvalidArgument, []string{"lease.client", `"nope"`}},

				// Oversized fields.
				{"100 KB selector", createLease(&clientv1.Lease{Selector: hugeSelector, Duration: hour}),
					codes.InvalidArgument, []string{"lease.selector", "longer than the limit"}},
				{"100 KB filter", func(ctx context.Context) error {
					_, err := svc.Client.ListExporters(ctx, &clientv1.ListExportersRequest{Parent: parent, Filter: hugeSelector}, alice.Call())
					return err
				}, codes.InvalidArgument, []string{"filter", "longer than the limit"}},
				{"50 tags", createLease(&clientv1.Lease{Selector: "board=rpi4", Duration: hour, Tags: tooManyTags}),
					codes.InvalidArgument, []string{"lease.tags", "50"}},
				{"too much context", createLease(&clientv1.Lease{Selector: "board=rpi4", Duration: hour, Context: tooMuchContext}),
					codes.InvalidArgument, []string{"lease.context"}},
				{"too long a lease id", func(ctx context.Context) error {
					_, err := svc.Client.CreateLease(ctx, &clientv1.CreateLeaseRequest{Parent: parent, LeaseId: strings.Repeat("a", 100),
						Lease: &clientv1.Lease{Selector: "board=rpi4", Duration: hour}}, alice.Call())
					return err
				}, codes.InvalidArgument, []string{"lease_id"}},
			}
			before := leaseVersions(ctx, t, ns)
			secretsBefore := credentialVersions(ctx, t, ns, "alice-client", "bob-client", "e1-exporter")
			for _, tt := range tests {
				callCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
				err := tt.call(callCtx)
				cancel()
				wantCode(t, tt.name, err, tt.code, tt.fragments...)
				if after := leaseVersions(ctx, t, ns); !maps.Equal(after, before) {
					t.Errorf("%s changed the leases: %v, before %v", tt.name, after, before)
					before = after
				}
			}
			if after := credentialVersions(ctx, t, ns, "alice-client", "bob-client", "e1-exporter"); !maps.Equal(after, secretsBefore) {
				t.Errorf("refused calls changed credentials: %v, before %v", after, secretsBefore)
			}
			if l, err := svc.Client.GetLease(ctx, &clientv1.GetLeaseRequest{Name: held.GetName()}, alice.Call()); err != nil ||
				!conditionIs(l.GetConditions(), jumpstarterv1alpha1.LeaseConditionReady, "True") || l.GetDuration().AsDuration() != time.Hour ||
				l.GetClient() != leaseapi.FormatClientName(ns, "alice") {
				t.Errorf("alice's lease after the refused calls: %v %v", l, err)
			}
			return ctx
		}).Feature()
}

// expiredToken mints a token for the client with the lab controller's own key, an hour in
// the past, so that only its expiry is wrong.
func expiredToken(ctx context.Context, t *testing.T, ns, name string) string {
	t.Helper()
	keySecret := &corev1.Secret{}
	if err := shared.client.Get(ctx, types.NamespacedName{Namespace: labControllerNamespace, Name: token.SigningKeySecretName}, keySecret); err != nil {
		t.Fatalf("the controller's signing key: %v", err)
	}
	key, err := token.ParsePrivateKeyPEM(keySecret.Data[token.SigningKeySecretKey])
	if err != nil {
		t.Fatal(err)
	}
	return mintToken(ctx, t, key, clocktesting.NewFakePassiveClock(time.Now().Add(-3*time.Hour)), ns, name)
}

// foreignToken is a well-formed token with the controller's issuer, signed by another key.
func foreignToken(t *testing.T, ns, name string) string {
	t.Helper()
	key, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return mintToken(context.Background(), t, key, clock.RealClock{}, ns, name)
}

func mintToken(ctx context.Context, t *testing.T, key *ecdsa.PrivateKey, clk clock.PassiveClock, ns, name string) string {
	t.Helper()
	c := &jumpstarterv1alpha1.Client{}
	if err := shared.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, c); err != nil {
		t.Fatal(err)
	}
	issuer, err := token.NewIssuer(key, token.DefaultIssuer, time.Hour, clk)
	if err != nil {
		t.Fatal(err)
	}
	raw, _, err := issuer.Issue(token.Subject{Kind: token.KindClient, Namespace: ns, Name: name, UID: c.UID})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// credentialVersions are the resourceVersions of credential Secrets.
func credentialVersions(ctx context.Context, t *testing.T, ns string, names ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, n := range names {
		s := &corev1.Secret{}
		if err := shared.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: n}, s); err != nil {
			t.Fatal(err)
		}
		out[n] = s.ResourceVersion
	}
	return out
}
