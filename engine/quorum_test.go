package engine

import (
	"fmt"
	"testing"

	"pgregory.net/rapid"
)

// TestPropertyQuorumMath checks majorityIndex and tally against naive
// definitions.
func TestPropertyQuorumMath(t *testing.T) {
	setPropertyChecks(t)
	rapid.Check(t, func(rt *rapid.T) {
		idx := rapid.SliceOfN(rapid.Uint64Range(0, 20), 1, 9).Draw(rt, "indexes")
		// Naive: the largest x such that a majority has index ≥ x.
		var want uint64
		for _, x := range idx {
			n := 0
			for _, y := range idx {
				if y >= x {
					n++
				}
			}
			if n > len(idx)/2 && x > want {
				want = x
			}
		}
		if got := majorityIndex(idx); got != want {
			rt.Fatalf("majorityIndex(%v) = %d, want %d", idx, got, want)
		}

		nv := rapid.IntRange(1, 7).Draw(rt, "voters")
		var voters []NodeID
		votes := map[NodeID]bool{}
		yes, no := 0, 0
		for i := range nv {
			id := NodeID(fmt.Sprintf("v%d", i))
			voters = append(voters, id)
			switch rapid.IntRange(0, 2).Draw(rt, "vote") {
			case 1:
				votes[id] = true
				yes++
			case 2:
				votes[id] = false
				no++
			}
		}
		// Votes from non-voters never count.
		votes["outsider"] = rapid.Bool().Draw(rt, "outsider")
		wantRes := votePending
		switch {
		case 2*yes > nv:
			wantRes = voteWon
		case 2*(nv-no) <= nv:
			wantRes = voteLost
		}
		if got := tally(voters, votes); got != wantRes {
			rt.Fatalf("tally(%d voters, yes=%d no=%d) = %d, want %d", nv, yes, no, got, wantRes)
		}
	})
}
