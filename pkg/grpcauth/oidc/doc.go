// Package oidc authenticates bearer tokens of external OpenID Connect issuers, configured with
// the Kubernetes structured authentication schema: an AuthenticationConfiguration
// (apiserver.config.k8s.io/v1) whose jwt list holds one JWTAuthenticator per issuer, with
// audiences, claim validation rules and username/groups/uid claim mappings (plain claims or
// CEL).
//
// Nothing here validates a JWT by hand. The file is decoded with the apiserver's own scheme
// (strict, with conversion from v1beta1/v1alpha1 and defaulting), validated by the apiserver's
// validation package, and every entry becomes the kube-apiserver's own JWT authenticator
// (k8s.io/apiserver/plugin/pkg/authenticator/token/oidc): discovery, JWKS fetching and
// rotation, signature, issuer, audience and expiry checks, CEL claim rules. An administrator
// who configured a kube-apiserver for an issuer can therefore reuse the same jwt entry here,
// and the semantics are the ones documented for Kubernetes.
//
// Issuers are initialised in the background (discovery and key fetch); until an issuer is
// ready its tokens are refused with "oidc: authenticator not initialized" and HealthCheck
// reports it.
package oidc
