// Package demo fills a local lab with sample objects for "make run": namespace "lab", three
// Exporters, a Client and two Leases, and plays the exporters' agent (a status heartbeat) until
// the real exporter agent exists.
package demo
