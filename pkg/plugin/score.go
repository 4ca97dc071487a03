package plugin

import (
	"context"
	"math"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"
)

// neverReleased is the raw score of an exporter without a known release: it was never leased
// since this scheduler started, so it counts as rested longest of all.
const neverReleased int64 = math.MinInt64

// releaseLog remembers when each exporter was last released, as this scheduler saw it: the
// pod informer's delete event of a placeholder that ran there. Kept in memory rather than on
// the node, because a node write per release cost the API server a write and the scheduler a
// node-update event for every lease; after a restart every exporter counts as never released,
// which only evens out the wear order for one round of grants.
type releaseLog struct {
	mu sync.Mutex
	// at is the Unix time in milliseconds of the last release, by node name.
	at map[string]int64
}

func (r *releaseLog) record(node string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.at == nil {
		r.at = map[string]int64{}
	}
	r.at[node] = at.UnixMilli()
}

func (r *releaseLog) forget(node string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.at, node)
}

// onNodeDelete forgets a deleted exporter's last release: a lab that adds and removes
// exporters over the years would otherwise keep every node name it ever saw, and an exporter
// registered again under the same name starts as never released, as a new one does.
func (pl *Exporter) onNodeDelete(obj interface{}) {
	if node, ok := deletedObject[*v1.Node](obj); ok {
		pl.releases.forget(node.Name)
	}
}

func (r *releaseLog) lastRelease(node string) (int64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	at, ok := r.at[node]
	return at, ok
}

// Score returns the raw score of a node for a placeholder pod: the Unix time in milliseconds of
// the exporter's last release, lower is better, or neverReleased. NormalizeScore turns it into 0..100 with
// the longest-rested exporter highest. The raw score is a timestamp rather than an age so that
// it needs no clock and stays stable while the scheduler batches pods.
func (pl *Exporter) Score(_ context.Context, _ fwk.CycleState, pod *v1.Pod, nodeInfo fwk.NodeInfo) (int64, *fwk.Status) {
	if !isPlaceholder(pod) {
		return 0, nil
	}
	node := nodeInfo.Node()
	if node == nil {
		return 0, fwk.NewStatus(fwk.Error, "node not found")
	}
	if at, ok := pl.releases.lastRelease(node.Name); ok {
		return at, nil
	}
	return neverReleased, nil
}

// ScoreExtensions returns the plugin: it normalizes its own scores.
func (pl *Exporter) ScoreExtensions() fwk.ScoreExtensions { return pl }

// NormalizeScore maps release times linearly onto MinScore..MaxScore, the earliest release
// getting MaxScore and the latest MinScore. Never-released exporters count as released one
// millisecond before the earliest release, so they beat every released exporter. When all nodes
// are alike, all get MaxScore. Other pods get MinScore everywhere.
func (pl *Exporter) NormalizeScore(_ context.Context, _ fwk.CycleState, pod *v1.Pod, scores fwk.NodeScoreList) *fwk.Status {
	if !isPlaceholder(pod) {
		for i := range scores {
			scores[i].Score = fwk.MinScore
		}
		return nil
	}
	var (
		earliest, latest int64
		anyReleased      bool
		anyNever         bool
	)
	for _, s := range scores {
		if s.Score == neverReleased {
			anyNever = true
			continue
		}
		if !anyReleased || s.Score < earliest {
			earliest = s.Score
		}
		if !anyReleased || s.Score > latest {
			latest = s.Score
		}
		anyReleased = true
	}
	if !anyReleased {
		for i := range scores {
			scores[i].Score = fwk.MaxScore
		}
		return nil
	}
	if anyNever {
		earliest--
	}
	span := latest - earliest
	for i := range scores {
		raw := scores[i].Score
		switch {
		case raw == neverReleased:
			scores[i].Score = fwk.MaxScore
		case span == 0:
			scores[i].Score = fwk.MaxScore
		default:
			// Unix milliseconds of the years 0000-9999 span below 4e14, so span*100 stays far below MaxInt64.
			scores[i].Score = (latest - raw) * (fwk.MaxScore - fwk.MinScore) / span
		}
	}
	return nil
}
