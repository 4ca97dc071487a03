// Package routers is the controller's list of routers and the choice of one for a Dial (wire
// contract §3.9, "pick a router").
//
// The list comes from a YAML file, a map from router name to its advertised endpoint and
// labels, the shape of the reference controller's router config:
//
//	default:
//	  endpoint: router.lab.example:8083
//	site-b:
//	  endpoint: router-b.lab.example:8083
//	  labels: {site: b}
//
// A Dial hands the same ticket to the client and the exporter, so both always meet on the
// router picked for it. The choice is deterministic, so that every replica of the controller
// makes the same one: the contract's score first, then, among equal scores (which the
// contract leaves arbitrary), the router whose labels the exporter carries most of, then the
// name.
package routers
