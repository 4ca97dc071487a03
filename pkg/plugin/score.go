package plugin

import (
	"context"
	"math"
	"time"

	v1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"

	jsv1alpha1 "jumpstarter.dev/service/apis/v1alpha1"
)

// neverReleased is the raw score of an exporter without a usable last-released time: it was
// never leased (or the annotation is unreadable), so it has rested longest of all.
const neverReleased int64 = math.MinInt64

// releasedAt returns the Unix time in milliseconds of the exporter's last release, if the node
// has a valid last-released annotation (RFC 3339, fractional seconds allowed).
func releasedAt(node *v1.Node) (int64, bool) {
	value, ok := node.Annotations[jsv1alpha1.AnnotationLastReleased]
	if !ok {
		return 0, false
	}
	t, err := time.Parse(time.RFC3339, value)
	if err != nil {
		return 0, false
	}
	return t.UnixMilli(), true
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
	if at, ok := releasedAt(node); ok {
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
			// RFC 3339 years run 0000-9999, so span*100 in milliseconds stays below 4e16.
			scores[i].Score = (latest - raw) * (fwk.MaxScore - fwk.MinScore) / span
		}
	}
	return nil
}
