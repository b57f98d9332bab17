// runSim: rapid (or the fuzzer, through chooser) drives the test host
// (testhost_test.go): it picks every step, delivery, crash and partition, and
// checks the safety properties after each.

package engine

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"pgregory.net/rapid"
)

var checksOnce sync.Once

// setPropertyChecks makes every rapid property run YGGR_PROPERTY_CHECKS
// cases (default 1024) unless -rapid.checks or RAPID_CHECKS says otherwise.
func setPropertyChecks(t *testing.T) {
	t.Helper()
	checksOnce.Do(func() {
		if _, ok := os.LookupEnv("RAPID_CHECKS"); ok {
			return
		}
		explicit := false
		flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "rapid.checks" })
		if explicit {
			return
		}
		n := 1024
		if v, err := strconv.Atoi(os.Getenv("YGGR_PROPERTY_CHECKS")); err == nil && v > 0 {
			n = v
		}
		if err := flag.Set("rapid.checks", strconv.Itoa(n)); err != nil {
			t.Fatal(err)
		}
	})
}

// simOptions shape a random cluster run.
type simOptions struct {
	// lockstep ticks all live nodes together (no clock drift), which the
	// lease needs; otherwise nodes tick independently and lease reads are
	// off.
	lockstep bool
	lease    bool
	preVote  bool
	steps    int
	// byzantine injects forged and mutated messages (fuzzing): only the
	// per-node invariants are checked then, since a forged leader can
	// legitimately break cluster-wide safety.
	byzantine bool
	// five runs five voters instead of three.
	five bool
	// snapshotWindow is Config.SnapshotWindow (0: the default).
	snapshotWindow int
	// manualPersist delays LogPersisted reports to random points, and a
	// leader that crashes loses the entries it had not reported durable
	// (they may still have been in its write pipeline, Raft thesis
	// §10.2.1).
	manualPersist bool
}

// newSimEnv builds a quiet three-node cluster plus a fourth node that may be
// added by a membership change.
func newSimEnv(t *testing.T, fail func(string, ...any), opt simOptions) *iEnv {
	env := newIEnv(t)
	env.fail, env.quiet = fail, true
	// See TestFollowerReadStaleAnswerAfterRestart.
	if os.Getenv("YGGR_SIM_TRACE") != "" {
		// Debugging aid: print the whole trace with the failure.
		env.quiet, env.out = false, &strings.Builder{}
		env.fail = func(format string, args ...any) {
			fail("%s\n"+format, append([]any{env.out.String()}, args...)...)
		}
	}
	env.readFloor = map[uint64]uint64{}
	peers := []NodeID{"n1", "n2", "n3"}
	if opt.five {
		peers = append(peers, "n5", "n6")
	}
	// n4 is a spare: it starts with an empty configuration and joins if a
	// membership change adds it.
	for i, id := range append(slices.Clone(peers), "n4") {
		cfg := Config{ID: id, Peers: peers, ElectionTicks: 10, HeartbeatTicks: 2, Seed: uint64(i + 1),
			DisablePreVote: !opt.preVote, MaxInflightMsgs: 4, MaxAppendBytes: 100,
			SnapshotEntries: 8, CompactionKeep: 2, SnapshotChunkBytes: 7, SnapshotWindow: opt.snapshotWindow,
			MaxPendingReads: 16, EntryCacheBytes: 60} // about two entries: data is released and read back all the time
		if id == "n4" {
			cfg.Peers = nil
		}
		if opt.lease {
			cfg.LeaseTicks = 7
		}
		if err := env.addNode(cfg, opt.manualPersist); err != nil {
			fail("new: %v", err)
		}
	}
	return env
}

// simState tracks per-node observations across steps for the monotonicity
// properties.
type simState struct {
	term, commit map[NodeID]uint64
	maxCommit    uint64
}

