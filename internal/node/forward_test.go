package node

import (
	"errors"
	"testing"
	"time"

	"github.com/yggrdb/yggr/engine"
	raftlog "github.com/yggrdb/yggr/log"
)

func TestForwardResponseRoundTrip(t *testing.T) {
	n := &Node{addrs: &addrBook{addrs: map[engine.NodeID]string{"n2": "127.0.0.1:7"}}}
	cases := []struct {
		err  error
		want error
	}{
		{nil, nil},
		{&NotLeaderError{Leader: "n2"}, ErrNotLeader},
		{ErrBusy, ErrBusy},
		{ErrDropped, ErrDropped},
		{ErrUnknownOutcome, ErrUnknownOutcome},
		{ErrNoLeader, ErrNoLeader},
		{ErrMembership, ErrMembership},
		{ErrTransfer, ErrTransfer},
		{ErrClosed, ErrClosed},
	}
	for _, c := range cases {
		data, index, err := n.decodeResponse(encodeResponse(42, []byte("res"), c.err))
		if c.want == nil {
			if err != nil || string(data) != "res" || index != 42 {
				t.Errorf("ok response: got %q %d %v", data, index, err)
			}
			continue
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%v: decoded %v, want errors.Is %v", c.err, err, c.want)
		}
	}
	var nl *NotLeaderError
	_, _, err := n.decodeResponse(encodeResponse(0, nil, &NotLeaderError{Leader: "n2"}))
	if !errors.As(err, &nl) || nl.Leader != "n2" || nl.Addr != "127.0.0.1:7" {
		t.Errorf("not-leader details lost: %v", err)
	}
}

func TestConfChangeRoundTrip(t *testing.T) {
	cc := engine.ConfChange{Op: engine.ConfAddLearner, Node: "n4", Addr: "127.0.0.1:7074"}
	got, err := decodeConfChange(encodeConfChange(cc)[1:])
	if err != nil || got != cc {
		t.Fatalf("got %+v, %v; want %+v", got, err, cc)
	}
}

func FuzzDecodeForwarded(f *testing.F) {
	f.Add(encodeResponse(3, []byte("x"), nil))
	f.Add(encodeResponse(0, nil, ErrBusy))
	f.Add(encodeConfChange(engine.ConfChange{Op: engine.ConfRemove, Node: "n1"}))
	f.Add([]byte{})
	n := &Node{addrs: &addrBook{addrs: map[engine.NodeID]string{}}}
	f.Fuzz(func(t *testing.T, b []byte) {
		n.decodeResponse(b)
		if len(b) > 0 {
			decodeConfChange(b[1:])
		}
	})
}

// A leader whose disk write has been stuck for longer than an election
// timeout sends nothing early, heartbeats included, so the cluster can
// elect another leader.
func TestDiskStallHoldsEverySend(t *testing.T) {
	n := &Node{cfg: Config{TickInterval: 50 * time.Millisecond}}
	hb := engine.Message{Type: engine.MsgHeartbeat, From: "n1", To: "n2", Term: 3}
	app := engine.Message{Type: engine.MsgApp, From: "n1", To: "n2", Term: 3}
	ack := engine.Message{Type: engine.MsgAppResp, From: "n2", To: "n1", Term: 3}
	if !n.mayGoEarly(hb, false) || !n.mayGoEarly(app, false) {
		t.Fatal("idle disk: heartbeat and MsgApp should go early")
	}
	if n.mayGoEarly(ack, false) {
		t.Fatal("MsgAppResp must wait for the log write it acknowledges")
	}
	if n.mayGoEarly(hb, true) {
		t.Fatal("a message must wait for a term or vote change in its job")
	}
	n.writeStarted.Store(time.Now().Add(-100 * time.Millisecond).UnixNano())
	if !n.mayGoEarly(hb, false) {
		t.Fatal("a write in progress for 100ms (under the 500ms timeout) should not hold heartbeats")
	}
	n.writeStarted.Store(time.Now().Add(-time.Second).UnixNano())
	if n.mayGoEarly(hb, false) || n.mayGoEarly(app, false) {
		t.Fatal("a write stuck for 1s (over the 500ms election timeout) must hold every send")
	}
}

func TestMergeBatches(t *testing.T) {
	e := func(term, index uint64) engine.Entry { return engine.Entry{Term: term, Index: index} }
	hs1, hs2 := engine.HardState{Term: 1, Commit: 1}, engine.HardState{Term: 2, Commit: 2}
	cases := []struct {
		name       string
		a, b       raftlog.Batch
		want       []engine.Entry
		truncate   uint64
		wantCommit uint64
	}{
		{"append", raftlog.Batch{Entries: []engine.Entry{e(1, 1)}, HardState: &hs1},
			raftlog.Batch{Entries: []engine.Entry{e(1, 2)}}, []engine.Entry{e(1, 1), e(1, 2)}, 0, 1},
		{"b truncates a's tail", raftlog.Batch{Entries: []engine.Entry{e(1, 5), e(1, 6), e(1, 7)}},
			raftlog.Batch{TruncateFrom: 6, Entries: []engine.Entry{e(2, 6)}, HardState: &hs2}, []engine.Entry{e(1, 5), e(2, 6)}, 6, 2},
		{"b truncates below a", raftlog.Batch{TruncateFrom: 6, Entries: []engine.Entry{e(2, 6)}},
			raftlog.Batch{TruncateFrom: 4, Entries: []engine.Entry{e(3, 4)}}, []engine.Entry{e(3, 4)}, 4, 0},
	}
	for _, c := range cases {
		got := mergeBatches(c.a, c.b)
		var commit uint64
		if got.HardState != nil {
			commit = got.HardState.Commit
		}
		if len(got.Entries) != len(c.want) || got.TruncateFrom != c.truncate || commit != c.wantCommit {
			t.Errorf("%s: got %+v", c.name, got)
			continue
		}
		for i := range c.want {
			if got.Entries[i].Term != c.want[i].Term || got.Entries[i].Index != c.want[i].Index {
				t.Errorf("%s: entry %d = %v, want %v", c.name, i, got.Entries[i], c.want[i])
			}
		}
	}
}
