package engine

import (
	"fmt"
	"slices"
	"testing"
)

// testNode is a minimal synchronous host for one engine: persistence is
// immediate and durable, applied entries are recorded.
type testNode struct {
	e        *Engine
	hs       HardState
	log      []Entry // durable log after snap
	snap     SnapshotMeta
	applied  []Entry
	ready    map[uint64]uint64 // read ID -> index
	failed   map[uint64]error  // read/proposal ID -> error
	accepted map[uint64]Entry  // proposal ID -> term/index
	hints    []uint64
}

// testCluster delivers messages synchronously between test nodes.
type testCluster struct {
	t     testing.TB
	nodes map[NodeID]*testNode
	ids   []NodeID
	msgs  []Message
	// drop filters messages out of delivery.
	drop func(Message) bool
	cfg  func(*Config)
	// seen tallies, per node, the events and actions that a counter of
	// the engine's Status must match (see checkCountersMatchActions).
	seen map[NodeID]*Counters
	// commitSeen is the commit index each node's host last learned of.
	commitSeen   map[NodeID]uint64
	lowerPreVote bool
}

func newTestCluster(t testing.TB, n int, tweak func(*Config)) *testCluster {
	c := &testCluster{t: t, nodes: map[NodeID]*testNode{}, cfg: tweak, seen: map[NodeID]*Counters{}, commitSeen: map[NodeID]uint64{}}
	for i := 1; i <= n; i++ {
		c.ids = append(c.ids, NodeID(fmt.Sprintf("n%d", i)))
	}
	for i, id := range c.ids {
		cfg := Config{ID: id, Peers: c.ids, ElectionTicks: 10, HeartbeatTicks: 1, Seed: uint64(i + 1)}
		if tweak != nil {
			tweak(&cfg)
		}
		e, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		tn := &testNode{e: e, ready: map[uint64]uint64{}, failed: map[uint64]error{}, accepted: map[uint64]Entry{}}
		c.nodes[id] = tn
		c.exec(id, e.Step(Recover{}))
	}
	return c
}

func (c *testCluster) step(id NodeID, ev Event) {
	seen := c.tally(id)
	switch ev := ev.(type) {
	case Read:
		seen.ReadsStarted++
	case Receive:
		// A MsgApp of the current or a newer term reaches the follower's
		// handler; an older one is answered without it. A pre-vote of an
		// older term is refused without counting.
		e := c.nodes[id].e
		if ev.Msg.Type == MsgApp && ev.Msg.Term >= e.term {
			seen.AppendsReceived++
		}
		c.lowerPreVote = ev.Msg.Type == MsgPreVote && ev.Msg.Term < e.term
	}
	c.exec(id, c.nodes[id].e.Step(ev))
	c.lowerPreVote = false
}

func (c *testCluster) tally(id NodeID) *Counters {
	if c.seen[id] == nil {
		c.seen[id] = &Counters{}
	}
	return c.seen[id]
}

