// The synchronous test host shared by the interaction scenarios, the
// property tests and the fuzz target.

package engine

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// iNode is one node of the interaction host: its engine (nil while
// crashed) and its durable state, written synchronously.
type iNode struct {
	id  NodeID
	cfg Config
	e   *Engine

	// Durable state.
	hs       HardState
	snap     SnapshotMeta
	snapData []byte
	log      []Entry // entries not yet compacted (may start below snap)

	// incoming is the snapshot being received (WriteSnapshotChunk).
	incoming     []byte
	incomingMeta SnapshotMeta

	// The state machine: applied normal entries, and the applied index.
	sm      []Entry
	applied uint64

	// waiters are proposal IDs keyed by the (term, index) the engine
	// assigned, as a host's reply waiters are.
	waiters map[uint64]Entry

	manualPersist bool
	// justRestarted is set from a restart to the next PersistHardState.
	justRestarted bool
	// incarnation counts restarts; it is the engine's Config.Incarnation.
	incarnation uint64
	// failChunks makes the host fail to read outgoing snapshot chunks.
	failChunks bool
	lastHint   uint64

	// ready and failed record how each read and proposal ended:
	// ReadReady's index by read ID, ReadFailed's or ProposalRejected's
	// error by ID.
	ready  map[uint64]uint64
	failed map[uint64]error
}

// iEnv is the interaction host: nodes, the network, and global checks.
type iEnv struct {
	t *testing.T
	// fail reports a broken invariant (t.Errorf, or rapid's Fatalf).
	fail func(format string, args ...any)
	// quiet skips formatting the trace (property tests).
	quiet bool
	// byzantine is set once forged messages were injected: cluster-wide
	// safety checks are off (a forged leader can break them legitimately);
	// per-node invariants stay on.
	byzantine bool
	nodes     map[NodeID]*iNode
	ids       []NodeID
	msgs      []Message
	// filled counts the entries hosts read back from their logs for a
	// Send.FillThrough.
	filled uint64
	// group assigns nodes to partition groups; messages between different
	// groups are dropped on delivery. Empty: no partition.
	group  map[NodeID]int
	nextID uint64
	// leaders records the leader elected in each term (Election Safety).
	leaders map[uint64]NodeID
	// applied records the term of the entry applied at each index by any
	// node (State Machine Safety).
	applied map[uint64]uint64
	// readFloor maps a read ID to the highest commit index any node had
	// reached when the read started (property tests); ReadReady and lease
	// reads must not answer below it.
	readFloor map[uint64]uint64
	// drop filters messages out of delivery (on top of group).
	drop func(Message) bool
	// seen tallies, per node, the events and actions that a counter of
	// the engine's Status must match (see checkCountersMatchActions).
	seen map[NodeID]*Counters
	// commitSeen is the commit index each node's host last learned of.
	commitSeen map[NodeID]uint64
	// lowerPreVote is set while a pre-vote of an older term is stepped.
	lowerPreVote bool
	out          *strings.Builder
}

func newIEnv(t *testing.T) *iEnv {
	return &iEnv{t: t, fail: t.Errorf, nodes: map[NodeID]*iNode{}, leaders: map[uint64]NodeID{}, applied: map[uint64]uint64{}, nextID: 1,
		seen: map[NodeID]*Counters{}, commitSeen: map[NodeID]uint64{}}
}

// newCluster is a quiet host of n voters n1..nN (ElectionTicks 10,
// HeartbeatTicks 1, seeds 1..n), each config adjusted by tweak.
func newCluster(t *testing.T, n int, tweak func(*Config)) *iEnv {
	env := newIEnv(t)
	env.quiet = true
	var ids []NodeID
	for i := 1; i <= n; i++ {
		ids = append(ids, NodeID(fmt.Sprintf("n%d", i)))
	}
	for i, id := range ids {
		cfg := Config{ID: id, Peers: ids, ElectionTicks: 10, HeartbeatTicks: 1, Seed: uint64(i + 1)}
		if tweak != nil {
			tweak(&cfg)
		}
		if err := env.addNode(cfg, false); err != nil {
			t.Fatal(err)
		}
	}
	return env
}

// tick ticks the given nodes (default: all) once each, then delivers
// every message.
func (env *iEnv) tick(ids ...NodeID) {
	if len(ids) == 0 {
		ids = env.ids
	}
	for _, id := range ids {
		env.step(id, Tick{})
	}
	env.stabilize(true)
}

// elect makes id leader by ticking it alone past its election timeout,
// delivering after each tick.
func (env *iEnv) elect(id NodeID) {
	env.t.Helper()
	n := env.nodes[id]
	for i := 0; i < 100 && n.e.role != Leader; i++ {
		env.step(id, Tick{})
		env.stabilize(true)
	}
	if n.e.role != Leader {
		env.t.Fatalf("%s did not become leader: %s", id, n.e.Status())
	}
}

