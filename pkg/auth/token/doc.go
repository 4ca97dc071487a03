// Package token issues and verifies the controller's internal bearer tokens: ES256 (P-256)
// JWTs whose subject names one Client or Exporter (client:<namespace>:<name>:<uid>, or
// exporter:…), with the claims of the reference implementation (iss, aud ["jumpstarter"],
// sub, iat, exp; no nbf, no jti). It also loads the signing key, from a PEM file or from a
// Secret in the controller's namespace that the first replica creates.
//
// Verification here is stateless: signature, algorithm, issuer, audience and expiry. Whether a
// token is still the current credential of its object is checked by package credentials.
package token