// checkSim checks the properties that hold after every step: terms never go
// back (across restarts too), commit never goes back on a live engine, the
// live log is contiguous, and the committed prefixes agree.
func (env *iEnv) checkSim(st *simState, restarted NodeID) {
	for _, id := range env.ids {
		n := env.nodes[id]
		if n.e == nil {
			continue
		}
		s := n.e.Status()
		if s.Term < st.term[id] {
			env.fail("%s: term went back from %d to %d", id, st.term[id], s.Term)
		}
		st.term[id] = s.Term
		if id == restarted {
			// Restored from the durable hard state.
			last := n.snap.Index
			if len(n.log) > 0 {
				last = max(last, n.log[len(n.log)-1].Index)
			}
			if want := max(n.snap.Index, min(n.hs.Commit, last)); s.Commit != want {
				env.fail("%s: recovered commit %d, want %d", id, s.Commit, want)
			}
		} else if s.Commit < st.commit[id] {
			env.fail("%s: commit went back from %d to %d", id, st.commit[id], s.Commit)
		}
		st.commit[id] = s.Commit
		st.maxCommit = max(st.maxCommit, s.Commit)
		l := &n.e.log
		for i := range l.entries.len() {
			if e := l.entries.at(i); e.Index != l.floor+1+uint64(i) {
				env.fail("%s: log not contiguous: entry %s at position %d after floor %d", id, e, i, l.floor)
				break
			}
		}
		if !(l.floor <= l.snap.Index && l.snap.Index <= l.applied && l.applied <= l.commit && l.commit <= l.lastIndex()) {
			env.fail("%s: log invariant broken: floor=%d snap=%d applied=%d commit=%d last=%d", id, l.floor, l.snap.Index, l.applied, l.commit, l.lastIndex())
		} else if want := l.weight(l.snap.Index+1, l.applied+1); l.appliedBytes != want {
			env.fail("%s: appliedBytes %d, want %d (the entries %d to %d)", id, l.appliedBytes, want, l.snap.Index+1, l.applied)
		}
		if want := l.weight(l.floor+1, min(l.snap.Index, l.lastIndex())+1); l.behind != want {
			env.fail("%s: behind %d, want %d (the entries %d to %d)", id, l.behind, want, l.floor+1, l.snap.Index)
		}
		if l.dataFloor < l.floor {
			env.fail("%s: dataFloor %d below the floor %d", id, l.dataFloor, l.floor)
		} else if want := l.weight(max(l.dataFloor, l.floor)+1, l.lastIndex()+1); l.cachedBytes != want || l.bytes != l.weight(l.floor+1, l.lastIndex()+1) {
			env.fail("%s: cachedBytes %d (want %d), bytes %d (want %d)", id, l.cachedBytes, want, l.bytes, l.weight(l.floor+1, l.lastIndex()+1))
		}
		for i := l.floor + 1; i <= l.lastIndex(); i++ {
			e := l.entry(i)
			if released := i <= l.dataFloor && e.Type != EntryConfig; (len(e.Data) == 0) != (released || l.entries.lenAt(int(i-l.floor-1)) == 0) {
				env.fail("%s: entry %s holds %d bytes of data, %d appended, dataFloor %d", id, e, len(e.Data), l.entries.lenAt(int(i-l.floor-1)), l.dataFloor)
				break
			}
		}
		for i := 1; i < len(n.log); i++ {
			if n.log[i].Index != n.log[i-1].Index+1 {
				env.fail("%s: durable log not contiguous at %s", id, n.log[i])
				break
			}
		}
	}
	if !env.byzantine {
		env.checkSafety()
	}
}

// chooser supplies the random choices of a schedule: rapid's generators in
// property tests, the fuzzer's bytes in FuzzEngineEvents.
type chooser interface {
	// intn returns a choice in [0, n); n > 0.
	intn(label string, n int) int
}

type rapidChooser struct{ t *rapid.T }

func (c rapidChooser) intn(label string, n int) int { return rapid.IntRange(0, n-1).Draw(c.t, label) }

