// Package grpcauth authenticates and authorizes the controller's gRPC calls
// (jumpstarter.v1.ControllerService and jumpstarter.client.v1.ClientService) as the wire
// contract's §3.2 prescribes, and hands the services the caller as an identity.Identity in
// the context. Services never parse metadata or tokens.
//
// Wiring:
//
//	tokens, err := authn.New(ctx, authn.Options{Internal: credAuth, InternalIssuer: opts.TokenIssuer, ...})
//	auth, err := grpcauth.New(grpcauth.Config{Authenticator: tokens, Reader: mgr.GetCache()})
//	grpc.NewServer(grpc.ChainUnaryInterceptor(auth.Unary()), grpc.ChainStreamInterceptor(auth.Stream()), ...)
//
// A table maps each method to the kind of caller it is for: ClientService methods and the
// legacy client calls of ControllerService (Dial, GetLease, RequestLease, ListLeases) to
// Client, the exporter calls (Register, Unregister, ReportStatus, Status, Listen,
// GetServiceEndpoints) to Exporter, and ReleaseLease to Exporter when jumpstarter-kind is
// exactly "Exporter" and to Client otherwise. Other methods of these two services are
// refused, so that a method added to the protocol is closed until someone decides who may
// call it. Other services (health, reflection) are public.
//
// The chain, in the reference's order, so that clients see the codes and texts they expect:
//
//  1. metadata present, else INVALID_ARGUMENT "missing metadata";
//  2. an authorization header, else UNAUTHENTICATED "missing authorization header";
//  3. only one, else INVALID_ARGUMENT "multiple authorization headers";
//  4. "Bearer <token>" (prefix case-insensitive), else INVALID_ARGUMENT "malformed
//     authorization header";
//  5. the token authenticates (package authn: internal, OIDC, ServiceAccount), else
//     UNKNOWN with the authenticator's own text, e.g. "token is expired", which the Python
//     client looks for to offer a new login. It comes before any jumpstarter-* key is read,
//     so an unauthenticated caller never makes the controller look up objects;
//  6. jumpstarter-namespace and jumpstarter-kind, once each, else INVALID_ARGUMENT
//     "missing metadata: <key>" / "multiple metadata: <key>";
//  7. the object's name: internal and ServiceAccount callers must send jumpstarter-name
//     ("resource name required"); an external OIDC user is bound to objects by their
//     spec.username, so the name is that of the single object of the kind in the namespace
//     bound to the user, and a jumpstarter-name sent anyway must be one of those ("resource
//     name mismatch"). It comes after authentication because it depends on the username;
//  8. jumpstarter-kind is the kind the method is for, else INVALID_ARGUMENT "object kind
//     mismatch";
//  9. the username belongs to the named object: it is "internal:" + the object's token
//     subject (kind, namespace, name and UID), or the object's spec.username, else
//     PERMISSION_DENIED "permission denied for client <ns>/<name>". A missing object gets the
//     same answer, so names cannot be probed. It comes last because it is the only step that
//     needs the object, and it reads it from the cache.
//
// Step 10, the ClientService rule that the namespace in a resource name is the caller's,
// needs the request message, so the handlers run it with CheckNamespace.
//
// Namespaces and names that are not valid Kubernetes names are refused with INVALID_ARGUMENT
// "invalid metadata: <key>", a check the reference does not have; they could never name an
// object anyway.
package grpcauth