// takeSnapshot snapshots id's state machine at idx (which the host
// holds, in its log or its snapshot), writes it durably and reports it
// with SnapshotTaken; sized false reports it with Size 0 (unknown).
func (env *iEnv) takeSnapshot(id NodeID, idx uint64, sized bool) SnapshotMeta {
	n := env.nodes[id]
	var term uint64
	if idx == n.snap.Index {
		term = n.snap.Term
	}
	for _, e := range n.log {
		if e.Index == idx {
			term = e.Term
		}
	}
	var covered []Entry
	for _, e := range n.sm {
		if e.Index <= idx {
			covered = append(covered, e)
		}
	}
	data := encodeSM(covered)
	meta := SnapshotMeta{Index: idx, Term: term}
	if sized {
		meta.Size = uint64(len(data))
	}
	// The host writes the snapshot durably, then reports it.
	n.snap, n.snapData = meta, data
	env.printf("%s: snapshot %s size=%d", id, meta, len(data))
	env.step(id, SnapshotTaken{Meta: meta})
	// The engine fills in the membership; the host's copy needs it for
	// Recover.
	n.snap.Membership = n.e.membershipAt(idx)
	return meta
}

// leaseRead serves read rid on id from the leader's lease, as a host whose
// ticks keep pace with real time does: from Engine.Lease, without a Step.
// It reports false when id holds no lease (the host then sends a Read).
func (env *iEnv) leaseRead(id NodeID, rid uint64) bool {
	n := env.nodes[id]
	if n.e == nil {
		return false
	}
	l := n.e.Lease()
	if !l.Held {
		return false
	}
	if f, ok := env.readFloor[rid]; ok && l.Commit < f && !env.byzantine {
		env.fail("%s: lease read %d answered at index %d, but index %d was committed before it started", id, rid, l.Commit, f)
	}
	if !env.quiet {
		env.printf("%s: lease read id=%d index=%d since=%d", id, rid, l.Commit, l.Since)
	}
	return true
}

func (env *iEnv) printf(format string, args ...any) {
	if env.quiet {
		return
	}
	fmt.Fprintf(env.out, format, args...)
	env.out.WriteByte('\n')
}

// addNode creates a node from cfg and recovers it from empty durable state.
func (env *iEnv) addNode(cfg Config, manualPersist bool) error {
	e, err := New(cfg)
	if err != nil {
		return err
	}
	env.nodes[cfg.ID] = &iNode{id: cfg.ID, cfg: cfg, e: e, waiters: map[uint64]Entry{}, manualPersist: manualPersist,
		ready: map[uint64]uint64{}, failed: map[uint64]error{}}
	env.ids = append(env.ids, cfg.ID)
	env.step(cfg.ID, Recover{})
	return nil
}

// deliver hands one message to its recipient unless it is down or on the
// other side of a partition.
func (env *iEnv) deliver(m Message) {
	n := env.nodes[m.To]
	switch {
	case n == nil || n.e == nil:
		env.printf("dropped (down): %s", m)
		return
	case env.group != nil && env.group[m.From] != env.group[m.To]:
		env.printf("dropped (partition): %s", m)
		return
	case env.drop != nil && env.drop(m):
		env.printf("dropped (filter): %s", m)
		return
	}
	env.step(m.To, Receive{Msg: m})
}

// stabilize delivers messages until none are left (bounded).
func (env *iEnv) stabilize(silent bool) {
	saved := env.out
	if silent {
		env.out = &strings.Builder{}
	}
	for i := 0; i < 10000 && len(env.msgs) > 0; i++ {
		m := env.msgs[0]
		env.msgs = env.msgs[1:]
		env.deliver(m)
	}
	if len(env.msgs) > 0 {
		env.fail("stabilize: messages never quiesced")
	}
	env.out = saved
}

func encodeSM(es []Entry) []byte {
	var parts []string
	for _, e := range es {
		parts = append(parts, fmt.Sprintf("%d=%s", e.Index, e.Data))
	}
	return []byte(strings.Join(parts, ","))
}

func decodeSM(b []byte) []Entry {
	var es []Entry
	if len(b) == 0 {
		return nil
	}
	for _, p := range strings.Split(string(b), ",") {
		k, v, _ := strings.Cut(p, "=")
		i, _ := strconv.ParseUint(k, 10, 64)
		es = append(es, Entry{Index: i, Data: []byte(v)})
	}
	return es
}

