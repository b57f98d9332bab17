package engine

import "slices"

// quorum is the size of a majority of n voters (Raft §5.2).
func quorum(n int) int { return n/2 + 1 }

// majorityIndex returns the largest index that a majority of the given
// per-voter indexes have reached: the quorum-th largest.
func majorityIndex(indexes []uint64) uint64 {
	if len(indexes) == 0 {
		return 0
	}
	s := slices.Clone(indexes)
	slices.Sort(s)
	return s[len(s)-quorum(len(s))]
}

// voteResult is the outcome of an election so far.
type voteResult uint8

const (
	votePending voteResult = iota
	voteWon
	voteLost
)

// tally counts the votes of the voters: granted[id] is true for a grant and
// false for a rejection; absent voters have not answered.
func tally(voters []NodeID, granted map[NodeID]bool) voteResult {
	yes, no := 0, 0
	for _, id := range voters {
		if g, ok := granted[id]; ok {
			if g {
				yes++
			} else {
				no++
			}
		}
	}
	q := quorum(len(voters))
	switch {
	case yes >= q:
		return voteWon
	case len(voters)-no < q:
		return voteLost
	}
	return votePending
}
