package yggr

import (
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/yggrdb/yggr/internal/kv"
)

// TestLessorGuarantee drives the lessor rules with a fake clock through
// random runs of keepalives, leader crashes (the deadlines are lost and a
// new leader starts after an election gap), holder pauses shorter than
// the TTL, and a holder that stops for good. It checks the two halves of
// the guarantee documented on Grant:
//   - a lease kept alive within its TTL is never revoked: a holder alive
//     and refreshing every TTL/3 (whenever there is a leader to ask) never
//     sees its lease expire, however the leaders come and go;
//   - a lease whose holder stops is revoked by the first leader tick after
//     the later of its last keepalive and the current leader's start, plus
//     the TTL: within about twice the TTL plus an election gap of the stop
//     when a leader fails meanwhile, within the TTL and a tick otherwise.
func TestLessorGuarantee(t *testing.T) {
	const (
		ttlMs = 1000
		ttl   = ttlMs * time.Millisecond
		tick  = 10 * time.Millisecond
		id    = 5
	)
	rapid.Check(t, func(t *rapid.T) {
		leases := []kv.LeaseInfo{{ID: id, TTL: ttlMs}}
		now := t0
		term := uint64(1)
		l := newLessor()
		l.promote(now, term, leases, 1)
		leaderStart, lastKA := now, now
		maxGap := time.Duration(0)
		alive := true
		var stoppedAt time.Time
		revoked := false
		changesAfterStop := 0 // leader changes after the holder stopped
		// advance moves the clock by d in ticks; the leader, if any,
		// expires leases each tick.
		advance := func(d time.Duration, leading bool) {
			for end := now.Add(d); now.Before(end) && !revoked; {
				now = now.Add(tick)
				if !leading {
					continue
				}
				if ids := l.expired(now, time.Second, 10); slices.Contains(ids, id) {
					if alive {
						t.Fatalf("revoked at %v although its holder is alive (last keepalive %v, leader since %v)",
							now.Sub(t0), lastKA.Sub(t0), leaderStart.Sub(t0))
					}
					if deadline := later(lastKA, leaderStart).Add(ttl); !now.After(deadline) {
						t.Fatalf("revoked at %v, before its deadline %v", now.Sub(t0), deadline.Sub(t0))
					}
					revoked = true
				}
			}
		}
		keepAlive := func() {
			if alive && l.keepAlive(now, term, id, ttlMs) == keptAlive {
				lastKA = now
			}
		}
		steps := rapid.IntRange(1, 60).Draw(t, "steps")
		for range steps {
			switch rapid.IntRange(0, 9).Draw(t, "event") {
			case 0: // the leader crashes; another is elected after a gap
				l.demote()
				gap := time.Duration(rapid.IntRange(0, 150).Draw(t, "gap")) * tick
				maxGap = max(maxGap, gap)
				advance(gap, false)
				term++
				l = newLessor()
				l.promote(now, term, leases, 1)
				leaderStart = now
				if !alive {
					changesAfterStop++
				}
				keepAlive() // the holder asks the new leader at once
			case 1: // the holder stops for good
				if alive {
					alive, stoppedAt = false, now
				}
			default: // time passes; a live holder refreshes every TTL/3 at most
				advance(time.Duration(rapid.IntRange(1, 33).Draw(t, "wait"))*tick, true)
				keepAlive()
			}
			if revoked {
				break
			}
		}
		if alive {
			return
		}
		// The holder stopped: the leader revokes the lease by its rule.
		deadline := later(lastKA, leaderStart).Add(ttl)
		advance(deadline.Sub(now)+2*tick, true)
		if !revoked {
			t.Fatalf("holder stopped at %v, not revoked by %v (deadline %v)", stoppedAt.Sub(t0), now.Sub(t0), deadline.Sub(t0))
		}
		// With at most one leader change after the stop (the case the
		// documentation bounds; each further change restarts a full TTL).
		if bound := stoppedAt.Add(2*ttl + maxGap + 2*tick); changesAfterStop <= 1 && now.After(bound) {
			t.Fatalf("holder stopped at %v, revoked at %v: after the documented bound %v", stoppedAt.Sub(t0), now.Sub(t0), bound.Sub(t0))
		}
	})
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
