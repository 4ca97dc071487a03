// Package routertoken mints and verifies router tokens: the tickets the controller hands to
// both ends of a tunnel on Dial (DialResponse to the client, ListenResponse to the exporter),
// which they present to a router to be paired (wire contract §3.10).
//
// A token is an HS256 JWT under a secret the controller and the routers share. Its subject is
// the stream id, a fresh UUID per Dial that the router pairs the two streams by. It also names
// the lease it was minted for (namespace, name and UID: the UID tells a lease from a later one
// of the same name, which is the lease's epoch), and it expires 30 minutes after minting or at
// the lease's end, whichever is first, so that a router can refuse a ticket that outlived its
// lease without asking the API server.
//
// The secret is text (like the reference's ROUTER_KEY) read from a file, or from the Secret
// jumpstarter-router-key in the controller's namespace that the first replica creates and the
// routers mount.
package routertoken
