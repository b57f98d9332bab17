package log

import (
	"slices"
	"testing"

	"pgregory.net/rapid"
)

// TestPaintUncoveredModel checks paint and uncovered against a set of
// painted indexes: cleanRuns paints the parts of each run that uncovered
// returns, so the painted ranges are always disjoint, and uncovered must
// return exactly the unpainted indexes of the range asked, in order, as
// maximal ranges; painted must stay sorted, disjoint and merged.
func TestPaintUncoveredModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		const universe = 64
		var painted [][2]uint64
		var model [universe + 2]bool
		for range rapid.IntRange(1, 40).Draw(t, "runs") {
			lo := rapid.Uint64Range(1, universe).Draw(t, "lo")
			hi := rapid.Uint64Range(lo, min(lo+12, universe)).Draw(t, "hi")
			got := uncovered(painted, lo, hi)
			var want [][2]uint64
			for x := lo; x <= hi; x++ {
				if model[x] {
					continue
				}
				if n := len(want); n > 0 && want[n-1][1] == x-1 {
					want[n-1][1] = x
				} else {
					want = append(want, [2]uint64{x, x})
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("uncovered(%v, %d, %d) = %v, want %v", painted, lo, hi, got, want)
			}
			for _, p := range got {
				painted = paint(painted, p)
				for x := p[0]; x <= p[1]; x++ {
					model[x] = true
				}
			}
			// painted: sorted, disjoint, merged, and exactly the model.
			for i, p := range painted {
				if p[0] > p[1] || (i > 0 && painted[i-1][1]+1 >= p[0]) {
					t.Fatalf("painted %v is not sorted, disjoint and merged", painted)
				}
			}
			for x := uint64(1); x <= universe; x++ {
				in := slices.ContainsFunc(painted, func(p [2]uint64) bool { return p[0] <= x && x <= p[1] })
				if in != model[x] {
					t.Fatalf("index %d painted %v in %v, model says %v", x, in, painted, model[x])
				}
			}
		}
	})
}
