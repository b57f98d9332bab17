package yggr

import (
	"slices"
	"sync"
	"time"

	"github.com/yggrdb/yggr/internal/kv"
)

// lessor is the leader's table of lease deadlines: when each lease
// expires, by this node's monotonic clock. It is not replicated: which
// leases exist and their TTLs are (internal/kv's lease table), but only
// the leader keeps time, and it ends a lease by proposing a revoke.
//
// Every method takes the time explicitly, so that tests drive it with a
// fake clock.
//
// The rules that make the guarantee (see Grant):
//   - A node that starts leading (a new term) gives every lease a full TTL
//     from that moment (promote), whatever an earlier leader knew.
//   - A lease first seen by the leader (a grant applied, a snapshot
//     restored) gets a full TTL from that moment (sync).
//   - A keepalive moves the deadline to start + TTL, where start is when
//     the keepalive began on the leader, before it confirmed its
//     leadership (keepAlive).
//   - Only deadlines in the past are expired, and a revoke is proposed
//     again no sooner than retry later if it did not apply.
type lessor struct {
	mu sync.Mutex
	// term is the term this node leads in; 0 when it does not lead.
	term uint64
	// gen is the lease table generation the deadlines were synced with.
	gen uint64
	// deadline holds, while leading, the deadline of every live lease.
	deadline map[uint64]time.Time
	// expiring holds the leases whose revoke this leader decided on: a
	// keepalive can no longer save them.
	expiring map[uint64]struct{}
	// next is a lower bound of every deadline: before it nothing can have
	// expired, so expired skips its scan. Keepalives only move deadlines
	// later, which keeps it a lower bound; new deadlines lower it.
	next time.Time
}

func newLessor() *lessor {
	return &lessor{deadline: map[uint64]time.Time{}, expiring: map[uint64]struct{}{}}
}

// keepAliveResult is the outcome of lessor.keepAlive.
type keepAliveResult int

const (
	keptAlive  keepAliveResult = iota
	notLeading                 // the lessor does not lead in the term
	expiring                   // the lease expired: its revoke is under way
)

// promote starts leading in term at now: every lease gets a full TTL.
func (l *lessor) promote(now time.Time, term uint64, leases []kv.LeaseInfo, gen uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.deadline)
	clear(l.expiring)
	l.next = time.Time{}
	for _, le := range leases {
		l.setNew(le.ID, now.Add(ttlDuration(le.TTL)))
	}
	l.term, l.gen = term, gen
}

// setNew sets a new lease's deadline d and lowers next to it. The caller
// holds mu.
func (l *lessor) setNew(id uint64, d time.Time) {
	l.deadline[id] = d
	if l.next.IsZero() || d.Before(l.next) {
		l.next = d
	}
}

// demote stops leading: the deadlines are forgotten (a later promote
// starts over).
func (l *lessor) demote() {
	l.mu.Lock()
	defer l.mu.Unlock()
	clear(l.deadline)
	clear(l.expiring)
	l.term, l.gen = 0, 0
}

// leading returns the term the lessor leads in (0: none) and the lease
// generation it synced with.
func (l *lessor) leading() (term, gen uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.term, l.gen
}

// sync brings the deadlines in line with the lease table at gen: new
// leases get a full TTL from now, gone leases are dropped.
func (l *lessor) sync(now time.Time, leases []kv.LeaseInfo, gen uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.term == 0 {
		return
	}
	live := make(map[uint64]struct{}, len(leases))
	for _, le := range leases {
		live[le.ID] = struct{}{}
		if _, ok := l.deadline[le.ID]; !ok {
			l.setNew(le.ID, now.Add(ttlDuration(le.TTL)))
		}
	}
	for id := range l.deadline {
		if _, ok := live[id]; !ok {
			delete(l.deadline, id)
			delete(l.expiring, id)
		}
	}
	l.gen = gen
}

// keepAlive moves lease id's deadline to start + ttl (never earlier), if
// the lessor leads in term and has not expired the lease.
func (l *lessor) keepAlive(start time.Time, term, id, ttl uint64) keepAliveResult {
	d := start.Add(ttlDuration(ttl))
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.term == 0 || l.term != term {
		return notLeading
	}
	if _, ok := l.expiring[id]; ok {
		return expiring
	}
	if old, ok := l.deadline[id]; !ok || d.After(old) {
		l.deadline[id] = d
	}
	return keptAlive
}

// remaining returns how long lease id has left at now, and false if the
// lessor does not lead in term or does not know the lease.
func (l *lessor) remaining(now time.Time, term, id uint64) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	d, ok := l.deadline[id]
	if l.term == 0 || l.term != term || !ok {
		return 0, false
	}
	if _, ok := l.expiring[id]; ok {
		return 0, true
	}
	return max(0, d.Sub(now)), true
}

// expired returns, in ID order, up to limit leases whose deadline is
// before now, and pushes their deadlines to now + retry: the caller
// proposes their revokes, and one that does not apply (a lost proposal)
// comes back after retry.
func (l *lessor) expired(now time.Time, retry time.Duration, limit int) []uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.next.Before(now) {
		return nil // no deadline before now: nothing to scan
	}
	var ids []uint64
	var next time.Time
	for id, d := range l.deadline {
		if d.Before(now) {
			ids = append(ids, id)
		} else if next.IsZero() || d.Before(next) {
			next = d
		}
	}
	slices.Sort(ids)
	if r := now.Add(retry); len(ids) > 0 && (next.IsZero() || r.Before(next)) {
		next = r // the retries, and the ids over limit (still before now)
	}
	if len(ids) > limit {
		next = now // those over the limit are due at the next call
	}
	for _, id := range ids[:min(limit, len(ids))] {
		l.deadline[id] = now.Add(retry)
		l.expiring[id] = struct{}{}
	}
	l.next = next
	return ids[:min(limit, len(ids))]
}

// ttlDuration converts a TTL in milliseconds.
func ttlDuration(ms uint64) time.Duration { return time.Duration(ms) * time.Millisecond }
