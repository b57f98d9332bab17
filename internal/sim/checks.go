package sim

import (
	"github.com/yggrdb/yggr/engine"
)

// checker holds the cluster-wide history the safety properties are checked
// against. Every check is incremental, so it can run after every step.
type checker struct {
	// leaders[term] is the node that became leader in term (Election Safety).
	leaders map[uint64]engine.NodeID
	// entryAt[(index, term)] identifies the entry and the term of the entry
	// before it (Log Matching, by induction).
	entryAt map[[2]uint64]entryID
	// committed[i] is the term of the committed entry at i, 0 if unknown.
	committed []uint64
	// commitTerm[i] is the lowest term at which any node saw index i
	// committed: the committing leader sees it first, in its own term, so
	// this is the term in which the entry was committed.
	commitTerm   []uint64
	maxCommitted uint64
	// applied[i] is the entry first applied at i and the running hash after
	// it (State Machine Safety).
	applied []appliedRec
	// snaps[(index, term)] is the running hash of a snapshot's state.
	snaps map[[2]uint64]uint64
}

type entryID struct {
	hash     uint64
	prevTerm uint64
	node     engine.NodeID
}

type appliedRec struct {
	term  uint64
	hash  uint64 // entryHash
	cum   uint64 // running hash after it
	node  engine.NodeID
	valid bool
}

func (c *checker) init() {
	c.leaders = map[uint64]engine.NodeID{}
	c.entryAt = map[[2]uint64]entryID{}
	c.snaps = map[[2]uint64]uint64{}
	c.committed = []uint64{0}
	c.commitTerm = []uint64{0}
	c.applied = []appliedRec{{valid: true}}
}

// onAppend checks Log Matching for entries just appended to h's log: the
// same (index, term) must always name the same entry, following the same
// term; by induction, two logs that share an entry share the prefix.
func (c *checker) onAppend(w *world, h *host, ents []engine.Entry) {
	for _, e := range ents {
		prev, ok := h.disk.cur.term(e.Index - 1)
		if !ok {
			prev = ^uint64(0)
		}
		id := entryID{hash: entryHash(e), prevTerm: prev, node: h.id}
		key := [2]uint64{e.Index, e.Term}
		old, seen := c.entryAt[key]
		if !seen {
			c.entryAt[key] = id
			continue
		}
		if old.hash != id.hash {
			w.violate("log matching", "%s appended %s with other content than %s's %s", h.id, e, old.node, e)
			return
		}
		if old.prevTerm != id.prevTerm && old.prevTerm != ^uint64(0) && prev != ^uint64(0) {
			w.violate("log matching", "%s has %s after term %d, %s has it after term %d", h.id, e, prev, old.node, old.prevTerm)
			return
		}
	}
}

// onApply checks State Machine Safety: no two nodes apply different entries
// at one index, and their states agree after it.
func (c *checker) onApply(w *world, h *host, e engine.Entry) {
	i := e.Index
	if uint64(len(c.applied)) <= i {
		c.applied = append(c.applied, make([]appliedRec, i+1-uint64(len(c.applied)))...)
	}
	rec := appliedRec{term: e.Term, hash: entryHash(e), cum: h.sm.hash, node: h.id, valid: true}
	old := c.applied[i]
	if !old.valid {
		c.applied[i] = rec
	} else if old.term != rec.term || old.hash != rec.hash {
		w.violate("state machine safety", "%s applied %d/%d, %s applied %d/%d with other content", h.id, e.Term, i, old.node, old.term, i)
		return
	} else if old.cum != rec.cum {
		w.violate("state machine safety", "%s's state after %s differs from %s's (running hash)", h.id, e, old.node)
		return
	}
	if t := c.committedTerm(i); t != 0 && t != e.Term {
		w.violate("state machine safety", "%s applied %s but %d/%d was committed", h.id, e, t, i)
	}
}

