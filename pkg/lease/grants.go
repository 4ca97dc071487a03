package lease

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jumpstarterv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
	"jumpstarter.dev/service/pkg/virtualnode"
)

// grantIndex remembers, per exporter, the leases whose last status this reconciler wrote says
// granted that exporter and not ended. The node agent asks it (OwnGrants) for what the cache's
// index by exporter misses: a grant the cache does not show yet. Kept per exporter, so the
// question costs a map look-up, not a scan of every lease this process ever wrote.
type grantIndex struct {
	mu         sync.Mutex
	byExporter map[types.NamespacedName]map[types.NamespacedName]struct{}
	exporterOf map[types.NamespacedName]types.NamespacedName
}

// record updates the index with a status this reconciler has just written.
func (g *grantIndex) record(lease *jumpstarterv1alpha1.Lease) {
	key := client.ObjectKeyFromObject(lease)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.forgetLocked(key)
	// The cache's index by exporter files a lease by the same rule; this one covers what the
	// cache does not show yet.
	held := virtualnode.LeaseExporterIndexFunc(lease)
	if len(held) == 0 {
		return
	}
	exporter := types.NamespacedName{Namespace: lease.Namespace, Name: held[0]}
	if g.byExporter == nil {
		g.byExporter = map[types.NamespacedName]map[types.NamespacedName]struct{}{}
		g.exporterOf = map[types.NamespacedName]types.NamespacedName{}
	}
	if g.byExporter[exporter] == nil {
		g.byExporter[exporter] = map[types.NamespacedName]struct{}{}
	}
	g.byExporter[exporter][key] = struct{}{}
	g.exporterOf[key] = exporter
}

// forget drops a lease that is gone.
func (g *grantIndex) forget(key types.NamespacedName) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.forgetLocked(key)
}

func (g *grantIndex) forgetLocked(key types.NamespacedName) {
	exporter, ok := g.exporterOf[key]
	if !ok {
		return
	}
	delete(g.exporterOf, key)
	delete(g.byExporter[exporter], key)
	if len(g.byExporter[exporter]) == 0 {
		delete(g.byExporter, exporter)
	}
}

// leases lists the leases granted the exporter.
func (g *grantIndex) leases(exporter types.NamespacedName) []types.NamespacedName {
	g.mu.Lock()
	defer g.mu.Unlock()
	keys := make([]types.NamespacedName, 0, len(g.byExporter[exporter]))
	for key := range g.byExporter[exporter] {
		keys = append(keys, key)
	}
	return keys
}
