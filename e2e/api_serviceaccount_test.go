package e2e

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/durationpb"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/e2e/support"
	"jumpstarter.dev/service/pkg/leaseapi"
	clientv1 "jumpstarter.dev/service/pkg/protocol/jumpstarter/client/v1"
)

// TestServiceAccountClient: a pod's ServiceAccount token (here from the TokenRequest API, as a
// projected volume would hold it) acts as the Client whose spec.username names the account,
// through a TokenReview; no Secret is copied anywhere.
func TestServiceAccountClient(t *testing.T) {
	f := features.New("ServiceAccount client").
		Assess("a ServiceAccount token acts as its Client, and only as that", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			ns := newNamespace(ctx, t, "sa")
			kube, err := kubernetes.NewForConfig(shared.lab.RESTConfig())
			if err != nil {
				t.Fatal(err)
			}
			sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ci"}}
			if _, err := kube.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			tr, err := kube.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "ci", &authenticationv1.TokenRequest{
				Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)},
			}, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("token request: %v", err)
			}
			username := "system:serviceaccount:" + ns + ":ci"
			for _, c := range []*jumpstarterv1alpha1.Client{
				{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "pipeline"}, Spec: jumpstarterv1alpha1.ClientSpec{Username: ptr.To(username)}},
				{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "someone-else"}},
			} {
				if err := shared.client.Create(ctx, c); err != nil {
					t.Fatal(err)
				}
			}
			svc := labConn(t)
			parent := leaseapi.FormatNamespace(ns)
			as := func(name string) support.Caller {
				return support.Caller{Token: tr.Status.Token, Kind: support.KindClient, Namespace: ns, Name: name}
			}

			// The cache may not show the new Client for a moment.
			waitFor(ctx, t, "the ServiceAccount acting as its client", func(ctx context.Context) (bool, error) {
				_, err := svc.Client.ListExporters(ctx, &clientv1.ListExportersRequest{Parent: parent}, as("pipeline").Call())
				return err == nil, nil
			})
			lease, err := svc.Client.CreateLease(ctx, &clientv1.CreateLeaseRequest{Parent: parent, Lease: &clientv1.Lease{
				Selector: "board=none", Duration: durationpb.New(time.Minute),
			}}, as("pipeline").Call())
			if err != nil {
				t.Fatalf("create lease as the ServiceAccount: %v", err)
			}
			if want := leaseapi.FormatClientName(ns, "pipeline"); lease.GetClient() != want {
				t.Errorf("lease client %q, want %q", lease.GetClient(), want)
			}

			_, err = svc.Client.ListExporters(ctx, &clientv1.ListExportersRequest{Parent: parent}, as("someone-else").Call())
			wantCode(t, "the ServiceAccount as another client", err, codes.PermissionDenied, "permission denied", "someone-else")
			_, err = svc.Client.ListExporters(ctx, &clientv1.ListExportersRequest{Parent: parent}, as("pipeline").WithToken(tr.Status.Token+"x").Call())
			if err == nil {
				t.Error("a tampered ServiceAccount token was accepted")
			}
			return ctx
		}).Feature()
	testenv.Test(t, f)
}
