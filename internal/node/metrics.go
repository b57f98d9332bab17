package node

import (
	"math"
	"sync/atomic"
	"time"
)

// metrics are the runtime's own measurements; engine counters come from
// the engine's Status.
type metrics struct {
	proposeTime, readTime, fsync, applyTime, snapshotTime histogram
	// The stages of a proposal's proposeTime (observeStages).
	stageQueue, stageCommit, stageApply, stageReply histogram
	batchSizes                                      histogram
	forwarded, entriesApplied, snapshotsRestored    atomic.Uint64
	snapshotBytesSent                               atomic.Uint64
	// entriesFilled counts entries read back from the log for followers
	// (engine.Send.FillThrough).
	entriesFilled atomic.Uint64
}

// observeStages records a local proposal that started at start and ended
// with r: its whole latency and each stage of it. queue is the wait for the
// driver to append it, commit the replication and syncs until the driver
// saw it committed, apply the wait for the apply goroutine, reply the
// application of its batch and the caller's wake-up.
func (m *metrics) observeStages(start time.Time, r result) {
	end := time.Now()
	m.proposeTime.observe(end.Sub(start).Seconds())
	if r.accepted.IsZero() || r.committed.IsZero() || r.applied.IsZero() {
		return
	}
	m.stageQueue.observe(r.accepted.Sub(start).Seconds())
	m.stageCommit.observe(r.committed.Sub(r.accepted).Seconds())
	m.stageApply.observe(r.applied.Sub(r.committed).Seconds())
	m.stageReply.observe(end.Sub(r.applied).Seconds())
}

// histogram is a fixed-bucket histogram (bucket bounds grow by 2×). It is
// lock-free: reads at a million per second observe it from every reader
// goroutine.
type histogram struct {
	base float64 // upper bound of the first bucket; 0 means 1e-6 (seconds)
	// The counters change on every observation; base is read on every
	// one: keep them on separate cache lines.
	_      [64]byte
	counts [histBuckets]atomic.Uint64
	sum    atomic.Uint64 // float64 bits
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
	h.counts[bucketOf(v, h.baseOrDefault())].Add(1)
	for {
		old := h.sum.Load()
		if h.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// bucketOf is the first bucket whose bound is at least v: 0 for v ≤ base
// (and NaN), else ⌈log2(v/base)⌉, the last for anything beyond.
func bucketOf(v, base float64) int {
	if !(v > base) {
		return 0
	}
	x := v / base
	if math.IsInf(x, 1) {
		return histBuckets - 1
	}
	frac, exp := math.Frexp(x) // x = frac·2^exp, frac in [0.5, 1)
	i := exp
	if frac == 0.5 {
		i-- // an exact power of two sits on its bucket's bound
	}
	return min(i, histBuckets-1)
}

func (h *histogram) baseOrDefault() float64 {
	if h.base == 0 {
		return 1e-6
	}
	return h.base
}

func (h *histogram) snapshot() HistogramSnapshot {
	base := h.baseOrDefault()
	s := HistogramSnapshot{Sum: math.Float64frombits(h.sum.Load()), Counts: make([]uint64, histBuckets), Bounds: make([]float64, histBuckets)}
	for i := range s.Counts {
		s.Counts[i] = h.counts[i].Load()
		s.Count += s.Counts[i] // so that Count always matches the buckets
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
	// The stages of ProposeSeconds, for proposals made on this node:
	// waiting for the driver, replication until committed, waiting for the
	// apply goroutine, applying and waking the caller.
	StageQueueSeconds, StageCommitSeconds, StageApplySeconds, StageReplySeconds HistogramSnapshot
	BatchSize                                                                   HistogramSnapshot
	Forwarded, EntriesApplied, SnapshotsRestored, SnapshotBytesSent             uint64
	// EntriesFilled counts entries the leader read back from its log for
	// followers beyond the engine's entry cache.
	EntriesFilled uint64
	ApplyLag      int
	// DiskFreeBytes is the free space of the file system holding the data
	// directory, as last read (0 when unknown or in memory), and
	// DiskReserveBytes the reserve below which this node refuses writes
	// as leader (0: no check).
	DiskFreeBytes, DiskReserveBytes uint64
}

// Metrics returns a snapshot of the runtime's measurements.
func (n *Node) Metrics() Metrics {
	m := &n.metrics
	free, _ := n.disk.freeBytes()
	var reserve uint64
	if n.disk != nil {
		reserve = n.disk.reserve
	}
	return Metrics{
		ProposeSeconds:     m.proposeTime.snapshot(),
		StageQueueSeconds:  m.stageQueue.snapshot(),
		StageCommitSeconds: m.stageCommit.snapshot(),
		StageApplySeconds:  m.stageApply.snapshot(),
		StageReplySeconds:  m.stageReply.snapshot(),
		ReadSeconds:        m.readTime.snapshot(),
		FsyncSeconds:       m.fsync.snapshot(),
		ApplySeconds:       m.applyTime.snapshot(),
		SnapshotSeconds:    m.snapshotTime.snapshot(),
		BatchSize:          m.batchSizes.snapshot(),
		Forwarded:          m.forwarded.Load(),
		EntriesApplied:     m.entriesApplied.Load(),
		SnapshotsRestored:  m.snapshotsRestored.Load(),
		SnapshotBytesSent:  m.snapshotBytesSent.Load(),
		EntriesFilled:      m.entriesFilled.Load(),
		ApplyLag:           n.applyQ.lag(),
		DiskFreeBytes:      free,
		DiskReserveBytes:   reserve,
	}
}
