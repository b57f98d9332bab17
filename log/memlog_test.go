package log

import (
	"slices"
	"testing"

	"github.com/yggrdb/yggr/engine"
	"pgregory.net/rapid"
)

// memLog behaves as one flat slice of entries under pushes, truncations
// and prefix drops; a batch list taken before a change (a checkpoint's)
// still reads what it read; splitBatches cuts the batches into the runs
// splitRuns cuts their concatenation into.
func TestMemLogModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var m memLog
		var model []engine.Entry
		next := uint64(1)
		for range rapid.IntRange(1, 40).Draw(t, "ops") {
			before, beforeFlat := m.batchList(), slices.Clone(model)
			switch rapid.IntRange(0, 3).Draw(t, "op") {
			case 0, 1:
				n := rapid.IntRange(1, 20).Draw(t, "n")
				es := make([]engine.Entry, n)
				for i := range es {
					es[i] = engine.Entry{Term: 1, Index: next, Data: make([]byte, rapid.IntRange(0, 40).Draw(t, "size"))}
					next++
				}
				m.push(es)
				model = append(model, es...)
			case 2:
				k := rapid.IntRange(0, len(model)).Draw(t, "keep")
				m.truncate(k)
				model = model[:k]
				if k > 0 {
					next = model[k-1].Index + 1
				} else {
					next = 1
				}
			case 3:
				k := rapid.IntRange(0, len(model)).Draw(t, "drop")
				m.dropFirst(k)
				model = model[k:]
			}
			if got := slices.Concat(before...); !slices.EqualFunc(got, beforeFlat, sameEntry) {
				t.Fatalf("a batch list taken before the change reads %d entries, had %d", len(got), len(beforeFlat))
			}
			if m.len() != len(model) {
				t.Fatalf("len %d, model %d", m.len(), len(model))
			}
			for k := range model {
				if !sameEntry(*m.at(k), model[k]) {
					t.Fatalf("at(%d) = %v, model %v", k, m.at(k), model[k])
				}
			}
			if len(model) > 0 {
				lo := rapid.IntRange(0, len(model)-1).Draw(t, "lo")
				hi := rapid.IntRange(lo, len(model)).Draw(t, "hi")
				var got []engine.Entry
				m.each(lo, hi, func(e *engine.Entry) bool { got = append(got, *e); return true })
				if !slices.EqualFunc(got, model[lo:hi], sameEntry) {
					t.Fatalf("each(%d, %d) gave %d entries", lo, hi, len(got))
				}
			}
			maxBytes := rapid.IntRange(1, 100).Draw(t, "maxBytes")
			want, got := splitRuns(slices.Clone(model), maxBytes), splitBatches(m.batchList(), maxBytes)
			if len(got) != len(want) {
				t.Fatalf("splitBatches: %d runs, splitRuns %d", len(got), len(want))
			}
			for i := range want {
				if !slices.EqualFunc(got[i], want[i], sameEntry) {
					t.Fatalf("run %d: %d entries from %d, want %d from %d", i, len(got[i]), got[i][0].Index, len(want[i]), want[i][0].Index)
				}
			}
		}
	})
}

func sameEntry(a, b engine.Entry) bool {
	return a.Index == b.Index && a.Term == b.Term && len(a.Data) == len(b.Data)
}