// runSim drives the cluster with a random schedule drawn from ch.
func runSim(ch chooser, env *iEnv, opt simOptions) {
	st := &simState{term: map[NodeID]uint64{}, commit: map[NodeID]uint64{}}
	ids := env.ids
	node := func(label string) NodeID { return ids[ch.intn(label, len(ids))] }
	live := func() []NodeID {
		var l []NodeID
		for _, id := range ids {
			if env.nodes[id].e != nil {
				l = append(l, id)
			}
		}
		return l
	}
	for step := 0; step < opt.steps; step++ {
		restarted := NodeID("")
		if opt.byzantine && ch.intn("forge", 6) == 0 {
			env.forge(ch)
		}
		if opt.manualPersist && ch.intn("persist", 4) == 0 {
			// The host reports a node's writes durable.
			id := node("persisted")
			if n := env.nodes[id]; n.e != nil && len(n.log) > 0 {
				last := n.log[len(n.log)-1]
				env.step(id, LogPersisted{Index: last.Index, Term: last.Term})
			}
		}
		op := ch.intn("op", 100)
		switch {
		case op < 35: // deliver a message, possibly out of order
			if len(env.msgs) == 0 {
				break
			}
			i := 0
			if ch.intn("reorder", 4) == 0 {
				i = ch.intn("msg", len(env.msgs))
			}
			m := env.msgs[i]
			env.msgs = slices.Delete(env.msgs, i, i+1)
			env.deliver(m)
		case op < 40: // drop or duplicate a message
			if len(env.msgs) == 0 {
				break
			}
			i := ch.intn("msg", len(env.msgs))
			if ch.intn("dup", 2) == 1 {
				env.msgs = append(env.msgs, env.msgs[i])
			} else {
				env.msgs = slices.Delete(env.msgs, i, i+1)
			}
		case op < 65: // tick
			if opt.lockstep {
				for _, id := range live() {
					env.step(id, Tick{})
				}
			} else if id := node("tick"); env.nodes[id].e != nil {
				env.step(id, Tick{})
			}
		case op < 75: // propose
			id := node("propose")
			pid := env.nextID
			env.nextID++
			env.step(id, Propose{ID: pid, Data: []byte(fmt.Sprintf("v%d", pid))})
		case op < 83: // read
			id := node("read")
			rid := env.nextID
			env.nextID++
			env.readFloor[rid] = st.maxCommit
			if opt.lease && ch.intn("lease", 2) == 1 && env.leaseRead(id, rid) {
				break
			}
			env.step(id, Read{ID: rid})
		case op < 86: // crash or restart
			id := node("crash")
			if env.nodes[id].e == nil {
				env.restart(id)
				restarted = id
			} else if len(live()) > 2 {
				n := env.nodes[id]
				if ch.intn("midstep", 2) == 0 {
					env.crashMidStep(ch, n)
					st.term[id] = n.hs.Term
					break
				}
				if opt.manualPersist && n.e.role == Leader {
					// Unreported writes of its own term may be lost.
					keep := n.e.log.persisted + uint64(ch.intn("lost", 3))
					n.log = slices.DeleteFunc(n.log, func(e Entry) bool { return e.Index > keep && e.Term == n.e.term })
				}
				n.e = nil
			}
		case op < 89: // transfer leadership
			env.step(node("from"), TransferLeadership{To: node("to")})
		case op < 92: // snapshot at the applied index
			id := node("snap")
			n := env.nodes[id]
			if n.e == nil || n.applied == 0 {
				break
			}
			if ch.intn("snapfail", 5) == 0 {
				env.step(id, SnapshotFailed{Index: n.lastHint})
				break
			}
			var term uint64
			for _, e := range n.log {
				if e.Index == n.applied {
					term = e.Term
				}
			}
			if term == 0 {
				break
			}
			data := encodeSM(n.sm)
			meta := SnapshotMeta{Index: n.applied, Term: term, Size: uint64(len(data))}
			prevSnap, prevData := n.snap, n.snapData
			n.snap, n.snapData = meta, data
			env.step(id, SnapshotTaken{Meta: meta})
			if n.e.log.snap.Index == meta.Index {
				n.snap.Membership = n.e.log.snap.Membership.Clone()
			} else {
				n.snap, n.snapData = prevSnap, prevData // refused: keep the old one
			}
		case op < 96: // membership change
			ops := []ConfOp{ConfAddLearner, ConfAddVoter, ConfPromote, ConfRemove}
			c := ConfChange{Op: ops[ch.intn("confop", len(ops))], Node: node("confnode")}
			cid := env.nextID
			env.nextID++
			env.step(node("confleader"), ChangeMembership{ID: cid, Change: c})
		default: // partition or heal
			if env.group != nil || ch.intn("heal", 2) == 1 {
				env.group = nil
				break
			}
			env.group = map[NodeID]int{}
			for _, id := range ids {
				env.group[id] = ch.intn("side", 2)
			}
		}
		env.checkSim(st, restarted)
	}
}

