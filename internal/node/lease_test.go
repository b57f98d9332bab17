package node

import (
	"testing"
	"time"

	"github.com/yggrdb/yggr/engine"
)

// TestLeaseDeadline: the lease is timed from when the granting tick was
// stepped, whatever the engine's tick count is now, and is refused when that
// tick is not remembered.
func TestLeaseDeadline(t *testing.T) {
	base := time.Now()
	var ticks [tickRing]tickTime
	for tick := uint64(300); tick <= 310; tick++ {
		// A slow driver: ticks 300..310 were stepped 120ms apart, not 50ms.
		ticks[tick%tickRing] = tickTime{tick: tick, at: base.Add(time.Duration(tick-300) * 120 * time.Millisecond)}
	}
	const interval = 50 * time.Millisecond
	cases := []struct {
		name   string
		l      engine.LeaseState
		lease  int
		want   time.Time
		wantOK bool
	}{
		// LeaseTicks-1 intervals: one tick of margin for a voter's late tick.
		{"held", engine.LeaseState{Held: true, Since: 302, Now: 304}, 6, base.Add(240*time.Millisecond + 250*time.Millisecond), true},
		{"held, granted at the current tick", engine.LeaseState{Held: true, Since: 310, Now: 310}, 6, base.Add(1200*time.Millisecond + 250*time.Millisecond), true},
		{"a one-tick lease leaves nothing", engine.LeaseState{Held: true, Since: 302, Now: 304}, 1, time.Time{}, false},
		{"not held", engine.LeaseState{Since: 302, Now: 304}, 6, time.Time{}, false},
		{"leases off", engine.LeaseState{Held: true, Since: 302, Now: 304}, 0, time.Time{}, false},
		// Tick 46 shares its slot with 302; the ring holds 302.
		{"tick forgotten", engine.LeaseState{Held: true, Since: 46, Now: 304}, 6, time.Time{}, false},
		{"tick never stepped", engine.LeaseState{Held: true, Since: 200, Now: 304}, 6, time.Time{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := leaseDeadline(c.l, &ticks, c.lease, interval)
			if ok != c.wantOK || !got.Equal(c.want) {
				t.Fatalf("got %v, %v; want %v, %v", got.Sub(base), ok, c.want.Sub(base), c.wantOK)
			}
		})
	}
}
