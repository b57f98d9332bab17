package yggr

import (
	"slices"
	"testing"
	"time"

	"github.com/yggrdb/yggr/internal/kv"
)

// The lessor's rules, driven by a fake clock.

var t0 = time.Unix(1_000_000, 0)

func TestLessorKeepAliveWithinTTLNeverExpires(t *testing.T) {
	l := newLessor()
	l.promote(t0, 2, []kv.LeaseInfo{{ID: 5, TTL: 1000}}, 1)
	now := t0
	// Keepalives every 900ms for 100 rounds: never expired.
	for i := range 100 {
		if ids := l.expired(now, time.Second, 10); len(ids) != 0 {
			t.Fatalf("round %d: expired %v although kept alive within its TTL", i, ids)
		}
		if r := l.keepAlive(now, 2, 5, 1000); r != keptAlive {
			t.Fatalf("round %d: keepAlive = %v", i, r)
		}
		now = now.Add(900 * time.Millisecond)
	}
	// Abandoned: not expired before its deadline, expired right after.
	last := now.Add(-900 * time.Millisecond)
	if ids := l.expired(last.Add(time.Second), time.Second, 10); len(ids) != 0 {
		t.Fatalf("expired at exactly the deadline: %v", ids)
	}
	if ids := l.expired(last.Add(time.Second+time.Millisecond), time.Second, 10); !slices.Equal(ids, []uint64{5}) {
		t.Fatalf("expired after the deadline = %v, want [5]", ids)
	}
	// Once expiring, a keepalive cannot save it, and it is not reported
	// again before retry.
	if r := l.keepAlive(last.Add(time.Second+2*time.Millisecond), 2, 5, 1000); r != expiring {
		t.Fatalf("keepAlive after expiry = %v, want expiring", r)
	}
	if ids := l.expired(last.Add(time.Second+500*time.Millisecond), time.Second, 10); len(ids) != 0 {
		t.Fatalf("expired again before retry: %v", ids)
	}
	if ids := l.expired(last.Add(3*time.Second), time.Second, 10); !slices.Equal(ids, []uint64{5}) {
		t.Fatalf("expired after retry = %v, want [5] again", ids)
	}
}

// TestLessorNewLeaderGivesFullTTL: a deadline that passed under the old
// leader does not expire the lease under a new one before a full TTL.
func TestLessorNewLeaderGivesFullTTL(t *testing.T) {
	old := newLessor()
	old.promote(t0, 1, []kv.LeaseInfo{{ID: 3, TTL: 1000}}, 1)
	leases := []kv.LeaseInfo{{ID: 3, TTL: 1000}}
	// The new leader starts at t0+5s, long after the old deadline.
	nl := newLessor()
	start := t0.Add(5 * time.Second)
	nl.promote(start, 2, leases, 1)
	if ids := nl.expired(start.Add(999*time.Millisecond), time.Second, 10); len(ids) != 0 {
		t.Fatalf("new leader expired %v before a full TTL", ids)
	}
	if ids := nl.expired(start.Add(1001*time.Millisecond), time.Second, 10); !slices.Equal(ids, []uint64{3}) {
		t.Fatalf("new leader after a full TTL: expired %v, want [3]", ids)
	}
	// A keepalive for another term is refused (the caller retries at the
	// current leader).
	if r := nl.keepAlive(start, 1, 3, 1000); r != notLeading {
		t.Fatalf("keepAlive for an old term = %v, want notLeading", r)
	}
	// Demoted, it expires nothing; promoted again, it starts over.
	nl.demote()
	if ids := nl.expired(start.Add(time.Hour), time.Second, 10); len(ids) != 0 {
		t.Fatalf("demoted lessor expired %v", ids)
	}
	again := start.Add(time.Hour)
	nl.promote(again, 4, leases, 1)
	if ids := nl.expired(again.Add(999*time.Millisecond), time.Second, 10); len(ids) != 0 {
		t.Fatalf("re-promoted lessor expired %v early", ids)
	}
}

