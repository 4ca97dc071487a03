// Package cachegauge serves Prometheus gauges that count the objects of one kind in a
// controller's informer cache, grouped by label values, at each scrape. Counting at scrape
// time, rather than keeping gauges up to date from reconciles, cannot drift on a missed
// transition and is right from the first scrape after a restart.
package cachegauge
