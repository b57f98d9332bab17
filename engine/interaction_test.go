package engine

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestInteraction runs the scenario files in testdata/: each is a story of
// commands on a small cluster driven by a synchronous host (iEnv), whose
// expected output is the trace of actions the engines emitted. Regenerate
// with `go test ./engine/ -run TestInteraction -rewrite`, then read every
// changed line: a golden file that records a bug is a defect.
//
// Besides the traces, the host checks after every command that no two
// leaders were elected in one term and that no two nodes applied different
// entries at one index (state machine safety); a violation fails the test
// whatever the golden file says.
func TestInteraction(t *testing.T) {
	datadriven.Walk(t, "testdata/interaction", func(t *testing.T, path string) {
		env := newIEnv(t)
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			env.t = t
			out := env.handle(d)
			env.checkSafety()
			if out == "" {
				return "ok\n"
			}
			return out
		})
	})
}

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
	// incarnation counts restarts (see iEnv.tagReads).
	incarnation uint64
	// failChunks makes the host fail to read outgoing snapshot chunks.
	failChunks bool
	lastHint   uint64
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
	// tagReads makes the host tag follower read batches with the sender's
	// incarnation and drop answers meant for an earlier incarnation: a
	// host-side workaround for the engine reusing batch numbers after a
	// restart (TestFollowerReadStaleAnswerAfterRestart).
	tagReads bool
	nodes    map[NodeID]*iNode
	ids      []NodeID
	msgs     []Message
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
	// reached when the read started (property tests); ReadReady must not
	// answer below it.
	readFloor map[uint64]uint64
	out       *strings.Builder
}

func newIEnv(t *testing.T) *iEnv {
	return &iEnv{t: t, fail: t.Errorf, nodes: map[NodeID]*iNode{}, leaders: map[uint64]NodeID{}, applied: map[uint64]uint64{}, nextID: 1}
}

func (env *iEnv) printf(format string, args ...any) {
	if env.quiet {
		return
	}
	fmt.Fprintf(env.out, format, args...)
	env.out.WriteByte('\n')
}

