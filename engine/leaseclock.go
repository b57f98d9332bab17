package engine

// The lease deadline rule, for every host that serves lease reads from
// Engine.Lease (the runtime, the simulator): the engine counts its lease
// in ticks, and a host turns it into a deadline on its own clock with a
// TickClock.
//
// The deadline is timed from when the host stepped the tick the granting
// round was sent at, plus LeaseTicks-1 tick intervals. The round left no
// earlier than that, so the voters' promise started no earlier; a host
// that falls behind its ticker (ticks dropped while it was busy) counts
// fewer ticks than time passed, which a deadline on its clock does not, so
// the deadline never outlives the engine's own lease. The one tick less is
// for the voters: a voter's promise is counted in its own ticks, and a
// ticker (time.Ticker) keeps one tick for a host that was busy, which
// arrives at once and may be counted right after the heartbeat that
// started the promise although it was due before it, so a promise can end
// up to one tick early in real time.

// TickClockRing bounds the ticks a TickClock remembers: a lease granted at
// an older tick has no deadline (it ends long before, in any case, with
// LeaseTicks far below it).
const TickClockRing = 256

// TickClock remembers when a host stepped each of its recent ticks, on the
// host's monotonic clock in any unit T (a time.Duration since the host
// started, a simulated time), and derives the lease's deadline from it.
// The zero value remembers no tick. It is not safe for concurrent use.
type TickClock[T ~int64 | ~float64] struct {
	ring [TickClockRing]tickStamp[T]
}

type tickStamp[T ~int64 | ~float64] struct {
	tick uint64
	at   T
	set  bool
}

// Stepped records that the host stepped tick (LeaseState.Now right after
// it stepped a Tick) at time at.
func (c *TickClock[T]) Stepped(tick uint64, at T) {
	c.ring[tick%TickClockRing] = tickStamp[T]{tick: tick, at: at, set: true}
}

// LeaseDeadline returns when the lease l ends on the host's clock:
// leaseTicks-1 intervals (the length of a tick on that clock) after the
// host stepped the tick the lease was granted at. ok is false when no
// lease is held, the lease is a single tick (which leaves nothing), or
// that tick is not remembered.
func (c *TickClock[T]) LeaseDeadline(l LeaseState, leaseTicks int, interval T) (until T, ok bool) {
	if !l.Held || leaseTicks <= 1 {
		return 0, false
	}
	ts := c.ring[l.Since%TickClockRing]
	if !ts.set || ts.tick != l.Since {
		return 0, false
	}
	return ts.at + T(leaseTicks-1)*interval, true
}
