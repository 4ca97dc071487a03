package controller

import (
	"fmt"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"jumpstarter.dev/service/pkg/kubeconn"
)

// newCacheOnOwnConnection builds the manager's cache on a connection of its own, so that its
// watches do not queue behind the controller's writes (package kubeconn says how). On a shared
// connection, under the load benchmark, the API server closed the controller's pod watch 16
// times and its lease watch about 20 times in 40 s; the informers fell up to 6 s behind, and
// grants waited for bindings the controller had not yet seen.
func newCacheOnOwnConnection(config *rest.Config, opts cache.Options) (cache.Cache, error) {
	config = kubeconn.Own(config)
	httpClient, err := rest.HTTPClientFor(config)
	if err != nil {
		return nil, fmt.Errorf("build the HTTP client of the cache: %w", err)
	}
	opts.HTTPClient = httpClient
	return cache.New(config, opts)
}
