// Package protocol is the root of the Jumpstarter wire protocol's generated Go code.
//
// The .proto files under proto/ restate the wire contract (shared/protocol/jumpstarter-wire.md,
// sections 1 and 2); `make generate` turns them into the packages below with the generators
// pinned in hack/gotools:
//
//   - jumpstarter/v1 (package jumpstarterv1): proto package jumpstarter.v1, with
//     ControllerService, ExporterService, RouterService and TelemetryService.
//   - jumpstarter/client/v1 (package clientv1): proto package jumpstarter.client.v1, with
//     ClientService.
//
// This package's tests hold the contract's tables and check the generated descriptors
// against them, so a renamed or renumbered field, enum value or method fails the build.
package protocol
