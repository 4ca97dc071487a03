package authtest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/auth/token"
	"jumpstarter.dev/service/pkg/credentials"
)

// Namespace of the fixtures.
const Namespace = "lab"

// Lab is a fake cluster with the controller's token machinery.
type Lab struct {
	Client client.Client
	Clock  *clocktesting.FakeClock
	Issuer *token.Issuer
	Auth   *credentials.Authenticator
}

// NewLab holds objs in a fake client and signs tokens with a fresh key; its clock starts now.
func NewLab(t testing.TB, objs ...client.Object) *Lab {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := jumpstarterv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
	clock := clocktesting.NewFakeClock(time.Now())
	key, err := token.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	issuer, err := token.NewIssuer(key, "", time.Hour, clock)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := token.NewVerifier(&key.PublicKey, "", clock)
	if err != nil {
		t.Fatal(err)
	}
	return &Lab{Client: c, Clock: clock, Issuer: issuer, Auth: &credentials.Authenticator{Verifier: verifier, Reader: c}}
}

// Client is a Client in Namespace; username, if not empty, is its spec.username.
func Client(name string, uid types.UID, username string) *jumpstarterv1alpha1.Client {
	c := &jumpstarterv1alpha1.Client{ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: name, UID: uid}}
	if username != "" {
		c.Spec.Username = ptr.To(username)
	}
	return c
}

// Exporter is an Exporter in Namespace; username, if not empty, is its spec.username.
func Exporter(name string, uid types.UID, username string) *jumpstarterv1alpha1.Exporter {
	e := &jumpstarterv1alpha1.Exporter{ObjectMeta: metav1.ObjectMeta{Namespace: Namespace, Name: name, UID: uid}}
	if username != "" {
		e.Spec.Username = ptr.To(username)
	}
	return e
}

// Credential issues a token for obj (a Client or Exporter in the lab) and stores it as its
// current credential, replacing (revoking) an earlier one.
func (l *Lab) Credential(t testing.TB, obj client.Object) string {
	t.Helper()
	kind, err := credentials.KindOf(obj)
	if err != nil {
		t.Fatal(err)
	}
	raw, _, err := l.Issuer.Issue(token.Subject{Kind: kind, Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: obj.GetUID()})
	if err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: obj.GetNamespace(), Name: credentials.SecretName(kind, obj.GetName())},
		Data:       map[string][]byte{credentials.KeyToken: []byte(raw)},
	}
	ctx := context.Background()
	if err := l.Client.Create(ctx, secret); apierrors.IsAlreadyExists(err) {
		err = l.Client.Update(ctx, secret)
		if err != nil {
			t.Fatal(err)
		}
	} else if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TokenReviewAPI serves the TokenReview API over HTTP and answers each review with review.
// The returned clientset is a real one talking to it, so the apiserver's webhook
// authenticator runs its real code path (a fake clientset has no REST client it could use);
// the answers come from a reactor on the returned fake clientset, which also records the
// reviews.
func TokenReviewAPI(t testing.TB, review func(authenticationv1.TokenReviewSpec) authenticationv1.TokenReviewStatus) (kubernetes.Interface, *kubefake.Clientset) {
	t.Helper()
	fakeKube := kubefake.NewClientset()
	fakeKube.PrependReactor("create", "tokenreviews", func(action k8stesting.Action) (bool, runtime.Object, error) {
		in := action.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenReview)
		out := in.DeepCopy()
		out.Status = review(in.Spec)
		return true, out, nil
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/apis/authentication.k8s.io/v1/tokenreviews" {
			http.NotFound(w, r)
			return
		}
		in := &authenticationv1.TokenReview{}
		if err := json.NewDecoder(r.Body).Decode(in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		out, err := fakeKube.AuthenticationV1().TokenReviews().Create(r.Context(), in, metav1.CreateOptions{})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		out.APIVersion, out.Kind = "authentication.k8s.io/v1", "TokenReview"
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	kube, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL, ContentConfig: rest.ContentConfig{ContentType: "application/json"}})
	if err != nil {
		t.Fatal(err)
	}
	return kube, fakeKube
}

// Reviews are the tokens reviewed so far.
func Reviews(f *kubefake.Clientset) []string {
	var tokens []string
	for _, a := range f.Actions() {
		if c, ok := a.(k8stesting.CreateAction); ok {
			if tr, ok := c.GetObject().(*authenticationv1.TokenReview); ok {
				tokens = append(tokens, tr.Spec.Token)
			}
		}
	}
	return tokens
}

// ServiceAccountIssuer is the iss of the tokens ServiceAccountToken makes.
const ServiceAccountIssuer = "https://kubernetes.default.svc.cluster.local"

// ServiceAccountToken is a JWT-shaped token (unsigned: only the TokenReview fake judges it)
// for the ServiceAccount namespace/name.
func ServiceAccountToken(namespace, name string) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." +
		enc(map[string]string{"iss": ServiceAccountIssuer, "sub": "system:serviceaccount:" + namespace + ":" + name}) + ".c2ln"
}
