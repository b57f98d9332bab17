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
		// read ID [lease]: a lease read is served by the host from
		// Engine.Lease when the leader holds one, else it is a Read.
		id := env.node(d.CmdArgs[0].Key)
		rid := env.nextID
		env.nextID++
		if d.HasArg("lease") && env.leaseRead(id, rid) {
			break
		}
		env.step(id, Read{ID: rid})
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
	case "lease":
		for _, id := range env.nodeList(d) {
			l := env.nodes[id].e.Lease()
			if l.Held {
				env.printf("%s: held since=%d now=%d commit=%d", id, l.Since, l.Now, l.Commit)
			} else {
				env.printf("%s: not held now=%d commit=%d", id, l.Now, l.Commit)
			}
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
// [snapshot-entries=N] [compaction-keep=N] [chunk=B] [snapshot-window=N]
// [max-reads=N] [max-log-entries=N] [manual-persist].
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
		in("snapshot-window", &cfg.SnapshotWindow)
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
// [only=(k..)] [reverse] [dup] delivers (or, for recipients in drop,
// discards) the messages queued when the command starts that match the
// filters; the rest stay queued in order. only keeps of those the k-th
// ones (from 1); reverse delivers them last first; dup delivers each twice
// in a row.
func (env *iEnv) cmdDeliver(d *datadriven.TestData) {
	var to []NodeID
	for _, a := range d.CmdArgs {
		if len(a.Vals) == 0 && a.Key != "reverse" && a.Key != "dup" {
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
	if only := vals("only"); only != nil {
		var picked []Message
		for i, m := range deliver {
			if slices.Contains(only, strconv.Itoa(i+1)) {
				picked = append(picked, m)
			} else {
				keep = append(keep, m)
			}
		}
		deliver = picked
	}
	if d.HasArg("reverse") {
		slices.Reverse(deliver)
	}
	env.msgs = keep
	for _, m := range deliver {
		if slices.Contains(drop, string(m.To)) {
			env.printf("dropped: %s", m)
			continue
		}
		env.deliver(m)
		if d.HasArg("dup") {
			env.deliver(m)
		}
	}
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

// cmdSnapshot: snapshot n1 [index] [unsized] takes a snapshot of n1's
// state machine at index (default: its applied index) and reports it;
// unsized reports it with Size 0 (unknown).
func (env *iEnv) cmdSnapshot(d *datadriven.TestData) {
	id := env.node(d.CmdArgs[0].Key)
	n := env.nodes[id]
	idx := n.applied
	if len(d.CmdArgs) > 1 && d.CmdArgs[1].Key != "unsized" {
		v, err := strconv.ParseUint(d.CmdArgs[1].Key, 10, 64)
		if err != nil {
			d.Fatalf(env.t, "snapshot: %v", err)
		}
		idx = v
	}
	env.takeSnapshot(id, idx, !d.HasArg("unsized"))
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
		{ErrSteppedDown, "stepped-down"}, {ErrReadTimeout, "read-timeout"},
		{ErrNoLeader, "no-leader"}, {ErrConfPending, "conf-pending"}, {ErrConfNotReady, "conf-not-ready"},
		{ErrLearnerNotCaughtUp, "learner-not-caught-up"},
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
