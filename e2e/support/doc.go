// Package support holds what the end-to-end tests and benchmarks share: starting a local lab
// for a test binary, a typed client, a stand-in for exporter agents that keeps exporters
// online through status patches, helpers that wait on watches rather than polling, and
// connections to the controller's gRPC services that trust the lab CA and carry a client's
// or exporter's credentials per call, as the Jumpstarter tools do.
package support
