package engine

import "testing"

// TestTickClockLeaseDeadline: the lease is timed from when the granting
// tick was stepped, whatever the tick count is now, and has no deadline
// when that tick is not remembered.
func TestTickClockLeaseDeadline(t *testing.T) {
	var c TickClock[int64]
	for tick := uint64(300); tick <= 310; tick++ {
		// A slow host: ticks 300..310 were stepped 120 units apart, though
		// a tick is 50.
		c.Stepped(tick, 1000+int64(tick-300)*120)
	}
	const interval = 50
	cases := []struct {
		name   string
		l      LeaseState
		lease  int
		want   int64
		wantOK bool
	}{
		// LeaseTicks-1 intervals: one tick of margin for a voter's late tick.
		{"held", LeaseState{Held: true, Since: 302, Now: 304}, 6, 1000 + 240 + 250, true},
		{"held, granted at the current tick", LeaseState{Held: true, Since: 310, Now: 310}, 6, 1000 + 1200 + 250, true},
		{"a one-tick lease leaves nothing", LeaseState{Held: true, Since: 302, Now: 304}, 1, 0, false},
		{"not held", LeaseState{Since: 302, Now: 304}, 6, 0, false},
		{"leases off", LeaseState{Held: true, Since: 302, Now: 304}, 0, 0, false},
		// Tick 46 shares its slot with 302; the ring holds 302.
		{"tick forgotten", LeaseState{Held: true, Since: 46, Now: 304}, 6, 0, false},
		{"tick never stepped", LeaseState{Held: true, Since: 200, Now: 304}, 6, 0, false},
		// The zero value's slots say tick 0 but were never stepped.
		{"tick 0 never stepped", LeaseState{Held: true, Since: 0, Now: 4}, 6, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := c.LeaseDeadline(tc.l, tc.lease, interval)
			if got != tc.want || ok != tc.wantOK {
				t.Fatalf("got %d, %v; want %d, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// A clock in fractional units (the simulator's) follows the same rule.
func TestTickClockFloat(t *testing.T) {
	var c TickClock[float64]
	c.Stepped(7, 3.25)
	if got, ok := c.LeaseDeadline(LeaseState{Held: true, Since: 7, Now: 9}, 4, 1); !ok || got != 6.25 {
		t.Fatalf("got %v, %v; want 6.25, true", got, ok)
	}
}