func (c *checker) committedTerm(i uint64) uint64 {
	if i < uint64(len(c.committed)) {
		return c.committed[i]
	}
	return 0
}

// onSnapshot records a snapshot a host took; its state must match what was
// applied at its index.
func (c *checker) onSnapshot(w *world, h *host, meta engine.SnapshotMeta, hash uint64) {
	key := [2]uint64{meta.Index, meta.Term}
	if old, ok := c.snaps[key]; ok && old != hash {
		w.violate("state machine safety", "%s's snapshot %s differs from an earlier snapshot %s", h.id, meta, meta)
		return
	}
	c.snaps[key] = hash
	if meta.Index < uint64(len(c.applied)) {
		if r := c.applied[meta.Index]; r.valid && (r.cum != hash || r.term != meta.Term) {
			w.violate("state machine safety", "%s's snapshot %s does not match the state applied at %d", h.id, meta, meta.Index)
		}
	}
}

// onRestore checks a snapshot a follower installs.
func (c *checker) onRestore(w *world, h *host, meta engine.SnapshotMeta, img snapshotImage) {
	if img.index != meta.Index || img.term != meta.Term {
		w.violate("host contract", "%s: RestoreSnapshot %s but the snapshot bytes hold %d/%d", h.id, meta, img.term, img.index)
		return
	}
	if meta.Index < h.sm.applied {
		w.violate("state machine safety", "%s restores snapshot %s below its applied index %d", h.id, meta, h.sm.applied)
		return
	}
	c.onSnapshot(w, h, meta, img.hash)
	if t := c.committedTerm(meta.Index); t != 0 && t != meta.Term {
		w.violate("state machine safety", "%s restores snapshot %s but %d/%d was committed", h.id, meta, t, meta.Index)
	}
}

// onRoleChanged checks Election Safety and Leader Completeness.
func (c *checker) onRoleChanged(w *world, h *host, rc engine.RoleChanged) {
	if rc.Role != engine.Leader {
		return
	}
	if rc.Leader != h.id {
		w.violate("election safety", "%s became leader of term %d naming %q as leader", h.id, rc.Term, rc.Leader)
		return
	}
	if other, ok := c.leaders[rc.Term]; ok && other != h.id {
		w.violate("election safety", "%s and %s both became leader of term %d", other, h.id, rc.Term)
		return
	}
	c.leaders[rc.Term] = h.id
	if m := h.eng.Status().Membership; !m.IsVoter(h.id) {
		w.violate("election safety", "%s became leader of term %d but is not a voter of its configuration %s", h.id, rc.Term, m)
		return
	}
	// Raft §5.4: an entry committed in term T is in the log of every
	// leader of a term above T. (A leader of an older term, elected late
	// by delayed votes, need not have it: it can no longer commit.)
	d := &h.disk.cur
	for i := uint64(1); i <= c.maxCommitted; i++ {
		want := c.committed[i]
		if want == 0 || i < d.floorIndex || c.commitTerm[i] >= rc.Term {
			continue
		}
		got, ok := d.term(i)
		if !ok || got != want {
			w.violate("leader completeness", "%s became leader of term %d without committed entry %d/%d (has term %d, log %d..%d)", h.id, rc.Term, want, i, got, d.floorIndex, d.lastIndex())
			return
		}
	}
}

