// Package testissuer is a real, local OpenID Connect issuer for tests: an httptest TLS server
// serving discovery and JWKS, and ES256 tokens signed with go-jose. Tests of the OIDC wiring
// point an AuthenticationConfiguration at it, so the apiserver's authenticator fetches the
// keys over HTTPS exactly as it would from a real identity provider.
package testissuer
