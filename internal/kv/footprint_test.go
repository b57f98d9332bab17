package kv

import (
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"unsafe"
)

// This file measures the heap the store holds per key: 1M keys of 16 B
// with 128 B values (144 MB raw), the shape of the memory issue. Building
// such a store takes seconds, so TestFootprint1M runs only with
// YGGR_KV_FOOTPRINT=1; BenchmarkFootprint1M reports the same numbers as
// benchmark metrics for benchstat. The peaks depend on the collector's
// pacing (GOGC, GOMEMLIMIT), the live numbers do not:
//
//	YGGR_KV_FOOTPRINT=1 go test -run Footprint -v ./internal/kv/
//	go test -run '^$' -bench Footprint -benchtime 1x -count 6 ./internal/kv/

const footprintKeys = 1_000_000

// footprint is what one build of a store held, in bytes per key.
type footprint struct {
	live float64 // heap in use after a full GC, over the baseline
	slab float64 // the arena's slabs (off the Go heap where mapped; see arena)
	tree float64 // the B-tree's share of live: nodes and entries
	data float64 // the share held by the keys' own allocations
	peak float64 // largest heap (live and not yet collected) while building
	sys  float64 // largest memory mapped from the OS and not released, over the baseline
}

// heapSampler records the peak of the heap and of the process's mapped
// memory while a store is built.
type heapSampler struct {
	samples  []metrics.Sample
	heapPeak uint64
	sysPeak  uint64
}

func newHeapSampler() *heapSampler {
	return &heapSampler{samples: []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}}
}

func (h *heapSampler) sample() {
	metrics.Read(h.samples)
	h.heapPeak = max(h.heapPeak, h.samples[0].Value.Uint64())
	h.sysPeak = max(h.sysPeak, h.samples[1].Value.Uint64()-h.samples[2].Value.Uint64())
}

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// measureFootprint builds a store with build, which calls sample every few
// thousand writes, and returns what the store holds per key. The tree's
// share is found by keeping only the entries (and so the keys' data) alive
// and dropping the tree.
func measureFootprint(t testing.TB, build func(sample func()) *Store) footprint {
	t.Helper()
	h := newHeapSampler()
	debug.FreeOSMemory() // so that the mapped-memory peak starts from what is in use
	base := liveHeap()
	h.sample()
	heapBase, sysBase := h.heapPeak, h.sysPeak
	s := build(h.sample)
	h.sample()
	live := liveHeap() - base
	slabs := s.arena.bytes()
	if got := s.Len(); got != footprintKeys {
		t.Fatalf("store holds %d keys, want %d", got, footprintKeys)
	}
	entries := make([]entry, 0, s.tree.Len())
	s.tree.Ascend(func(e entry) bool { entries = append(entries, e); return true })
	s.tree = nil
	data := liveHeap() - base - uint64(cap(entries))*uint64(unsafe.Sizeof(entry{}))
	runtime.KeepAlive(entries)
	runtime.KeepAlive(build) // and what it refers to, counted in base
	n := float64(footprintKeys)
	return footprint{
		live: float64(live) / n,
		slab: float64(slabs) / n,
		tree: float64(live-data) / n,
		data: float64(data) / n,
		peak: float64(h.heapPeak-heapBase) / n,
		sys:  float64(h.sysPeak-sysBase) / n,
	}
}

// footprintValue is the 128 B value of every key.
var footprintValue = bytes.Repeat([]byte("v"), 128)

// buildPuts applies footprintKeys puts of scattered 16 B keys, one command
// each.
func buildPuts(sample func()) *Store {
	s := New()
	var key []byte
	for i := range uint64(footprintKeys) {
		key = benchKey(key, i)
		s.Apply(i+1, EncodePut(key, footprintValue))
		if i%10_000 == 0 {
			sample()
		}
	}
	return s
}

