// Package leaseapi holds the rules of the lease API that clients see, shared by the
// jumpstarter.client.v1 ClientService and the legacy lease calls of jumpstarter.v1
// ControllerService (wire contract §3.4–§3.6): resource names, label-selector strings, the
// validation of a requested lease (tags, context, times), the labels a lease is listed by,
// pagination tokens, and the conversion of Lease and Exporter objects into protocol messages.
//
// Everything here is a pure function of its arguments: no reads, no writes, no clock. The
// services do the I/O and call these functions, so both services answer the same request with
// the same code and the same message, and each rule is tested once, without a server.
//
// Errors are gRPC status errors that name the offending request field, because they go to the
// user as they are.
package leaseapi
