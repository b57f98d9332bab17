package netquic

import (
	"errors"
	"fmt"
	"testing"

	"github.com/yggrdb/yggr/engine"
)

// TestMembershipLimit: the wire takes exactly the memberships
// engine.Membership.Validate accepts: engine.MaxMembers voters encode and
// decode, one more is refused on both sides.
func TestMembershipLimit(t *testing.T) {
	ids := func(n int) []engine.NodeID {
		out := make([]engine.NodeID, n)
		for i := range out {
			out[i] = engine.NodeID(fmt.Sprintf("n%05d", i))
		}
		return out
	}
	msg := func(voters []engine.NodeID) *engine.Message {
		return &engine.Message{Type: engine.MsgSnap, From: "a", To: "b", Term: 1,
			Snapshot: engine.SnapshotMeta{Index: 1, Term: 1, Membership: engine.Membership{Voters: voters}}}
	}
	f, err := AppendMessage(nil, msg(ids(engine.MaxMembers)), 0)
	if err != nil {
		t.Fatalf("MaxMembers voters: %v", err)
	}
	if m, err := DecodeMessage(f, 0); err != nil || len(m.Snapshot.Membership.Voters) != engine.MaxMembers {
		t.Fatalf("decode of MaxMembers voters: %d voters, %v", len(m.Snapshot.Membership.Voters), err)
	}
	over := msg(ids(engine.MaxMembers + 1))
	if _, err := AppendMessage(nil, over, 0); !errors.Is(err, ErrBadMessage) {
		t.Errorf("MaxMembers+1 voters encoded: err = %v, want ErrBadMessage", err)
	}
	// The same frame, encoded without validation, is refused by the decoder.
	e := newBodyEncoder()
	e.encodeMessage(over)
	f, err = appendBody(nil, kindOf(over.Type), e, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeMessage(f, 0); !errors.Is(err, ErrBadFrame) {
		t.Errorf("MaxMembers+1 voters decoded: err = %v, want ErrBadFrame", err)
	}
}
