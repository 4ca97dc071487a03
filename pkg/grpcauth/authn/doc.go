// Package authn turns a bearer token into a username. It is one authenticator.Token (the
// kube-apiserver's interface) made of up to three, tried in this order:
//
//  1. Internal: tokens this controller issued, checked by credentials.Authenticator
//     (signature, expiry, and that the token is still the stored credential of an existing
//     object, so a rotated token is refused at once). The username is
//     "internal:" + sub, e.g. "internal:client:lab:alice:<uid>".
//  2. OIDC: external issuers from an AuthenticationConfiguration file (package
//     grpcauth/oidc, the apiserver's own JWT authenticator). Usernames follow the file's
//     claimMappings.
//  3. ServiceAccount: any other JWT is sent to the Kubernetes TokenReview API (the
//     apiserver's webhook token authenticator over a clientset, results cached briefly), and
//     accepted only if it names a ServiceAccount: "system:serviceaccount:<ns>:<name>".
//
// Each of them only answers for the tokens it owns (the internal and OIDC ones by the
// token's unverified iss claim, which the kube-apiserver routes by as well) and returns
// "not mine" for the others. The union stops at the first error, so the owner's verdict
// reaches the caller unchanged (an expired token says "token is expired", which clients
// pattern-match) and a token that an issuer refused is never forwarded to TokenReview.
//
// The username's form tells the authorization layer where it came from, so the forms must
// not overlap: OIDC usernames in the internal prefix or in "system:" are refused, and
// TokenReview results that are not ServiceAccounts (bootstrap tokens, the cluster's own OIDC
// users) are refused too.
package authn
