package authn

import (
	"context"
	"fmt"
	"slices"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/token/cache"
	"k8s.io/apiserver/plugin/pkg/authenticator/token/webhook"
	"k8s.io/client-go/kubernetes"
)

const (
	// tokenReviewTimeout bounds one review, retries included.
	tokenReviewTimeout = 10 * time.Second
	// tokenReviewCacheTTL is how long a review's verdict is reused. A deleted pod's token
	// keeps working this long; in exchange a busy CI job costs one review per TTL, not one
	// per RPC.
	tokenReviewCacheTTL = 10 * time.Second
)

// DefaultServiceAccountIssuer is the service-account issuer of kubeadm, kind and most
// distributions (the kube-apiserver's --service-account-issuer).
const DefaultServiceAccountIssuer = "https://kubernetes.default.svc.cluster.local"

// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create

// NewServiceAccount accepts ServiceAccount tokens that the Kubernetes API accepts in a
// TokenReview, with the username system:serviceaccount:<ns>:<name>. Only JWTs are sent. With
// audiences, the token must have been issued for one of them.
//
// Only tokens whose (unverified) iss is one of issuers are reviewed: any caller can present a
// JWT-shaped string, and each review is a request to the API server, so tokens that cannot be
// ServiceAccount tokens must not cost one. Empty issuers means DefaultServiceAccountIssuer.
func NewServiceAccount(kube kubernetes.Interface, audiences, issuers []string) (authenticator.Token, error) {
	if len(issuers) == 0 {
		issuers = []string{DefaultServiceAccountIssuer}
	}
	noop := webhook.AuthenticatorMetrics{
		RecordRequestTotal:   func(context.Context, string) {},
		RecordRequestLatency: func(context.Context, string, float64) {},
	}
	review, err := webhook.NewFromInterface(kube.AuthenticationV1(), nil, *webhook.DefaultRetryBackoff(), tokenReviewTimeout, noop)
	if err != nil {
		return nil, fmt.Errorf("token review authenticator: %w", err)
	}
	// Errors are not cached, as in the kube-apiserver's webhook cache: an outage must not
	// outlive itself. The webhook reports most refused tokens as errors too, so those are
	// reviewed again each time; accepted tokens are the ones worth caching.
	cached := cache.New(review, false, tokenReviewCacheTTL, tokenReviewCacheTTL)
	auds := authenticator.Audiences(audiences)
	return authenticator.TokenFunc(func(ctx context.Context, raw string) (*authenticator.Response, bool, error) {
		if iss, ok := unverifiedIssuer(raw); !ok || !slices.Contains(issuers, iss) {
			return nil, false, nil
		}
		if len(auds) > 0 {
			// The webhook asks for these audiences and checks the answer; the cache keys on
			// them, so this goes outside the cache.
			ctx = authenticator.WithAudiences(ctx, auds)
		}
		resp, ok, err := cached.AuthenticateToken(ctx, raw)
		if !ok || err != nil {
			return nil, false, err
		}
		if _, _, err := serviceaccount.SplitUsername(resp.User.GetName()); err != nil {
			return nil, false, fmt.Errorf("the Kubernetes API authenticated the token as %q, which is not a ServiceAccount", resp.User.GetName())
		}
		return resp, true, nil
	}), nil
}