func (env *iEnv) handle(d *datadriven.TestData) string {
	env.out = &strings.Builder{}
	switch d.Cmd {
	case "add-nodes":
		env.cmdAddNodes(d)
	case "tick":
		nodes, count := env.nodeArgs(d)
		for range count {
			for _, id := range nodes {
				env.step(id, Tick{})
			}
		}
	case "campaign":
		for _, id := range env.nodeList(d) {
			env.campaign(id)
		}
	case "propose":
		id := env.node(d.CmdArgs[0].Key)
		var ps []Proposal
		for _, a := range d.CmdArgs[1:] {
			ps = append(ps, Proposal{ID: env.nextID, Data: []byte(a.Key)})
			env.nextID++
		}
		if len(ps) == 1 {
			env.step(id, Propose{ID: ps[0].ID, Data: ps[0].Data})
		} else {
			env.step(id, ProposeBatch{Proposals: ps})
		}
	case "deliver-msgs":
		env.cmdDeliver(d)
	case "stabilize":
		env.stabilize(d.HasArg("silent"))
	case "partition":
		env.cmdPartition(d)
	case "isolate":
		id := env.node(d.CmdArgs[0].Key)
		env.group = map[NodeID]int{}
		for _, o := range env.ids {
			if o != id {
				env.group[o] = 1
			}
		}
	case "heal":
		env.group = nil
	case "persist":
		for _, id := range env.nodeList(d) {
			n := env.nodes[id]
			if len(n.log) > 0 {
				last := n.log[len(n.log)-1]
				env.step(id, LogPersisted{Index: last.Index, Term: last.Term})
			}
		}
	case "read":
		id := env.node(d.CmdArgs[0].Key)
		mode := ReadIndex
		if d.HasArg("lease") {
			mode = ReadLease
		}
		rid := env.nextID
		env.nextID++
		env.step(id, Read{ID: rid, Mode: mode})
	case "transfer":
		from := env.node(d.CmdArgs[0].Key)
		var to NodeID
		if len(d.CmdArgs) > 1 {
			to = NodeID(d.CmdArgs[1].Key)
		}
		env.step(from, TransferLeadership{To: to})
	case "add-learner", "add-voter", "promote", "remove":
		op := map[string]ConfOp{"add-learner": ConfAddLearner, "add-voter": ConfAddVoter, "promote": ConfPromote, "remove": ConfRemove}[d.Cmd]
		from := env.node(d.CmdArgs[0].Key)
		cid := env.nextID
		env.nextID++
		env.step(from, ChangeMembership{ID: cid, Change: ConfChange{Op: op, Node: NodeID(d.CmdArgs[1].Key)}})
	case "snapshot":
		env.cmdSnapshot(d)
	case "snapshot-fail":
		id := env.node(d.CmdArgs[0].Key)
		env.step(id, SnapshotFailed{Index: env.nodes[id].lastHint, Err: fmt.Errorf("disk full")})
	case "fail-chunks":
		id := env.node(d.CmdArgs[0].Key)
		env.nodes[id].failChunks = !d.HasArg("off")
	case "crash":
		for _, id := range env.nodeList(d) {
			env.nodes[id].e = nil
			env.printf("%s: crashed", id)
		}
	case "restart":
		for _, id := range env.nodeList(d) {
			env.restart(id)
		}
	case "status":
		for _, id := range env.nodeList(d) {
			env.status(id)
		}
	case "log":
		for _, id := range env.nodeList(d) {
			env.printLog(id)
		}
	case "raft-state":
		for _, id := range env.ids {
			n := env.nodes[id]
			if n.e == nil {
				env.printf("%s: down", id)
				continue
			}
			s := n.e.Status()
			env.printf("%s: %s term=%d leader=%s commit=%d last=%d/%d", id, s.Role, s.Term, s.Leader, s.Commit, s.LastTerm, s.LastIndex)
		}
	case "msgs":
		for _, m := range env.msgs {
			env.printf("%s", m)
		}
	default:
		d.Fatalf(env.t, "unknown command %q", d.Cmd)
	}
	return env.out.String()
}

// cmdAddNodes: add-nodes N [voters=(n1,n2)] [join] [pre-vote=bool]
// [check-quorum=bool] [lease=T] [election=T] [heartbeat=T]
// [max-inflight=N] [max-append-bytes=B] [max-uncommitted=B]
// [snapshot-entries=N] [compaction-keep=N] [chunk=B] [max-reads=N]
// [max-log-entries=N] [manual-persist].
func (env *iEnv) cmdAddNodes(d *datadriven.TestData) {
	n, err := strconv.Atoi(d.CmdArgs[0].Key)
	if err != nil {
		d.Fatalf(env.t, "add-nodes: %v", err)
	}
	first := len(env.ids) + 1
	var newIDs []NodeID
	for i := range n {
		newIDs = append(newIDs, NodeID(fmt.Sprintf("n%d", first+i)))
	}
	peers := newIDs
	if a, ok := d.Arg("voters"); ok {
		peers = nil
		for _, v := range a.Vals {
			peers = append(peers, NodeID(v))
		}
	}
	if d.HasArg("join") {
		peers = nil
	}
	for i, id := range newIDs {
		cfg := Config{ID: id, Peers: peers, ElectionTicks: 10, HeartbeatTicks: 1, Seed: uint64(first + i)}
		bo := func(key string) (bool, bool) {
			var v bool
			return v, d.MaybeScanArgs(env.t, key, &v)
		}
		in := func(key string, dst *int) { d.MaybeScanArgs(env.t, key, dst) }
		u64 := func(key string, dst *uint64) { d.MaybeScanArgs(env.t, key, dst) }
		if v, ok := bo("pre-vote"); ok {
			cfg.DisablePreVote = !v
		}
		if v, ok := bo("check-quorum"); ok {
			cfg.DisableCheckQuorum = !v
		}
		in("lease", &cfg.LeaseTicks)
		in("election", &cfg.ElectionTicks)
		in("heartbeat", &cfg.HeartbeatTicks)
		in("max-inflight", &cfg.MaxInflightMsgs)
		in("max-reads", &cfg.MaxPendingReads)
		u64("max-append-bytes", &cfg.MaxAppendBytes)
		u64("max-uncommitted", &cfg.MaxUncommittedBytes)
		u64("snapshot-entries", &cfg.SnapshotEntries)
		u64("compaction-keep", &cfg.CompactionKeep)
		u64("chunk", &cfg.SnapshotChunkBytes)
		u64("max-log-entries", &cfg.MaxLogEntries)
		if err := env.addNode(cfg, d.HasArg("manual-persist")); err != nil {
			d.Fatalf(env.t, "add-nodes: %v", err)
		}
	}
	for _, id := range newIDs {
		env.printf("%s: %s", id, env.nodes[id].e.Status().Membership)
	}
}