// afterStep checks h's engine status after each step.
func (c *checker) afterStep(w *world, h *host) {
	if !h.up {
		return
	}
	st := h.eng.Status()
	if st.Term < h.lastTerm {
		if h.recovering {
			w.violate("term monotonic", "%s recovered at term %d below its durable term %d", h.id, st.Term, h.lastTerm)
		} else {
			w.violate("term monotonic", "%s went from term %d to %d", h.id, h.lastTerm, st.Term)
		}
		return
	}
	h.lastTerm = st.Term
	if st.Commit < h.lastCommit {
		w.violate("commit monotonic", "%s went from commit %d to %d", h.id, h.lastCommit, st.Commit)
		return
	}
	if st.SnapshotIndex > st.Commit {
		w.violate("snapshot floor", "%s has snapshot floor %d above commit %d", h.id, st.SnapshotIndex, st.Commit)
		return
	}
	d := &h.disk.cur
	if st.Commit > h.lastCommit {
		if st.Commit > d.lastIndex() && st.Commit > d.snap.Index {
			w.violate("commit", "%s commits %d beyond its log (last %d, snapshot %s)", h.id, st.Commit, d.lastIndex(), d.snap)
			return
		}
		for i := h.lastCommit + 1; i <= st.Commit; i++ {
			t, ok := d.term(i)
			if !ok {
				if i == d.snap.Index {
					t = d.snap.Term
				} else {
					continue
				}
			}
			for uint64(len(c.committed)) <= i {
				c.committed = append(c.committed, 0)
				c.commitTerm = append(c.commitTerm, 0)
			}
			if ct := c.commitTerm[i]; ct == 0 || st.Term < ct {
				c.commitTerm[i] = st.Term
			}
			if old := c.committed[i]; old != 0 && old != t {
				w.violate("state machine safety", "%s commits %d/%d but %d/%d was committed before", h.id, t, i, old, i)
				return
			}
			if r := c.applied; i < uint64(len(r)) && r[i].valid && r[i].term != t {
				w.violate("state machine safety", "%s commits %d/%d but %d/%d was applied", h.id, t, i, r[i].term, i)
				return
			}
			c.committed[i] = t
			c.maxCommitted = max(c.maxCommitted, i)
		}
		h.lastCommit = st.Commit
	}
	if h.sm.applied > st.Commit {
		w.violate("state machine safety", "%s applied %d above commit %d", h.id, h.sm.applied, st.Commit)
		return
	}
	if st.Role != h.role {
		w.violate("status", "%s status says %s, RoleChanged said %s", h.id, st.Role, h.role)
	}
	h.term = st.Term
}

// endOfTick runs the checks over the whole cluster.
func (c *checker) endOfTick(w *world) {
	for _, h := range w.hosts {
		if !h.up || h.role != engine.Leader {
			continue
		}
		st := h.eng.Status()
		n := 0
		for _, i := range h.configIdx {
			if i > st.Commit {
				n++
			}
		}
		if n > 1 {
			w.violate("one config change", "leader %s (term %d, commit %d) has %d uncommitted config entries %v", h.id, st.Term, st.Commit, n, h.configIdx)
			return
		}
	}
}

// checkSend checks, as a message leaves h, that everything it reflects is
// durable: its term, a granted vote, an acknowledged log entry, the last
// entry a vote request claims.
func (c *checker) checkSend(w *world, h *host, s heldSend) {
	m := s.msg
	d := &h.disk.dur
	if m.From != h.id {
		w.violate("host contract", "%s sends a message from %s", h.id, m.From)
		return
	}
	switch m.Type {
	case engine.MsgPreVote, engine.MsgPreVoteResp:
		return
	}
	if m.Term > d.hs.Term {
		w.violate("persist before send", "%s sends %s but its durable term is %d", h.id, m, d.hs.Term)
		return
	}
	if m.Type == engine.MsgVoteResp && !m.Reject && d.hs.Term == m.Term && d.hs.Vote != m.To {
		w.violate("persist before send", "%s grants its vote in term %d to %s but its durable vote is %q", h.id, m.Term, m.To, d.hs.Vote)
		return
	}
	if s.logBad != "" {
		w.violate("persist before send", "%s sends %s: it %s", h.id, m, s.logBad)
		return
	}
	if s.logNeed > h.disk.synced {
		w.violate("persist before send", "%s sends %s before the entry it vouches for is durable (write %d, synced %d)", h.id, m, s.logNeed, h.disk.synced)
	}
}
