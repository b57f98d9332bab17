package node

import (
	"errors"
	"testing"

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
