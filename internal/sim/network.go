package sim

import (
	"fmt"
	"slices"

	"github.com/yggrdb/yggr/engine"
)

// inflight is a message on the simulated wire, delivered at tick due.
type inflight struct {
	due int
	msg engine.Message
}

// network is the simulated wire: per-message drop, duplication and delay
// (which reorders), and partitions, symmetric or one-way.
type network struct {
	queue []inflight

	dropP, dupP, longDelayP float64

	// group assigns nodes to partition groups; nodes in different groups
	// cannot talk. Nil means no partition.
	group map[engine.NodeID]int
	// cut blocks single directed links (one-way partitions).
	cut map[[2]engine.NodeID]bool
	// healAt is the tick the current partition ends (0: none).
	healAt int
	// stalls[from→to] is the tick until which a link holds its messages
	// (a congested queue): they all arrive in a burst when it ends.
	stalls map[[2]engine.NodeID]int
}

func (n *network) blocked(from, to engine.NodeID) bool {
	if n.group != nil && n.group[from] != n.group[to] {
		return true
	}
	return n.cut[[2]engine.NodeID{from, to}]
}

func (n *network) heal() {
	n.group, n.cut, n.healAt = nil, nil, 0
}

func (n *network) describe() string {
	if n.group == nil && len(n.cut) == 0 {
		return "healed"
	}
	s := ""
	if n.group != nil {
		gs := map[int][]string{}
		keys := make([]engine.NodeID, 0, len(n.group))
		for id := range n.group {
			keys = append(keys, id)
		}
		slices.Sort(keys)
		maxG := 0
		for _, id := range keys {
			g := n.group[id]
			gs[g] = append(gs[g], string(id))
			maxG = max(maxG, g)
		}
		for g := 0; g <= maxG; g++ {
			s += fmt.Sprintf("%v", gs[g])
		}
	}
	cuts := make([]string, 0, len(n.cut))
	for c := range n.cut {
		cuts = append(cuts, fmt.Sprintf("%s-x->%s", c[0], c[1]))
	}
	slices.Sort(cuts)
	for _, c := range cuts {
		s += " " + c
	}
	return "partition " + s
}

// copyMessage deep-copies m: the engine owns what it is given, and two
// engines must never share memory.
func copyMessage(m engine.Message) engine.Message {
	if m.Entries != nil {
		es := make([]engine.Entry, len(m.Entries))
		for i, e := range m.Entries {
			e.Data = slices.Clone(e.Data)
			es[i] = e
		}
		m.Entries = es
	}
	m.Data = slices.Clone(m.Data)
	m.Snapshot.Membership = m.Snapshot.Membership.Clone()
	return m
}

func copyEntries(in []engine.Entry) []engine.Entry {
	es := make([]engine.Entry, len(in))
	for i, e := range in {
		e.Data = slices.Clone(e.Data)
		es[i] = e
	}
	return es
}
