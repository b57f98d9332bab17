package node

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/yggrdb/yggr/engine"
)

func TestPeerStatusEncoding(t *testing.T) {
	for _, s := range []PeerStatus{
		{},
		{Role: engine.Leader, Leader: "n1", Term: 7, Commit: 1 << 40, Applied: 1<<40 - 3, LastIndex: 1<<40 + 9},
		{Role: engine.Candidate, Term: 3},
	} {
		got, err := decodePeerStatus(encodePeerStatus(s))
		if err != nil {
			t.Fatalf("decode(encode(%+v)): %v", s, err)
		}
		if diff := cmp.Diff(s, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
	bad := map[string][]byte{
		"empty":        nil,
		"version":      {2, 0, 1, 1, 1, 1},
		"role":         {1, 9, 1, 1, 1, 1},
		"truncated":    {1, 0, 1, 1, 1, 0x80},
		"leader bytes": append([]byte{1, 0, 1, 1, 1, 1}, make([]byte, engine.MaxNodeIDLen+1)...),
	}
	for name, b := range bad {
		if _, err := decodePeerStatus(b); err == nil {
			t.Errorf("%s: decode(%x) succeeded, want an error", name, b)
		}
	}
}

// Any node answers a status call, follower or leader, with its own view.
func TestHandleStatusCall(t *testing.T) {
	n := &Node{addrs: &addrBook{addrs: map[engine.NodeID]string{}}, w: &waiters{}}
	n.cfg.ID = "n3"
	n.status.Store(&engine.Status{Role: engine.Follower, Leader: "n2", Term: 4, Commit: 12, LastIndex: 13})
	resp, err := n.handleCall(context.Background(), "n1", []byte{callStatus})
	if err != nil {
		t.Fatal(err)
	}
	data, _, err := n.decodeResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodePeerStatus(data)
	if err != nil {
		t.Fatal(err)
	}
	want := PeerStatus{Role: engine.Follower, Leader: "n2", Term: 4, Commit: 12, LastIndex: 13}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("status call (-want +got):\n%s", diff)
	}
	self, err := n.PeerStatus(context.Background(), "n3")
	if err != nil || self != want {
		t.Errorf("PeerStatus(self) = %+v, %v; want %+v", self, err, want)
	}
	if _, err := n.PeerStatus(context.Background(), "n1"); err == nil {
		t.Error("PeerStatus of another node without a network succeeded")
	}
}

func FuzzDecodePeerStatus(f *testing.F) {
	f.Add(encodePeerStatus(PeerStatus{Role: engine.Leader, Leader: "n1", Term: 2, Commit: 5, Applied: 5, LastIndex: 6}))
	f.Add([]byte{1, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodePeerStatus(b)
		if err != nil {
			return
		}
		again, err := decodePeerStatus(encodePeerStatus(s))
		if err != nil || again != s {
			t.Fatalf("re-encoding %+v: %+v, %v", s, again, err)
		}
	})
}