// addNode creates a node from cfg and recovers it from empty durable state.
func (env *iEnv) addNode(cfg Config, manualPersist bool) error {
	e, err := New(cfg)
	if err != nil {
		return err
	}
	env.nodes[cfg.ID] = &iNode{id: cfg.ID, cfg: cfg, e: e, waiters: map[uint64]Entry{}, manualPersist: manualPersist}
	env.ids = append(env.ids, cfg.ID)
	env.step(cfg.ID, Recover{})
	return nil
}

// nodeArgs parses "n1 n2 [count]" (no nodes: all live nodes).
func (env *iEnv) nodeArgs(d *datadriven.TestData) ([]NodeID, int) {
	count := 1
	var ids []NodeID
	for _, a := range d.CmdArgs {
		if len(a.Vals) > 0 {
			continue
		}
		if c, err := strconv.Atoi(a.Key); err == nil {
			count = c
			continue
		}
		ids = append(ids, env.node(a.Key))
	}
	if len(ids) == 0 {
		for _, id := range env.ids {
			if env.nodes[id].e != nil {
				ids = append(ids, id)
			}
		}
	}
	return ids, count
}

func (env *iEnv) nodeList(d *datadriven.TestData) []NodeID {
	ids, _ := env.nodeArgs(d)
	return ids
}

func (env *iEnv) node(s string) NodeID {
	id := NodeID(s)
	if env.nodes[id] == nil {
		env.t.Fatalf("unknown node %q", s)
	}
	return id
}

// campaign ticks id until it starts an election (bounded).
func (env *iEnv) campaign(id NodeID) {
	n := env.nodes[id]
	started := func() uint64 { c := n.e.counters; return c.PreVotesStarted + c.ElectionsStarted }
	before := started()
	for i := 0; i < 100 && n.e != nil; i++ {
		env.step(id, Tick{})
		if started() != before {
			return
		}
	}
	env.printf("%s: did not campaign", id)
}

// cmdDeliver: deliver-msgs [to...] [from=(..)] [type=(..)] [drop=(..)]
// delivers (or, for recipients in drop, discards) the messages queued when
// the command starts that match the filters; the rest stay queued in order.
func (env *iEnv) cmdDeliver(d *datadriven.TestData) {
	var to []NodeID
	for _, a := range d.CmdArgs {
		if len(a.Vals) == 0 {
			to = append(to, env.node(a.Key))
		}
	}
	vals := func(key string) []string {
		a, _ := d.Arg(key)
		return a.Vals
	}
	from, types, drop := vals("from"), vals("type"), vals("drop")
	match := func(m Message) bool {
		if len(to) > 0 && !slices.Contains(to, m.To) && !slices.Contains(drop, string(m.To)) {
			return false
		}
		if len(from) > 0 && !slices.Contains(from, string(m.From)) {
			return false
		}
		if len(types) > 0 && !slices.Contains(types, m.Type.String()) {
			return false
		}
		return true
	}
	queued := env.msgs
	env.msgs = nil
	var keep []Message
	var deliver []Message
	for _, m := range queued {
		if match(m) {
			deliver = append(deliver, m)
		} else {
			keep = append(keep, m)
		}
	}
	env.msgs = keep
	for _, m := range deliver {
		if slices.Contains(drop, string(m.To)) {
			env.printf("dropped: %s", m)
			continue
		}
		env.deliver(m)
	}
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
	case env.tagReads && m.Type == MsgReadIndexResp:
		if m.Context>>40 != n.incarnation {
			env.printf("dropped (earlier incarnation): %s", m)
			return
		}
		m.Context &= 1<<40 - 1
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

// cmdPartition: partition (n1) (n2 n3).
func (env *iEnv) cmdPartition(d *datadriven.TestData) {
	var keys []string
	for _, a := range d.CmdArgs {
		keys = append(keys, a.Key)
	}
	s := strings.Join(keys, " ")
	env.group = map[NodeID]int{}
	g := 0
	for _, part := range strings.Split(s, ")") {
		part = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(part), "("))
		if part == "" {
			continue
		}
		for _, f := range strings.Fields(part) {
			env.group[env.node(f)] = g
		}
		g++
	}
}

