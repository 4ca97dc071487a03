// Package credentials gives every Client and Exporter its bearer token: a Secret
// <name>-client or <name>-exporter in the object's namespace, key "token", owned by the object
// (so it is garbage collected with it) and labelled jumpstarter.dev/credential=true. The
// reconciler issues the token, re-issues it when it is missing, invalid, issued to an earlier
// object of the same name, or close to expiry, and rotates it on request (the
// jumpstarter.dev/rotate-token annotation, or Store.Rotate for the RotateToken RPC).
//
// The stored token is the credential: Authenticator accepts a token only if, besides being a
// valid JWT, it is the one stored for a still existing object with the token's UID. Rotating a
// token therefore revokes the old one at once. A renewal near expiry keeps the old token
// (key "previous-token") until it expires, so that copies in config files keep working.
package credentials
