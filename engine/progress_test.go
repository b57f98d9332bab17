package engine

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// progress.maybeUpdate: only a higher index advances match; an equal one
// does not, but still frees the in-flight messages it covers.
func TestMaybeUpdateBoundary(t *testing.T) {
	p := &progress{match: 5, next: 9, state: Replicate, inflight: []uint64{6, 8}}
	if p.maybeUpdate(5) {
		t.Error("an acknowledgement of the current match reported progress")
	}
	if !p.maybeUpdate(6) || p.match != 6 || len(p.inflight) != 1 || p.inflight[0] != 8 {
		t.Errorf("after ack 6: %+v", p)
	}
	// An acknowledgement past next (of a MsgApp sent before the leader
	// backed off) moves next past it: those entries are not sent again.
	p = &progress{match: 5, next: 7, state: Replicate}
	if !p.maybeUpdate(9) || p.match != 9 || p.next != 10 {
		t.Errorf("after ack 9 with next 7: %+v, want match 9 next 10", p)
	}
}

// TestProgressTransitions walks the progress state machine: probe →
// replicate on an acknowledgement, back to probe on a rejection, snapshot
// and back to probe once installed; pausing and the in-flight window.
func TestProgressTransitions(t *testing.T) {
	type view struct {
		State     ProgressState
		Match     uint64
		Next      uint64
		ProbeSent bool
		Inflight  []uint64
	}
	v := func(p *progress) view {
		return view{p.state, p.match, p.next, p.probeSent, append([]uint64(nil), p.inflight...)}
	}
	check := func(step string, p *progress, want view) {
		t.Helper()
		if d := cmp.Diff(want, v(p)); d != "" {
			t.Fatalf("%s (-want +got):\n%s", step, d)
		}
	}
	p := &progress{next: 11}
	check("new", p, view{Probe, 0, 11, false, nil})
	if p.paused(2) {
		t.Fatal("a fresh probe is paused")
	}
	p.sentEntries(12, 2)
	check("probe sent", p, view{Probe, 0, 11, true, nil})
	if !p.paused(2) {
		t.Fatal("probe not paused after sending")
	}
	// A stale rejection (not of the last probe) is ignored.
	if p.maybeDecrTo(5, 3) {
		t.Fatal("stale probe rejection accepted")
	}
	// A rejection of the probe at prev=10 with hint 6 moves next to 7.
	if !p.maybeDecrTo(10, 6) {
		t.Fatal("probe rejection ignored")
	}
	check("rejected", p, view{Probe, 0, 7, false, nil})
	// The hint never moves next past the rejected index.
	p.sentEntries(8, 2)
	if !p.maybeDecrTo(6, 100) {
		t.Fatal("rejection ignored")
	}
	check("hint above", p, view{Probe, 0, 6, false, nil})

	if !p.maybeUpdate(8) {
		t.Fatal("acknowledgement ignored")
	}
	p.becomeReplicate()
	check("replicate", p, view{Replicate, 8, 9, false, nil})
	p.sentEntries(10, 2)
	p.sentEntries(12, 2)
	p.sentEntries(12, 0) // an empty MsgApp takes no slot
	check("pipelined", p, view{Replicate, 8, 13, false, []uint64{10, 12}})
	if !p.paused(2) || p.paused(3) {
		t.Fatal("window accounting wrong")
	}
	// An acknowledgement frees the covered messages.
	p.maybeUpdate(10)
	check("acked", p, view{Replicate, 10, 13, false, []uint64{12}})
	// A duplicate (old) acknowledgement changes nothing.
	if p.maybeUpdate(9) {
		t.Fatal("old acknowledgement moved match")
	}
	// A rejection of something already matched is stale.
	if p.maybeDecrTo(10, 0) {
		t.Fatal("stale replicate rejection accepted")
	}
	// A real rejection sends next back to match+1.
	if !p.maybeDecrTo(12, 11) {
		t.Fatal("replicate rejection ignored")
	}
	p.becomeProbe()
	check("back to probe", p, view{Probe, 10, 11, false, nil})

	s := SnapshotMeta{Index: 50, Term: 4}
	p.becomeSnapshot(s)
	check("snapshot", p, view{Snapshot, 10, 11, false, nil})
	if !p.paused(100) {
		t.Fatal("snapshot state not paused")
	}
	p.sentEntries(99, 3) // no effect in snapshot state
	p.maybeUpdate(50)
	p.becomeProbe()
	check("installed", p, view{Probe, 50, 51, false, nil})
	// Leaving snapshot state before install probes after the snapshot.
	p2 := &progress{match: 3, next: 4}
	p2.becomeSnapshot(s)
	p2.becomeProbe()
	check("aborted snapshot", p2, view{Probe, 3, 51, false, nil})
}
