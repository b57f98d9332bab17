package node

import (
	"time"

	"github.com/yggrdb/yggr/engine"
)

// Lease reads without the driver: the only lease-read path (the engine
// has none; it reports its lease, engine.Engine.Lease). The engine grants
// a lease in ticks; the driver turns it into a deadline on the monotonic
// clock after every iteration, before that iteration's actions run, and
// publishes it with the commit index. A lease read then costs a clock
// reading and two atomic loads: no event, no driver hop. The deadline
// follows the engine's rule (engine.TickClock): LeaseTicks-1 tick intervals
// after the driver stepped the tick the granting round was sent at.

// ReadMode is how ReadIndex confirms a read.
type ReadMode uint8

const (
	// ReadIndex confirms leadership with a heartbeat round (engine.Read):
	// linearizable without clock assumptions.
	ReadIndex ReadMode = iota
	// ReadLease answers from the leader's lease (below) when this node
	// holds one, and is a ReadIndex read otherwise. It assumes bounded
	// clock drift (engine.Config.LeaseTicks).
	ReadLease
)

// leaseGrant is a published lease: reads may be served locally until the
// monotonic deadline until.
type leaseGrant struct{ until time.Time }

// stepTick steps a Tick, recording when it was stepped (as a duration
// since the first tick, so that the clock stays monotonic), and returns its
// actions.
func (n *Node) stepTick() []engine.Action {
	now := time.Now()
	if n.d.tickEpoch.IsZero() {
		n.d.tickEpoch = now
	}
	acts := n.d.eng.Step(engine.Tick{})
	n.d.tickClock.Stepped(n.d.eng.Lease().Now, now.Sub(n.d.tickEpoch))
	return acts
}

// publishLease publishes the commit index and, when the engine holds a
// lease whose tick is still remembered, its deadline. It must run after
// the engine's steps and before their actions (engine.Engine.Lease).
func (n *Node) publishLease() {
	l := n.d.eng.Lease()
	n.commit.Store(l.Commit)
	since, ok := n.d.tickClock.LeaseDeadline(l, n.cfg.Engine.LeaseTicks, n.cfg.TickInterval)
	if !ok {
		n.lease.Store(nil)
		return
	}
	until := n.d.tickEpoch.Add(since)
	if g := n.lease.Load(); g != nil && g.until.Equal(until) {
		return
	}
	n.lease.Store(&leaseGrant{until: until})
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