// buildTxns applies the same puts as 10k transactions of 100 puts.
func buildTxns(sample func()) *Store {
	s := New()
	const perTxn = 100
	reqs := make([]Request, perTxn)
	for j := range uint64(footprintKeys / perTxn) {
		for k := range reqs {
			reqs[k] = Request{Op: OpPut, Key: benchKey(nil, j*perTxn+uint64(k)), Value: footprintValue}
		}
		s.Apply(j+1, EncodeTxn(Txn{Then: reqs}))
		if j%100 == 0 {
			sample()
		}
	}
	return s
}

// buildOverwrites applies buildPuts's puts, then puts every key once
// more in another order: the steady state of a store that is written
// without growing.
func buildOverwrites(sample func()) *Store {
	s := buildPuts(sample)
	var key []byte
	for i := range uint64(footprintKeys) {
		key = benchKey(key, i*7919%footprintKeys)
		s.Apply(footprintKeys+i+1, EncodePut(key, footprintValue))
		if i%10_000 == 0 {
			sample()
		}
	}
	return s
}

// footprintSnapshot returns the snapshot stream of buildPuts's store.
func footprintSnapshot(tb testing.TB) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if _, err := buildPuts(func() {}).Snapshot().WriteTo(&buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// footprintBuild is one way to build a 1M-key store: setup runs before
// the measurement and returns the build to measure.
type footprintBuild struct {
	name  string
	setup func(testing.TB) func(sample func()) *Store
}

var footprintBuilds = []footprintBuild{
	{"puts", func(testing.TB) func(func()) *Store { return buildPuts }},
	{"txns", func(testing.TB) func(func()) *Store { return buildTxns }},
	{"overwrites", func(testing.TB) func(func()) *Store { return buildOverwrites }},
	// The snapshot's bytes (160 MB) stay live while Restore runs: they
	// count in the baseline, not in the store's numbers, but they raise
	// the collector's heap goal, so the peak is not comparable with the
	// other builds'.
	{"restore", func(tb testing.TB) func(func()) *Store {
		snap := footprintSnapshot(tb)
		return func(sample func()) *Store {
			s := New()
			if err := s.Restore(bytes.NewReader(snap)); err != nil {
				tb.Fatal(err)
			}
			sample()
			return s
		}
	}},
}

// footprintBudget is the live heap per key TestFootprint1M accepts. The
// store held 192 B/key after puts and 188 after Restore when it was set
// (the 144 B/key of data in a 160 B allocation, and the tree); the layout
// before held 266 and 329.
const footprintBudget = 200

// TestFootprint1M measures the heap per key of 1M-key stores built by
// single puts, by transactions, by puts that then overwrite every key,
// and by Restore, and fails if one holds more than footprintBudget.
func TestFootprint1M(t *testing.T) {
	if os.Getenv("YGGR_KV_FOOTPRINT") != "1" {
		t.Skip("set YGGR_KV_FOOTPRINT=1 to build 1M-key stores and measure their heap")
	}
	for _, fb := range footprintBuilds {
		t.Run(fb.name, func(t *testing.T) {
			f := measureFootprint(t, fb.setup(t))
			t.Logf("live %.1f B/key (tree %.1f, keys and values on the heap %.1f) and slabs %.1f B/key; peak heap %.1f B/key; peak mapped %.1f B/key",
				f.live, f.tree, f.data, f.slab, f.peak, f.sys)
			if f.live+f.slab > footprintBudget {
				t.Errorf("live heap and slabs %.1f B/key, want <= %d", f.live+f.slab, footprintBudget)
			}
		})
	}
}

// BenchmarkFootprint1M reports TestFootprint1M's numbers as metrics; run it
// with -benchtime 1x. The time per op is the time to build the store.
func BenchmarkFootprint1M(b *testing.B) {
	for _, fb := range footprintBuilds {
		b.Run(fb.name, func(b *testing.B) {
			build := fb.setup(b)
			var f footprint
			for range b.N {
				f = measureFootprint(b, build)
			}
			b.ReportMetric(f.live, "live-B/key")
			b.ReportMetric(f.slab, "slab-B/key")
			b.ReportMetric(f.tree, "tree-B/key")
			b.ReportMetric(f.data, "data-B/key")
			b.ReportMetric(f.peak, "peak-B/key")
			b.ReportMetric(f.sys, "sys-B/key")
		})
	}
}
