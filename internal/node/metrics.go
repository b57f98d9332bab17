package node

import (
	"math"
	"sync"
	"sync/atomic"
)

// metrics are the runtime's own measurements; engine counters come from
// the engine's Status.
type metrics struct {
	proposeTime, readTime, fsync, applyTime, snapshotTime histogram
	batchSizes                                            histogram
	forwarded, entriesApplied, snapshotsRestored          atomic.Uint64
	snapshotBytesSent                                     atomic.Uint64
}

// histogram is a fixed-bucket histogram (bucket bounds grow by 2×).
type histogram struct {
	base   float64 // upper bound of the first bucket; 0 means 1e-6 (seconds)
	mu     sync.Mutex
	counts [histBuckets]uint64
	count  uint64
	sum    float64
}

const histBuckets = 32

// HistogramSnapshot is a copy of a histogram: Bounds[i] is the inclusive
// upper bound of Counts[i]; the last bound is +Inf.
type HistogramSnapshot struct {
	Bounds []float64
	Counts []uint64
	Count  uint64
	Sum    float64
}

// bucketBound returns the upper bound of bucket i: base·2^i.
func bucketBound(i int, base float64) float64 {
	if i == histBuckets-1 {
		return math.Inf(1)
	}
	return base * math.Pow(2, float64(i))
}

func (h *histogram) observe(v float64) {
	base := h.baseOrDefault()
	i := 0
	for i < histBuckets-1 && v > bucketBound(i, base) {
		i++
	}
	h.mu.Lock()
	h.counts[i]++
	h.count++
	h.sum += v
	h.mu.Unlock()
}

func (h *histogram) baseOrDefault() float64 {
	if h.base == 0 {
		return 1e-6
	}
	return h.base
}

func (h *histogram) snapshot() HistogramSnapshot {
	base := h.baseOrDefault()
	h.mu.Lock()
	defer h.mu.Unlock()
	s := HistogramSnapshot{Count: h.count, Sum: h.sum, Counts: make([]uint64, histBuckets), Bounds: make([]float64, histBuckets)}
	copy(s.Counts, h.counts[:])
	for i := range s.Bounds {
		s.Bounds[i] = bucketBound(i, base)
	}
	return s
}

// Quantile estimates the q-quantile (the upper bound of its bucket).
func (s HistogramSnapshot) Quantile(q float64) float64 {
	if s.Count == 0 {
		return 0
	}
	target := uint64(math.Ceil(q * float64(s.Count)))
	var acc uint64
	for i, c := range s.Counts {
		acc += c
		if acc >= target {
			return s.Bounds[i]
		}
	}
	return s.Bounds[len(s.Bounds)-1]
}

// Metrics is the runtime's view of its own performance.
type Metrics struct {
	ProposeSeconds, ReadSeconds, FsyncSeconds, ApplySeconds, SnapshotSeconds HistogramSnapshot
	BatchSize                                                                HistogramSnapshot
	Forwarded, EntriesApplied, SnapshotsRestored, SnapshotBytesSent          uint64
	ApplyLag                                                                 int
}

// Metrics returns a snapshot of the runtime's measurements.
func (n *Node) Metrics() Metrics {
	m := &n.metrics
	return Metrics{
		ProposeSeconds:    m.proposeTime.snapshot(),
		ReadSeconds:       m.readTime.snapshot(),
		FsyncSeconds:      m.fsync.snapshot(),
		ApplySeconds:      m.applyTime.snapshot(),
		SnapshotSeconds:   m.snapshotTime.snapshot(),
		BatchSize:         m.batchSizes.snapshot(),
		Forwarded:         m.forwarded.Load(),
		EntriesApplied:    m.entriesApplied.Load(),
		SnapshotsRestored: m.snapshotsRestored.Load(),
		SnapshotBytesSent: m.snapshotBytesSent.Load(),
		ApplyLag:          n.applyQ.lag(),
	}
}
