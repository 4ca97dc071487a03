// Package authtest holds fixtures shared by the grpcauth tests: Clients and Exporters with
// stored internal credentials in a fake controller-runtime client, and a TokenReview API
// served over HTTP whose answers come from a fake clientset's reactor.
package authtest