func TestLessorSync(t *testing.T) {
	l := newLessor()
	l.sync(t0, []kv.LeaseInfo{{ID: 1, TTL: 10}}, 1) // not leading: ignored
	if _, ok := l.remaining(t0, 0, 1); ok {
		t.Fatalf("a lessor that does not lead knows a lease")
	}
	l.promote(t0, 1, nil, 0)
	// A lease granted later gets a full TTL from when it is first seen.
	seen := t0.Add(time.Minute)
	l.sync(seen, []kv.LeaseInfo{{ID: 7, TTL: 2000}, {ID: 9, TTL: 100}}, 2)
	if rem, ok := l.remaining(seen.Add(500*time.Millisecond), 1, 7); !ok || rem != 1500*time.Millisecond {
		t.Fatalf("remaining = %v, %v; want 1.5s", rem, ok)
	}
	if _, g := l.leading(); g != 2 {
		t.Fatalf("gen = %d, want 2", g)
	}
	// A revoked lease is dropped.
	l.sync(seen, []kv.LeaseInfo{{ID: 7, TTL: 2000}}, 3)
	if _, ok := l.remaining(seen, 1, 9); ok {
		t.Fatalf("revoked lease still has a deadline")
	}
	// Expiry reports in ID order and at most limit.
	l.sync(seen, []kv.LeaseInfo{{ID: 7, TTL: 2000}, {ID: 8, TTL: 1}, {ID: 11, TTL: 1}, {ID: 12, TTL: 1}}, 4)
	if ids := l.expired(seen.Add(time.Second), time.Second, 2); !slices.Equal(ids, []uint64{8, 11}) {
		t.Fatalf("expired = %v, want [8 11]", ids)
	}
	// The one over the limit comes at the next call, not after retry.
	if ids := l.expired(seen.Add(time.Second+time.Millisecond), time.Second, 2); !slices.Equal(ids, []uint64{12}) {
		t.Fatalf("expired after the limit = %v, want [12]", ids)
	}
	// A keepalive after the skip bound was computed still counts: the
	// bound only lets expired skip scans while nothing can be due.
	l.keepAlive(seen.Add(1500*time.Millisecond), 1, 7, 2000)
	if ids := l.expired(seen.Add(2500*time.Millisecond), time.Second, 10); slices.Contains(ids, 7) {
		t.Fatalf("expired %v: the kept-alive lease 7 is due at 3.5s", ids)
	}
	if ids := l.expired(seen.Add(3600*time.Millisecond), time.Second, 10); !slices.Contains(ids, 7) {
		t.Fatalf("expired = %v at 3.6s, want lease 7 among them", ids)
	}
}

func TestLeaseWireRoundTrip(t *testing.T) {
	for _, r := range []leaseRequest{{leaseOpKeepAlive, 1}, {leaseOpTimeToLive, 1 << 62}} {
		got, err := decodeLeaseRequest(encodeLeaseRequest(r))
		if err != nil || got != r {
			t.Errorf("request %+v: decoded %+v, %v", r, got, err)
		}
	}
	for _, r := range []leaseResponse{{leaseStatusOK, 1000, 999}, {leaseStatusNotFound, 0, 0}, {leaseStatusOK, 1 << 40, 0}} {
		got, err := decodeLeaseResponse(encodeLeaseResponse(r))
		if err != nil || got != r {
			t.Errorf("response %+v: decoded %+v, %v", r, got, err)
		}
	}
	for _, b := range [][]byte{nil, {1}, {1, 1}, {2, 1, 5}, {1, 3, 5}, {1, 1, 0}, {1, 1, 0x85, 0}, {1, 1, 5, 0}} {
		if _, err := decodeLeaseRequest(b); err == nil {
			t.Errorf("decodeLeaseRequest(%x) accepted", b)
		}
	}
	for _, b := range [][]byte{nil, {1, 0, 1}, {2, 0, 1, 1}, {1, 2, 1, 1}, {1, 0, 0x81, 0, 1}, {1, 0, 1, 1, 0}} {
		if _, err := decodeLeaseResponse(b); err == nil {
			t.Errorf("decodeLeaseResponse(%x) accepted", b)
		}
	}
}

// FuzzLeaseRequest: decoding never panics, and what decodes re-encodes to
// the same bytes.
func FuzzLeaseRequest(f *testing.F) {
	f.Add(encodeLeaseRequest(leaseRequest{leaseOpKeepAlive, 300}))
	f.Add([]byte{1, 2, 0x80, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeLeaseRequest(b)
		if err != nil {
			return
		}
		if re := encodeLeaseRequest(r); string(re) != string(b) {
			t.Fatalf("re-encoded %x, want %x", re, b)
		}
	})
}

// FuzzLeaseResponse: as FuzzLeaseRequest, for answers.
func FuzzLeaseResponse(f *testing.F) {
	f.Add(encodeLeaseResponse(leaseResponse{leaseStatusOK, 5000, 4000}))
	f.Add(encodeLeaseResponse(leaseResponse{leaseStatusNotFound, 0, 0}))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeLeaseResponse(b)
		if err != nil {
			return
		}
		if re := encodeLeaseResponse(r); string(re) != string(b) {
			t.Fatalf("re-encoded %x, want %x", re, b)
		}
	})
}
