// Package support holds what the end-to-end tests and benchmarks share: starting a local lab
// for a test binary, a typed client, a stand-in for exporter agents that keeps exporters
// online through status patches, and helpers that wait on watches rather than polling.
package support