// exec carries out actions as a host would, synchronously.
func (c *testCluster) exec(id NodeID, as []Action) {
	n := c.nodes[id]
	var persisted []Entry
	seen := c.tally(id)
	for _, a := range as {
		switch a := a.(type) {
		case Send:
			switch m := a.Msg; {
			case m.Type == MsgApp:
				seen.AppendsSent++
			case m.Type == MsgAppResp && m.Reject && m.Index > 0:
				seen.AppendsRejected++
			case m.Type == MsgVoteResp && m.Reject:
				seen.VotesDenied++
			case m.Type == MsgVoteResp:
				seen.VotesGranted++
			case m.Type == MsgPreVoteResp && m.Reject && !c.lowerPreVote:
				seen.PreVotesDenied++
			case m.Type == MsgPreVoteResp && !m.Reject:
				seen.PreVotesGranted++
			}
		case PersistHardState:
			// Commits counted by the engine; a snapshot install moves the
			// commit index without committing entries.
			if hc := a.HardState.Commit; hc > c.commitSeen[id] {
				seen.EntriesCommitted += hc - c.commitSeen[id]
				c.commitSeen[id] = hc
			}
		case PersistEntries:
			seen.EntriesAppended += uint64(len(a.Entries))
		case ApplyEntries:
			seen.EntriesApplied += uint64(len(a.Entries))
		case ProposalRejected:
			seen.ProposalsRejected++
		case ReadReady:
			seen.ReadsCompleted++
		case ReadFailed:
			seen.ReadsFailed++
		case RestoreSnapshot:
			seen.SnapshotsInstalled++
			c.commitSeen[id] = max(c.commitSeen[id], a.Meta.Index)
		case RoleChanged:
			switch a.Role {
			case Leader:
				seen.ElectionsWon++
			case Candidate:
				seen.ElectionsStarted++
			}
		}
		switch a := a.(type) {
		case PersistHardState:
			n.hs = a.HardState
		case TruncateLog:
			k := 0
			for k < len(n.log) && n.log[k].Index < a.Index {
				k++
			}
			n.log = n.log[:k]
		case PersistEntries:
			n.log = append(n.log, a.Entries...)
			persisted = a.Entries
		case Send:
			c.msgs = append(c.msgs, a.Msg)
		case SendSnapshot:
			m := a.Msg
			m.Done = true // the test snapshot is a single empty chunk
			c.msgs = append(c.msgs, m)
		case ApplyEntries:
			n.applied = append(n.applied, a.Entries...)
		case ProposalAccepted:
			n.accepted[a.ID] = Entry{Term: a.Term, Index: a.Index}
		case ProposalRejected:
			n.failed[a.ID] = a.Err
		case ReadReady:
			n.ready[a.ID] = a.Index
		case ReadFailed:
			n.failed[a.ID] = a.Err
		case WriteSnapshotChunk:
		case RestoreSnapshot:
			n.snap = a.Meta
			var kept []Entry
			if a.KeepLog {
				for _, e := range n.log {
					if e.Index > a.Meta.Index {
						kept = append(kept, e)
					}
				}
			}
			n.log = kept
			// The state machine jumps to the snapshot: record its
			// entries as applied from the leader's copy.
			n.applied = c.appliedUpTo(a.Meta.Index)
		case CompactLog:
		case SnapshotHint:
			n.hints = append(n.hints, a.Index)
		case RoleChanged, MembershipChanged:
		default:
			c.t.Fatalf("unknown action %T", a)
		}
	}
	if len(persisted) > 0 {
		last := persisted[len(persisted)-1]
		c.exec(id, n.e.Step(LogPersisted{Index: last.Index, Term: last.Term}))
	}
}

// appliedUpTo returns the entries up to index applied by the node that has
// applied the most (for snapshot restores in tests).
func (c *testCluster) appliedUpTo(index uint64) []Entry {
	var best []Entry
	for _, n := range c.nodes {
		if len(n.applied) > len(best) {
			best = n.applied
		}
	}
	var out []Entry
	for _, e := range best {
		if e.Index <= index {
			out = append(out, e)
		}
	}
	return out
}

// deliver delivers messages until none are left (bounded).
func (c *testCluster) deliver() {
	for i := 0; i < 100000 && len(c.msgs) > 0; i++ {
		m := c.msgs[0]
		c.msgs = c.msgs[1:]
		if c.drop != nil && c.drop(m) {
			continue
		}
		if _, ok := c.nodes[m.To]; !ok {
			continue
		}
		c.step(m.To, Receive{Msg: m})
	}
	if len(c.msgs) > 0 {
		c.t.Fatal("messages never quiesced")
	}
}

// tick ticks every node once and delivers.
func (c *testCluster) tick(ids ...NodeID) {
	if len(ids) == 0 {
		ids = c.ids
	}
	for _, id := range ids {
		c.step(id, Tick{})
	}
	c.deliver()
}

// elect makes id leader by ticking it alone past its election timeout.
func (c *testCluster) elect(id NodeID) {
	c.t.Helper()
	n := c.nodes[id]
	for i := 0; i < 100 && n.e.role != Leader; i++ {
		c.step(id, Tick{})
		c.deliver()
	}
	if n.e.role != Leader {
		c.t.Fatalf("%s did not become leader: %s", id, n.e.Status())
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

func TestClusterElectsAndReplicates(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.elect("n1")
	c.step("n1", Propose{ID: 1, Data: []byte("a")})
	c.deliver()
	c.tick()
	for _, id := range c.ids {
		got := appliedData(c.nodes[id].applied)
		if !slices.Equal(got, []string{"a"}) {
			t.Errorf("%s applied %v, want [a]", id, got)
		}
	}
}