// crashMidStep steps one event (a tick, or a message queued for n) and
// crashes n while the host is carrying out its actions: only a prefix of
// them is executed, and of that prefix the writes the ordering contract did
// not yet require to be durable may be lost. A write must be durable before
// any later Send, except that a leader's MsgApp may overtake the
// PersistEntries before it (Raft thesis §10.2.1) and a MsgSnapResp the
// WriteSnapshotChunk before it; writes complete in order.
func (env *iEnv) crashMidStep(ch chooser, n *iNode) {
	var ev Event = Tick{}
	var mine []int
	for i, m := range env.msgs {
		if m.To == n.id {
			mine = append(mine, i)
		}
	}
	if len(mine) > 0 && ch.intn("midmsg", 2) == 0 {
		i := mine[ch.intn("midmsgi", len(mine))]
		ev = Receive{Msg: env.msgs[i]}
		env.msgs = slices.Delete(env.msgs, i, i+1)
	}
	leader := n.e.role == Leader
	as := n.e.Step(ev)
	prefix := as[:ch.intn("cut", len(as)+1)]
	isPersist := func(a Action) bool {
		switch a.(type) {
		case PersistHardState, TruncateLog, PersistEntries, WriteSnapshotChunk, RestoreSnapshot:
			return true
		}
		return false
	}
	// overtakes says whether a Send of m may leave before the write w
	// is durable.
	overtakes := func(m Message, w Action) bool {
		switch w.(type) {
		case PersistEntries:
			return leader && m.Type == MsgApp
		case WriteSnapshotChunk:
			return m.Type == MsgSnapResp
		}
		return false
	}
	// lossFrom is the earliest position from which every write may be
	// lost: every Send after it may overtake every write before it.
	lossFrom := len(prefix)
scan:
	for i := len(prefix) - 1; i >= 0; i-- {
		a := prefix[i]
		switch a := a.(type) {
		case SendSnapshot:
			break scan
		case Send:
			if !(leader && a.Msg.Type == MsgApp) && a.Msg.Type != MsgSnapResp {
				break scan
			}
		}
		if !isPersist(a) {
			continue
		}
		for _, b := range prefix[i+1:] {
			if s, ok := b.(Send); ok && !overtakes(s.Msg, a) {
				break scan // this write, and every one before it, is durable
			}
		}
		lossFrom = i
	}
	lost := lossFrom + ch.intn("lost", len(prefix)-lossFrom+1)
	for i, a := range prefix {
		if i >= lost && isPersist(a) {
			continue
		}
		switch a := a.(type) {
		case Send:
			env.msgs = append(env.msgs, a.Msg)
		default:
			// Follow-up events (LogPersisted, SnapshotChunkFailed) die
			// with the process.
			env.exec(n, a)
		}
	}
	n.e = nil
}

// weight is the total size of the entries [lo, hi), counted naively.
func (l *raftLog) weight(lo, hi uint64) uint64 {
	var w uint64
	for i := lo; i < hi; i++ {
		w += uint64(l.entries.lenAt(int(i-l.floor-1))) + entryOverhead
	}
	return w
}
