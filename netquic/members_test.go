package netquic

import (
	"errors"
	"fmt"
	"testing"

	"github.com/yggrdb/yggr/engine"
)

// TestMembershipLimit: the wire takes exactly the memberships
// engine.Membership.Validate accepts, in both wire versions:
// engine.MaxMembers voters (or learners) encode and decode, one more is
// refused on both sides.
func TestMembershipLimit(t *testing.T) {
	ids := func(n int) []engine.NodeID {
		out := make([]engine.NodeID, n)
		for i := range out {
			out[i] = engine.NodeID(fmt.Sprintf("n%05d", i))
		}
		return out
	}
	msg := func(mem engine.Membership) *engine.Message {
		return &engine.Message{Type: engine.MsgSnap, From: "a", To: "b", Term: 1,
			Snapshot: engine.SnapshotMeta{Index: 1, Term: 1, Membership: mem}}
	}
	for _, ver := range wireVersions {
		for _, learners := range []bool{false, true} {
			list := func(n int) engine.Membership {
				if learners {
					return engine.Membership{Voters: []engine.NodeID{"z"}, Learners: ids(n)}
				}
				return engine.Membership{Voters: ids(n)}
			}
			name := fmt.Sprintf("v%d learners=%v", ver, learners)
			f, err := appendFrame(ver, msg(list(engine.MaxMembers)), 0)
			if err != nil {
				t.Fatalf("%s: MaxMembers: %v", name, err)
			}
			m, err := decodeFrame(f, ver, 0)
			if got := len(m.Snapshot.Membership.Voters) + len(m.Snapshot.Membership.Learners); err != nil || got != engine.MaxMembers+btoi(learners) {
				t.Fatalf("%s: decode of MaxMembers: %d members, %v", name, got, err)
			}
			over := msg(list(engine.MaxMembers + 1))
			if _, err := appendFrame(ver, over, 0); !errors.Is(err, ErrBadMessage) {
				t.Errorf("%s: MaxMembers+1 encoded: err = %v, want ErrBadMessage", name, err)
			}
			// The same frame, encoded without validation, is refused by the
			// decoder.
			e := newBodyEncoder()
			e.encodeMessage(over, ver)
			f, err = appendBody(nil, ver, kindOf(over.Type), e, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := decodeFrame(f, ver, 0); !errors.Is(err, ErrBadFrame) {
				t.Errorf("%s: MaxMembers+1 decoded: err = %v, want ErrBadFrame", name, err)
			}
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
