package node

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestBucketOf: the bucket of v is the first whose bound base·2^i is at
// least v, as a linear search over the bounds finds it.
func TestBucketOf(t *testing.T) {
	linear := func(v, base float64) int {
		i := 0
		for i < histBuckets-1 && v > bucketBound(i, base) {
			i++
		}
		return i
	}
	vals := []float64{0, -1, 1e-9, 1e-6, 1.5e-6, 2e-6, 2.0000001e-6, 4e-6, 1, 3, 1 << 30, math.Inf(1), math.NaN(), math.MaxFloat64}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		vals = append(vals, math.Ldexp(r.Float64(), r.IntN(80)-40))
	}
	for _, base := range []float64{1e-6, 1} {
		for _, v := range vals {
			if got, want := bucketOf(v, base), linear(v, base); got != want {
				t.Fatalf("bucketOf(%g, %g) = %d, want %d", v, base, got, want)
			}
		}
	}
}

func TestHistogram(t *testing.T) {
	var h histogram
	for _, v := range []float64{1e-6, 3e-6, 3e-6, 1} {
		h.observe(v)
	}
	s := h.snapshot()
	if s.Count != 4 || math.Abs(s.Sum-(1+7e-6)) > 1e-12 {
		t.Fatalf("count %d sum %g, want 4, %g", s.Count, s.Sum, 1+7e-6)
	}
	if s.Counts[0] != 1 || s.Counts[2] != 2 || s.Counts[bucketOf(1, 1e-6)] != 1 {
		t.Fatalf("counts %v", s.Counts)
	}
	if q := s.Quantile(0.5); q != 4e-6 {
		t.Fatalf("median bound %g, want 4e-6", q)
	}
}
