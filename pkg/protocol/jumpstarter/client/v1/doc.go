// Package clientv1 holds the Go types and gRPC stubs of the proto package
// jumpstarter.client.v1: ClientService, the controller's resource-oriented API for clients
// (exporters and leases named namespaces/{ns}/exporters/{name} and
// namespaces/{ns}/leases/{id}), with its messages.
//
// GetLeaseRequest, ListLeasesRequest and ListLeasesResponse also exist in jumpstarterv1 with
// other shapes; they are different types.
//
// Everything but this file is generated from proto/jumpstarter/client/v1 by `make generate`;
// do not edit it by hand.
package clientv1
