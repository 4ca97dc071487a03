// Package demoagent sets up the demo exporter that a real Go exporter agent (bin/exporter)
// serves in the local lab: it creates the exporter, writes its ExporterConfig with a shell and
// a tcp driver, and writes the demo client's ClientConfig, all through the same admin code as
// `jmpctl admin`. It is apart from package demo, which package lab imports, because it builds
// on the admin CLI code, whose tests use package lab.
package demoagent
