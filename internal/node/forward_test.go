package node

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/yggrdb/yggr/engine"
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
		// A leader closed with the request in flight: this node is not
		// closed, and the request may still commit.
		{ErrClosed, ErrUnknownOutcome},
		{ErrNoSpace, ErrNoSpace},
		// A stopped leader's request in flight: its outcome is unknown.
		{&StorageError{Err: errors.New("log: sync x.wal: input/output error")}, ErrUnknownOutcome},
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

// A follower whose leader was closed with its forwarded request in flight
// is not closed itself: its caller gets ErrUnknownOutcome (and may retry),
// never ErrClosed, with the leader's message. (TestFencing in concurrency/
// saw "yggr: closed (at the leader)" on an open node whose leader was being
// stopped, seed 1796624126415635386.)
func TestForwardLeaderClosed(t *testing.T) {
	n := &Node{addrs: &addrBook{addrs: map[engine.NodeID]string{}}}
	_, _, err := n.decodeResponse(encodeResponse(0, nil, fmt.Errorf("while closing: %w", ErrClosed)))
	if !errors.Is(err, ErrUnknownOutcome) || errors.Is(err, ErrClosed) {
		t.Fatalf("leader closed: %v, want ErrUnknownOutcome and not ErrClosed", err)
	}
	if want := ErrUnknownOutcome.Error() + " (the leader closed: while closing: " + ErrClosed.Error() + ")"; err.Error() != want {
		t.Fatalf("leader closed: %q, want %q", err, want)
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
	f.Add(appendRequest(callTransfer, []byte("n2")...))
	n := &Node{addrs: &addrBook{addrs: map[engine.NodeID]string{}}}
	f.Fuzz(func(t *testing.T, b []byte) {
		n.decodeResponse(b)
		if kind, payload, err := splitRequest(b); err == nil {
			if kind != b[0]&0x0f || len(payload) != len(b)-1 {
				t.Fatalf("splitRequest(%x) = %d, %x", b, kind, payload)
			}
			decodeConfChange(payload)
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
