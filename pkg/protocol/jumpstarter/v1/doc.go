// Package jumpstarterv1 holds the Go types and gRPC stubs of the proto package
// jumpstarter.v1: ControllerService (served by the controller to exporters and legacy
// clients), RouterService (served by the router, and by an exporter inside the tunnel),
// ExporterService (served by an exporter inside the tunnel, never by the controller) and
// TelemetryService, with their messages and enums.
//
// Everything but this file is generated from proto/jumpstarter/v1 by `make generate`;
// do not edit it by hand.
package jumpstarterv1
