package engine

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMessageString(t *testing.T) {
	es := []Entry{{Term: 3, Index: 18}, {Term: 3, Index: 19}}
	snap := SnapshotMeta{Term: 2, Index: 11}
	tests := []struct {
		m    Message
		want string
	}{
		{Message{Type: MsgPreVote, From: "n1", To: "n2", Term: 4, LastIndex: 9, LastTerm: 3}, "n1->n2 PreVote 4 last=3/9"},
		{Message{Type: MsgVote, From: "n1", To: "n2", Term: 4, LastIndex: 9, LastTerm: 3, Transfer: true}, "n1->n2 Vote 4 last=3/9 transfer"},
		{Message{Type: MsgPreVoteResp, From: "n2", To: "n1", Term: 4}, "n2->n1 PreVoteResp 4 granted"},
		{Message{Type: MsgVoteResp, From: "n2", To: "n1", Term: 4, Reject: true}, "n2->n1 VoteResp 4 reject"},
		{Message{Type: MsgApp, From: "n1", To: "n2", Term: 3, PrevIndex: 17, PrevTerm: 3, Entries: es, Commit: 17}, "n1->n2 App 3 prev=3/17 entries=[3/18 3/19] commit=17"},
		{Message{Type: MsgApp, From: "n1", To: "n2", Term: 3}, "n1->n2 App 3 prev=0/0 entries=[] commit=0"},
		{Message{Type: MsgAppResp, From: "n2", To: "n1", Term: 3, Index: 19}, "n2->n1 AppResp 3 match=19"},
		{Message{Type: MsgAppResp, From: "n2", To: "n1", Term: 3, Reject: true, Index: 19, HintIndex: 12, HintTerm: 2}, "n2->n1 AppResp 3 reject=19 hint=2/12"},
		{Message{Type: MsgHeartbeat, From: "n1", To: "n2", Term: 3, Commit: 5, Context: 7}, "n1->n2 Heartbeat 3 commit=5 ctx=7"},
		{Message{Type: MsgHeartbeatResp, From: "n2", To: "n1", Term: 3, Context: 7}, "n2->n1 HeartbeatResp 3 ctx=7"},
		{Message{Type: MsgSnap, From: "n1", To: "n2", Term: 3, Snapshot: snap, Offset: 8, Data: []byte("abcd")}, "n1->n2 Snap 3 snap=2/11 off=8 len=4"},
		{Message{Type: MsgSnap, From: "n1", To: "n2", Term: 3, Snapshot: snap, Offset: 12, Done: true}, "n1->n2 Snap 3 snap=2/11 off=12 len=0 done"},
		{Message{Type: MsgSnapResp, From: "n2", To: "n1", Term: 3, Snapshot: snap, Offset: 8, Index: 12}, "n2->n1 SnapResp 3 snap=2/11 off=8 next=12"},
		{Message{Type: MsgSnapResp, From: "n2", To: "n1", Term: 3, Snapshot: snap, Reject: true}, "n2->n1 SnapResp 3 snap=2/11 off=0 next=0 reject"},
		{Message{Type: MsgTimeoutNow, From: "n1", To: "n2", Term: 3}, "n1->n2 TimeoutNow 3"},
		{Message{Type: MsgReadIndex, From: "n2", To: "n1", Term: 3, Context: 4}, "n2->n1 ReadIndex 3 ctx=4"},
		{Message{Type: MsgReadIndexResp, From: "n1", To: "n2", Term: 3, Context: 4, Index: 9}, "n1->n2 ReadIndexResp 3 ctx=4 index=9"},
		{Message{Type: MsgReadIndexResp, From: "n1", To: "n2", Term: 3, Context: 4, Reject: true}, "n1->n2 ReadIndexResp 3 ctx=4 index=0 reject"},
		{Message{Type: MsgNone, From: "n1", To: "n2"}, "n1->n2 None 0"},
		{Message{Type: MessageType(99), From: "n1", To: "n2", Term: 1}, "n1->n2 MessageType(99) 1"},
		{Message{Type: maxMessageType, From: "n1", To: "n2", Term: 1}, fmt.Sprintf("n1->n2 MessageType(%d) 1", maxMessageType)},
	}
	for _, tt := range tests {
		if got := tt.m.String(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestMessageTypePredicates(t *testing.T) {
	for mt := MsgNone; mt <= maxMessageType; mt++ {
		wantValid := mt != MsgNone && mt != maxMessageType
		if mt.Valid() != wantValid {
			t.Errorf("%v.Valid() = %v, want %v", mt, mt.Valid(), wantValid)
		}
		wantResp := false
		switch mt {
		case MsgPreVoteResp, MsgVoteResp, MsgAppResp, MsgHeartbeatResp, MsgSnapResp, MsgReadIndexResp:
			wantResp = true
		}
		if mt.IsResponse() != wantResp {
			t.Errorf("%v.IsResponse() = %v, want %v", mt, mt.IsResponse(), wantResp)
		}
	}
}

func TestEnumStrings(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{Follower.String(), "follower"}, {PreCandidate.String(), "pre-candidate"}, {Candidate.String(), "candidate"},
		{Leader.String(), "leader"}, {Role(9).String(), "Role(9)"},
		{Probe.String(), "probe"}, {Replicate.String(), "replicate"}, {Snapshot.String(), "snapshot"}, {ProgressState(7).String(), "ProgressState(7)"},
		{EntryNormal.String(), "normal"}, {EntryNoop.String(), "noop"}, {EntryConfig.String(), "config"}, {EntryType(5).String(), "EntryType(5)"},
		{Entry{Term: 2, Index: 7}.String(), "2/7"}, {SnapshotMeta{Term: 3, Index: 9}.String(), "3/9"},
		{Status{ID: "n1", Role: Leader, Term: 2, Leader: "n1", Commit: 5, Applied: 4, LastIndex: 6, LastTerm: 2, Membership: NewMembership(ids("n1 n2"), nil)}.String(),
			"n1 leader term=2 leader=n1 commit=5 applied=4 last=2/6 voters=(n1 n2) learners=()"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	if EntryType(3).Valid() || !EntryConfig.Valid() {
		t.Error("EntryType.Valid wrong")
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
