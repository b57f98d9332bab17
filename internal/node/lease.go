package node

import (
	"time"

	"github.com/yggrdb/yggr/engine"
)

// Lease reads without the driver. The engine grants a lease in ticks
// (engine.Lease); the driver turns it into a deadline on the monotonic
// clock after every iteration, before that iteration's actions run, and
// publishes it with the commit index. A lease read then costs a clock
// reading and two atomic loads: no event, no driver hop.
//
// The deadline is timed from when the driver stepped the tick the granting
// round was sent at (tickTimes), plus LeaseTicks-1 tick intervals. The round
// left no earlier than that, so the voters' promise started no earlier; a
// driver that falls behind its ticker (ticks dropped while it was busy)
// counts fewer ticks than time passed, which the wall-clock deadline does
// not, so it never outlives the engine's own lease. The one tick less is
// for the voters: a voter's promise is counted in its own ticks, and
// time.Ticker keeps one tick for a driver that was busy, which arrives at
// once and may be counted right after the heartbeat that started the
// promise although it was due before it, so a promise can end up to one
// tick early in real time.

// leaseGrant is a published lease: reads may be served locally until the
// monotonic deadline until.
type leaseGrant struct{ until time.Time }

// tickRing remembers when the driver stepped each of the recent ticks.
const tickRing = 256

type tickTime struct {
	tick uint64
	at   time.Time
}

// stepTick steps a Tick, recording when it was stepped, and returns its
// actions.
func (n *Node) stepTick() []engine.Action {
	now := time.Now()
	acts := n.d.eng.Step(engine.Tick{})
	tick := n.d.eng.Lease().Now
	n.d.tickTimes[tick%tickRing] = tickTime{tick: tick, at: now}
	return acts
}

// publishLease publishes the commit index and, when the engine holds a
// lease whose tick is still remembered, its deadline. It must run after
// the engine's steps and before their actions (engine.Engine.Lease).
func (n *Node) publishLease() {
	l := n.d.eng.Lease()
	n.commit.Store(l.Commit)
	until, ok := leaseDeadline(l, &n.d.tickTimes, n.cfg.Engine.LeaseTicks, n.cfg.TickInterval)
	if !ok {
		n.lease.Store(nil)
		return
	}
	if g := n.lease.Load(); g != nil && g.until.Equal(until) {
		return
	}
	n.lease.Store(&leaseGrant{until: until})
}

// leaseDeadline is when the lease l ends on the monotonic clock: leaseTicks-1
// intervals after the tick it was granted at was stepped (see above). ok is
// false when no lease is held, the lease is a single tick, or that tick is
// no longer remembered.
func leaseDeadline(l engine.LeaseState, ticks *[tickRing]tickTime, leaseTicks int, interval time.Duration) (time.Time, bool) {
	if !l.Held || leaseTicks <= 1 {
		return time.Time{}, false
	}
	tt := ticks[l.Since%tickRing]
	if tt.tick != l.Since || tt.at.IsZero() {
		return time.Time{}, false
	}
	return tt.at.Add(time.Duration(leaseTicks-1) * interval), true
}

// leaseIndex returns the read index of a lease read if the lease is held
// at now (a reading of the monotonic clock taken by the caller, no earlier
// than the read began): the newest published commit index.
func (n *Node) leaseIndex(now time.Time) (uint64, bool) {
	g := n.lease.Load()
	if g == nil || !now.Before(g.until) || n.failed() || n.stopped() {
		return 0, false
	}
	return n.commit.Load(), true
}

// stopped reports whether Close has begun.
func (n *Node) stopped() bool {
	select {
	case <-n.stop:
		return true
	default:
		return false
	}
}