// restart builds a new engine from the node's durable state.
func (env *iEnv) restart(id NodeID) {
	n := env.nodes[id]
	cfg := n.cfg
	cfg.Incarnation = n.incarnation + 1 // a new process: a new incarnation
	e, err := New(cfg)
	if err != nil {
		env.fail("restart: %v", err)
		return
	}
	n.e = e
	n.incarnation++
	n.justRestarted = true
	n.sm, n.applied = decodeSM(n.snapData), n.snap.Index
	n.waiters = map[uint64]Entry{}
	n.incoming, n.incomingMeta = nil, SnapshotMeta{}
	env.printf("%s: restart hs={term=%d vote=%s commit=%d} snap=%s entries=%d", id, n.hs.Term, n.hs.Vote, n.hs.Commit, n.snap, len(n.log))
	env.step(id, Recover{HardState: n.hs, Snapshot: n.snap, Entries: slices.Clone(n.log)})
}

// step steps one event on a node and carries out its actions, printing
// them; follow-up events (LogPersisted, SnapshotChunkFailed) are stepped
// afterwards.
func (env *iEnv) step(id NodeID, ev Event) {
	n := env.nodes[id]
	if n.e == nil {
		env.printf("%s: down", id)
		return
	}
	env.tallyEvent(id, ev)
	env.run(id, n.e.Step(ev))
	env.lowerPreVote = false
}

// run carries out the actions of one Step on id, printing them; follow-up
// events (LogPersisted, SnapshotChunkFailed) are stepped afterwards.
func (env *iEnv) run(id NodeID, as []Action) {
	n := env.nodes[id]
	var follow []Event
	prev, termOrVote := n.hs, false
	for _, a := range as {
		if !env.quiet {
			env.printf("%s: %s", id, fmtAction(a))
		}
		// doc.go: no MsgApp after a PersistHardState that changed the
		// term or vote in the same Step. (A single voter elects itself
		// and sends to its learners in one Step; it is exempt here and
		// reported.)
		switch a := a.(type) {
		case PersistHardState:
			termOrVote = termOrVote || a.HardState.Term != prev.Term || a.HardState.Vote != prev.Vote
		case Send:
			if a.Msg.Type == MsgApp && termOrVote && len(n.e.membership.Voters) > 1 {
				env.fail("%s: MsgApp %s after a PersistHardState that changed the term or vote in the same Step", id, a.Msg)
			}
		}
		if f := env.exec(n, a); f != nil {
			follow = append(follow, f)
		}
	}
	for _, f := range follow {
		env.step(id, f)
	}
}

