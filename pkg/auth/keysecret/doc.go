// Package keysecret keeps a generated key in a Kubernetes Secret: read it if the Secret exists,
// otherwise generate one and create the Secret. The controller's token signing key and the
// router token key are kept this way, so that every replica (and, for the router key, every
// router) uses the same key without an operator making one.
package keysecret
