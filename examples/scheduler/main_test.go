package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/yggrdb/yggr/internal/testutil"
)

// The scheduler's node dies halfway; another worker is elected and
// carries on: every job number is scheduled once, by one scheduler, in
// order across the two, and every job that ran was scheduled.
func TestRun(t *testing.T) {
	var out bytes.Buffer
	var sum *summary
	err := testutil.RetryOnAddrInUse(t, 3, func() (err error) {
		out.Reset()
		sum, err = run(&out, 12)
		return err
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if len(sum.schedulers) != 2 || sum.schedulers[0] == sum.schedulers[1] {
		t.Fatalf("schedulers %v, want two different workers in turn\n%s", sum.schedulers, out.String())
	}
	if len(sum.ranBy) < 12 {
		t.Errorf("%d jobs ran, want 12", len(sum.ranBy))
	}
	last := 0 // the last job of the first scheduler
	for n := 1; n <= len(sum.scheduledBy); n++ {
		by, ok := sum.scheduledBy[n]
		switch {
		case !ok:
			t.Errorf("job %d never scheduled, but %d jobs were", n, len(sum.scheduledBy))
		case by == sum.schedulers[0]:
			if last != n-1 {
				t.Errorf("job %d scheduled by the first scheduler after the second took over", n)
			}
			last = n
		case by != sum.schedulers[1]:
			t.Errorf("job %d scheduled by %s, not a scheduler", n, by)
		}
	}
	if last == 0 || last == len(sum.scheduledBy) {
		t.Errorf("the first scheduler scheduled jobs 1..%d of %d; want both to schedule some", last, len(sum.scheduledBy))
	}
	for n := range sum.ranBy {
		if _, ok := sum.scheduledBy[n]; !ok {
			t.Errorf("job %d ran but was never scheduled", n)
		}
	}
	if !strings.Contains(out.String(), "node dies") {
		t.Errorf("output does not tell of the death:\n%s", out.String())
	}
}