// exec carries out one action durably and synchronously.
func (env *iEnv) exec(n *iNode, a Action) Event {
	env.tallyAction(n.id, a)
	switch a := a.(type) {
	case PersistHardState:
		if a.HardState.Term < n.hs.Term {
			env.fail("%s: hard state term went back from %d to %d", n.id, n.hs.Term, a.HardState.Term)
		}
		// The commit index is a hint (Raft Figure 2 keeps it volatile): it
		// never goes back, except that a node restarted with a log shorter
		// than its durable commit (a leader's unreported writes lost)
		// restarts from its log.
		if a.HardState.Commit < n.hs.Commit && !n.justRestarted {
			env.fail("%s: durable commit went back from %d to %d", n.id, n.hs.Commit, a.HardState.Commit)
		}
		if a.HardState.Term == n.hs.Term && n.hs.Vote != "" && a.HardState.Vote != n.hs.Vote {
			env.fail("%s: vote changed within term %d from %s to %s", n.id, n.hs.Term, n.hs.Vote, a.HardState.Vote)
		}
		n.hs = a.HardState
		n.justRestarted = false
	case TruncateLog:
		n.log = slices.DeleteFunc(n.log, func(e Entry) bool { return e.Index >= a.Index })
	case PersistEntries:
		n.log = append(n.log, a.Entries...)
		if !n.manualPersist {
			last := a.Entries[len(a.Entries)-1]
			return LogPersisted{Index: last.Index, Term: last.Term}
		}
	case Send:
		m := a.Msg
		if a.FillThrough != 0 {
			// The engine released this data: read it back from the durable
			// log, which must hold the very entries it sent.
			m.Entries = slices.Clone(m.Entries)
			for i := range m.Entries {
				if ent := &m.Entries[i]; ent.Index <= a.FillThrough {
					j, ok := slices.BinarySearchFunc(n.log, ent.Index, func(e Entry, i uint64) int { return cmp.Compare(e.Index, i) })
					if !ok || n.log[j].Term != ent.Term {
						env.fail("%s: Send asks to fill entry %s, which the durable log does not hold", n.id, ent)
						return nil
					}
					ent.Data = n.log[j].Data
				}
			}
			env.filled += a.FillThrough - m.Entries[0].Index + 1
		}
		env.msgs = append(env.msgs, m)
	case SendSnapshot:
		m := a.Msg
		if n.failChunks || n.snap.Index != m.Snapshot.Index || n.snap.Term != m.Snapshot.Term || m.Offset > uint64(len(n.snapData)) {
			env.printf("%s: cannot read chunk", n.id)
			return SnapshotChunkFailed{To: m.To}
		}
		end := min(uint64(len(n.snapData)), m.Offset+a.MaxBytes)
		m.Data = slices.Clone(n.snapData[m.Offset:end])
		m.Done = end == uint64(len(n.snapData))
		env.printf("%s: host sends %s", n.id, m)
		env.msgs = append(env.msgs, m)
	case ApplyEntries:
		for _, e := range a.Entries {
			if e.Index != n.applied+1 {
				env.fail("%s: applied %s after %d", n.id, e, n.applied)
			}
			n.applied = e.Index
			if t, ok := env.applied[e.Index]; ok && t != e.Term && !env.byzantine {
				env.fail("state machine safety: %s applied %s, another node applied term %d there", n.id, e, t)
			}
			env.applied[e.Index] = e.Term
			if e.Type == EntryNormal {
				n.sm = append(n.sm, e)
			}
			for pid, w := range n.waiters {
				if w.Index == e.Index {
					if w.Term == e.Term {
						env.printf("%s: proposal %d committed at %s", n.id, pid, w)
					} else {
						env.printf("%s: proposal %d lost: %s applied in place of %s", n.id, pid, e, w)
					}
					delete(n.waiters, pid)
				}
			}
		}
	case ProposalAccepted:
		n.waiters[a.ID] = Entry{Term: a.Term, Index: a.Index}
	case ProposalRejected:
		n.failed[a.ID] = a.Err
	case ReadFailed:
		n.failed[a.ID] = a.Err
	case ReadReady:
		if f, ok := env.readFloor[a.ID]; ok && a.Index < f && !env.byzantine {
			env.fail("%s: read %d answered at index %d, but index %d was committed before it started", n.id, a.ID, a.Index, f)
		}
		n.ready[a.ID] = a.Index
	case WriteSnapshotChunk:
		if a.Offset == 0 {
			n.incoming, n.incomingMeta = nil, a.Meta
		}
		if a.Offset != uint64(len(n.incoming)) {
			env.fail("%s: chunk at %d, have %d bytes", n.id, a.Offset, len(n.incoming))
		}
		n.incoming = append(n.incoming, a.Data...)
	case RestoreSnapshot:
		if n.incomingMeta.Index != a.Meta.Index {
			env.fail("%s: restoring %s, received %s", n.id, a.Meta, n.incomingMeta)
		}
		n.snap, n.snapData = a.Meta, n.incoming
		n.incoming = nil
		if a.KeepLog {
			n.log = slices.DeleteFunc(n.log, func(e Entry) bool { return e.Index <= a.Meta.Index })
		} else {
			n.log = nil
		}
		n.sm, n.applied = decodeSM(n.snapData), a.Meta.Index
		if t, ok := env.applied[a.Meta.Index]; ok && t != a.Meta.Term && !env.byzantine {
			env.fail("%s: restored %s, index applied elsewhere in term %d", n.id, a.Meta, t)
		}
	case CompactLog:
		n.log = slices.DeleteFunc(n.log, func(e Entry) bool { return e.Index <= a.Index })
	case SnapshotHint:
		n.lastHint = a.Index
	case RoleChanged:
		if a.Role == Leader {
			if l, ok := env.leaders[a.Term]; ok && l != n.id && !env.byzantine {
				env.fail("election safety: %s and %s both leaders in term %d", l, n.id, a.Term)
			}
			env.leaders[a.Term] = n.id
		}
	case MembershipChanged:
	default:
		env.fail("%s: unknown action %T", n.id, a)
	}
	return nil
}

// checkSafety checks the log matching property between live nodes'
// engines: entries at the same index and term are identical up to there
// (checked on the committed prefix, which must agree outright).
func (env *iEnv) checkSafety() {
	for _, a := range env.ids {
		for _, b := range env.ids {
			na, nb := env.nodes[a], env.nodes[b]
			if a >= b || na.e == nil || nb.e == nil {
				continue
			}
			la, lb := &na.e.log, &nb.e.log
			c := min(la.commit, lb.commit)
			lo := max(la.floor, lb.floor) + 1
			for i := lo; i <= c; i++ {
				ta, _ := la.term(i)
				tb, _ := lb.term(i)
				if ta != tb {
					env.fail("committed entry %d differs: %s has term %d, %s has %d", i, a, ta, b, tb)
					return
				}
			}
		}
	}
}

func appliedData(es []Entry) []string {
	var out []string
	for _, e := range es {
		if e.Type == EntryNormal {
			out = append(out, string(e.Data))
		}
	}
	return out
}