// cmdSnapshot: snapshot n1 [index] takes a snapshot of n1's state machine
// at index (default: its applied index) and reports it.
func (env *iEnv) cmdSnapshot(d *datadriven.TestData) {
	id := env.node(d.CmdArgs[0].Key)
	n := env.nodes[id]
	idx := n.applied
	if len(d.CmdArgs) > 1 {
		v, err := strconv.ParseUint(d.CmdArgs[1].Key, 10, 64)
		if err != nil {
			d.Fatalf(env.t, "snapshot: %v", err)
		}
		idx = v
	}
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
	meta := SnapshotMeta{Index: idx, Term: term, Size: uint64(len(data))}
	// The host writes the snapshot durably, then reports it.
	n.snap, n.snapData = meta, data
	env.printf("%s: snapshot %s size=%d", id, meta, len(data))
	env.step(id, SnapshotTaken{Meta: meta})
	// The engine fills in the membership; the host's copy needs it for
	// Recover.
	n.snap.Membership = n.e.membershipAt(idx)
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
	e, err := New(n.cfg)
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
	var follow []Event
	for _, a := range n.e.Step(ev) {
		if !env.quiet {
			env.printf("%s: %s", id, fmtAction(a))
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
		if env.tagReads && m.Type == MsgReadIndex {
			m.Context |= n.incarnation << 40
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
	case ReadReady:
		if f, ok := env.readFloor[a.ID]; ok && a.Index < f && !env.byzantine {
			env.fail("%s: read %d answered at index %d, but index %d was committed before it started", n.id, a.ID, a.Index, f)
		}
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

func (env *iEnv) status(id NodeID) {
	n := env.nodes[id]
	if n.e == nil {
		env.printf("%s: down", id)
		return
	}
	s := n.e.Status()
	env.printf("%s: %s term=%d vote=%s leader=%s commit=%d applied=%d log=[%d,%d] last=%d/%d snap=%d/%d",
		id, s.Role, s.Term, s.Vote, s.Leader, s.Commit, s.Applied, s.FirstIndex, s.LastIndex, s.LastTerm, s.LastIndex, s.SnapshotTerm, s.SnapshotIndex)
	extra := []string{s.Membership.String()}
	if s.PendingConfig {
		extra = append(extra, "pending-config")
	}
	if s.TransferTarget != "" {
		extra = append(extra, "transfer-to="+string(s.TransferTarget))
	}
	if s.PendingReads > 0 {
		extra = append(extra, fmt.Sprintf("pending-reads=%d", s.PendingReads))
	}
	if s.LeaseValid {
		extra = append(extra, "lease")
	}
	env.printf("  %s", strings.Join(extra, " "))
	for _, f := range s.Followers {
		l := ""
		if f.Learner {
			l = " learner"
		}
		a := ""
		if f.Active {
			a = " active"
		}
		env.printf("  %s%s match=%d next=%d %s inflight=%d%s", f.ID, l, f.Match, f.Next, f.State, f.Inflight, a)
	}
}

func (env *iEnv) printLog(id NodeID) {
	n := env.nodes[id]
	env.printf("%s: hs={term=%d vote=%s commit=%d} snap=%s %s", id, n.hs.Term, n.hs.Vote, n.hs.Commit, n.snap, n.snap.Membership)
	env.printf("  log=%s", fmtEntries(n.log))
	env.printf("  sm=%s applied=%d last-hint=%d", encodeSM(n.sm), n.applied, n.lastHint)
}

// fmtEntries renders entries as [term/index:data ...].
func fmtEntries(es []Entry) string {
	parts := make([]string, len(es))
	for i, e := range es {
		var d string
		switch e.Type {
		case EntryNoop:
			d = "noop"
		case EntryConfig:
			if c, _, err := UnmarshalConfig(e.Data); err == nil {
				d = "conf(" + c.String() + ")"
			} else {
				d = "conf(?)"
			}
		default:
			d = string(e.Data)
		}
		parts[i] = fmt.Sprintf("%s:%s", e, d)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func errName(err error) string {
	for _, c := range []struct {
		err  error
		name string
	}{
		{ErrNotLeader, "not-leader"}, {ErrTransferInProgress, "transfer-in-progress"}, {ErrBusy, "busy"},
		{ErrNotReady, "not-ready"}, {ErrSteppedDown, "stepped-down"}, {ErrReadTimeout, "read-timeout"},
		{ErrNoLeader, "no-leader"}, {ErrConfPending, "conf-pending"}, {ErrConfNotReady, "conf-not-ready"},
		{ErrLearnerNotCaughtUp, "learner-not-caught-up"}, {ErrRemoved, "removed"}, {ErrEmptyProposal, "empty-proposal"},
	} {
		if err == c.err {
			return c.name
		}
	}
	return err.Error()
}

// fmtAction renders an action in one line of trace notation.
func fmtAction(a Action) string {
	switch a := a.(type) {
	case PersistHardState:
		return fmt.Sprintf("PersistHardState term=%d vote=%s commit=%d", a.HardState.Term, a.HardState.Vote, a.HardState.Commit)
	case TruncateLog:
		return fmt.Sprintf("TruncateLog from=%d", a.Index)
	case PersistEntries:
		return "PersistEntries " + fmtEntries(a.Entries)
	case Send:
		return "Send " + a.Msg.String()
	case SendSnapshot:
		return fmt.Sprintf("SendSnapshot %s max=%d", a.Msg, a.MaxBytes)
	case ApplyEntries:
		return "Apply " + fmtEntries(a.Entries)
	case ProposalAccepted:
		return fmt.Sprintf("ProposalAccepted id=%d at %d/%d", a.ID, a.Term, a.Index)
	case ProposalRejected:
		return fmt.Sprintf("ProposalRejected id=%d err=%s leader=%s", a.ID, errName(a.Err), a.Leader)
	case ReadReady:
		return fmt.Sprintf("ReadReady id=%d index=%d", a.ID, a.Index)
	case ReadFailed:
		return fmt.Sprintf("ReadFailed id=%d err=%s leader=%s", a.ID, errName(a.Err), a.Leader)
	case WriteSnapshotChunk:
		s := fmt.Sprintf("WriteSnapshotChunk snap=%s off=%d len=%d", a.Meta, a.Offset, len(a.Data))
		if a.Done {
			s += " done"
		}
		return s
	case RestoreSnapshot:
		return fmt.Sprintf("RestoreSnapshot snap=%s %s keep-log=%t", a.Meta, a.Meta.Membership, a.KeepLog)
	case CompactLog:
		return fmt.Sprintf("CompactLog to=%d", a.Index)
	case SnapshotHint:
		return fmt.Sprintf("SnapshotHint index=%d", a.Index)
	case RoleChanged:
		return fmt.Sprintf("RoleChanged %s term=%d leader=%s", a.Role, a.Term, a.Leader)
	case MembershipChanged:
		return "MembershipChanged " + a.Membership.String()
	}
	return fmt.Sprintf("%T", a)
}
