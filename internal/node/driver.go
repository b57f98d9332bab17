package node

import (
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"time"

	"github.com/yggrdb/yggr/engine"
	raftlog "github.com/yggrdb/yggr/log"
	"github.com/yggrdb/yggr/snapshot"
)

// driverState is owned by the driver goroutine.
type driverState struct {
	eng    *engine.Engine
	lastHS engine.HardState // last hard state handed to storage
	// pendingHS is a commit-only hard state not yet handed to storage
	// (see execute).
	pendingHS *engine.HardState
	// reader serves chunks of the snapshot being sent to followers.
	reader *snapshot.Reader
	// snapshotting says a snapshot is being taken (or is held in
	// snapAhead).
	snapshotting bool
	// snapAhead is a written snapshot that reaches past the last entry
	// this node's log has made durable (entries are applied once
	// committed, before this node's own write of them may have finished):
	// it is recorded when that write is (see persistedEvents).
	snapAhead *snapDone
	// membershipNew says the membership changed since the status was
	// last published.
	membershipNew bool
	snapWaiters   []chan snapDone // user requests waiting for the snapshot in progress
	evs           []engine.Event
	props         []engine.Proposal
	// tickClock says when recent ticks were stepped, for the lease, as
	// durations since tickEpoch (the first tick's time, with its
	// monotonic reading).
	tickClock engine.TickClock[time.Duration]
	tickEpoch time.Time
}

// snapDone reports the end of a snapshot the apply goroutine started.
type snapDone struct {
	meta engine.SnapshotMeta
	err  error
	// storage is set when err is the disk's (a chunk or manifest write or
	// sync failed), not the state machine's: the node then stops.
	storage bool
}

// maxDrain bounds the inputs one driver iteration takes, so that ticks and
// sends are never starved.
const maxDrain = 4096

// run is the driver loop.
func (n *Node) run() {
	defer n.wg.Done()
	eng := n.d.eng

	ticker := time.NewTicker(n.cfg.TickInterval)
	defer ticker.Stop()
	var inbound <-chan engine.Message
	if n.net != nil {
		inbound = n.net.Inbound()
	}
	for {
		if n.cfg.BeforeIteration != nil {
			n.cfg.BeforeIteration()
		}
		evs, props := n.d.evs[:0], n.d.props[:0]
		select {
		case <-n.stop:
			n.closeSnapshotFiles()
			if hs := n.d.pendingHS; hs != nil && !n.failed() {
				_ = n.logs.Write(raftlog.Batch{HardState: hs})
			}
			return
		case e := <-n.persisted:
			evs = n.persistedEvents(evs, e)
		case <-ticker.C:
			evs = append(evs, engine.Tick{})
		case m := <-inbound:
			evs = append(evs, engine.Receive{Msg: m})
		case p := <-n.proposals:
			props = append(props, p)
			// Let the writers that are runnable but have not run yet
			// (those the apply goroutine just woke with their results)
			// propose before the drain below, so that they join this
			// iteration's append instead of each costing one of their
			// own: an append, a MsgApp to every follower and its
			// acknowledgement, an iteration on each follower. With
			// nothing else runnable it returns at once. Without it a
			// leader appended 1.1 proposals an iteration at
			// concurrency 16 and 2 at 64; with it 8 and 16-19
			// (BenchmarkPut, 3 nodes, 2 cores).
			runtime.Gosched()
		case ev := <-n.events:
			evs = append(evs, ev)
		case sd := <-n.snapDone:
			if ev := n.snapshotFinished(sd); ev != nil {
				evs = append(evs, ev)
			}
		case ch := <-n.snapReq:
			n.d.snapWaiters = append(n.d.snapWaiters, ch)
			n.requestSnapshot()
		}
	drain:
		for i := 0; i < maxDrain; i++ {
			select {
			case m := <-inbound:
				evs = append(evs, engine.Receive{Msg: m})
			case p := <-n.proposals:
				props = append(props, p)
			case ev := <-n.events:
				evs = append(evs, ev)
			case e := <-n.persisted:
				evs = n.persistedEvents(evs, e)
			default:
				break drain
			}
		}
		if n.failed() {
			if sd := n.d.snapAhead; sd != nil {
				n.d.snapAhead, n.d.snapshotting = nil, false
				n.answerSnapshot(snapDone{meta: sd.meta, err: n.fatalErr()})
			}
			for _, p := range props {
				n.w.failProposal(p.ID, n.fatalErr())
			}
			for _, ev := range evs {
				if r, ok := ev.(engine.Read); ok {
					n.readDone(r.ID, 0, n.fatalErr())
				}
			}
			n.d.evs, n.d.props = evs, props
			continue
		}
		var acts []engine.Action
		for _, ev := range evs {
			switch ev := ev.(type) {
			case engine.Tick:
				acts = append(acts, n.stepTick()...)
			default:
				acts = append(acts, eng.Step(ev)...)
			}
		}
		if len(props) > 0 {
			// Group commit: every queued proposal in one append.
			n.metrics.batchSizes.observe(float64(len(props)))
			acts = append(acts, eng.Step(engine.ProposeBatch{Proposals: props})...)
		}
		clear(evs)
		clear(props)
		n.d.evs, n.d.props = evs, props
		n.publishLease()
		n.execute(acts)
		n.publishStatus()
	}
}

// maybeElectAlone makes a single-voter node leader at once instead of after
// an election timeout: ticks are logical, so the driver may step them
// back to back.
func (n *Node) maybeElectAlone() {
	st := n.d.eng.Status()
	if len(st.Membership.Voters) != 1 || st.Membership.Voters[0] != n.cfg.ID {
		return
	}
	for i := 0; i < 4*n.electionTicks()+64 && n.d.eng.Status().Role != engine.Leader; i++ {
		acts := n.stepTick()
		n.publishLease()
		n.execute(acts)
	}
}

func (n *Node) failed() bool { return n.fatal.Load() != nil }

func (n *Node) fatalErr() error {
	if f := n.fatal.Load(); f != nil {
		return f.err
	}
	return nil
}

// fatal is a storage failure; the node then refuses all work.
type fatal struct{ err error }

// setFatal records a storage failure: the node stops making progress and
// every request fails with an error wrapping ErrStorage and err. The
// failed operation is never retried: after a failed fsync the kernel may
// have dropped the pages it could not write, so nothing this process wrote
// is known to be on disk until a restart reads it back.
func (n *Node) setFatal(err error) {
	err = &StorageError{Err: err}
	if n.fatal.CompareAndSwap(nil, &fatal{err}) {
		n.cfg.Logger.Error("storage failed: node stopped; it answers no request until restarted", "node", n.cfg.ID, "err", err.(*StorageError).Err)
		n.lease.Store(nil)
		n.w.failAll(err)
	}
}

// StorageFailure returns the storage failure that stopped the node (an
// error wrapping ErrStorage), or nil while it runs.
func (n *Node) StorageFailure() error { return n.fatalErr() }

// execute turns the actions of one driver iteration into a storage job, in
// contract order (see engine.Action): the leader's MsgApps go out at once;
// the storage writes, the other messages and the committed entries wait in
// the job, which the storage goroutine makes durable (one batch, one sync)
// before it sends the messages, hands the entries to the apply goroutine
// and reports LogPersisted back to the driver. The driver meanwhile goes on
// stepping events: a sync never stalls heartbeats or acknowledgements.
func (n *Node) execute(acts []engine.Action) {
	if len(acts) == 0 || n.failed() {
		return
	}
	var (
		j     storeJob
		b     raftlog.Batch
		dirty bool
		now   time.Time // read once, when a proposal or a commit needs it
	)
	clock := func() time.Time {
		if now.IsZero() {
			now = time.Now()
		}
		return now
	}
	flushBatch := func() {
		if !dirty {
			return
		}
		if b.HardState != nil && len(b.Entries) == 0 && b.TruncateFrom == 0 &&
			b.HardState.Term == n.d.lastHS.Term && b.HardState.Vote == n.d.lastHS.Vote {
			// Only the commit index changed. Its durability is not needed
			// for safety (a restarted node re-learns it), so it rides along
			// with the next write instead of costing a sync of its own.
			n.d.pendingHS = b.HardState
			b, dirty = raftlog.Batch{}, false
			return
		}
		if b.HardState == nil && n.d.pendingHS != nil {
			b.HardState = n.d.pendingHS
		}
		n.d.pendingHS = nil
		if b.HardState != nil {
			n.d.lastHS = *b.HardState
		}
		j.ops = append(j.ops, storeOp{batches: []raftlog.Batch{b}})
		b, dirty = raftlog.Batch{}, false
	}
	for _, a := range acts {
		switch a := a.(type) {
		case engine.PersistHardState:
			hs := a.HardState
			if hs.Term != n.d.lastHS.Term || hs.Vote != n.d.lastHS.Vote {
				j.termVote = true
			}
			b.HardState, dirty = &hs, true
		case engine.TruncateLog:
			k := 0
			for k < len(b.Entries) && b.Entries[k].Index < a.Index {
				k++
			}
			b.Entries = b.Entries[:k]
			if b.TruncateFrom == 0 || a.Index < b.TruncateFrom {
				b.TruncateFrom = a.Index
			}
			dirty = true
		case engine.PersistEntries:
			b.Entries = append(b.Entries, a.Entries...)
			dirty = true
			last := a.Entries[len(a.Entries)-1]
			j.persisted = &last
			n.noteConfigEntries(a.Entries)
		case engine.Send:
			m := a.Msg
			if a.FillThrough != 0 && !n.fillFromLog(&m, a.FillThrough) {
				continue // the leader sends the entries again
			}
			if n.mayGoEarly(m, j.termVote) {
				if n.net != nil {
					n.net.Send(m)
				}
			} else {
				j.late = append(j.late, m)
			}
		case engine.SendSnapshot:
			if m, ok := n.snapshotChunk(a); ok {
				j.late = append(j.late, m)
			}
		case engine.ApplyEntries:
			// Committed entries need no local durability; they only keep
			// their order with snapshot restores, which wait in the job.
			it := applyItem{entries: a.Entries, committed: clock()}
			if len(j.apply) == 0 && n.applyInFlight.Load() == 0 {
				n.applyQ.push(it)
			} else {
				j.apply = append(j.apply, it)
			}
		case engine.ProposalAccepted:
			n.w.accepted(a.ID, a.Term, a.Index, clock())
		case engine.ProposalRejected:
			n.w.failProposal(a.ID, n.translate(a.Err, a.Leader))
		case engine.ReadReady:
			n.readDone(a.ID, a.Index, nil)
		case engine.ReadFailed:
			n.readDone(a.ID, 0, n.translate(a.Err, a.Leader))
		case engine.WriteSnapshotChunk:
			flushBatch()
			c := a
			j.ops = append(j.ops, storeOp{chunk: &c})
		case engine.RestoreSnapshot:
			flushBatch()
			r := a
			j.ops = append(j.ops, storeOp{reset: &r})
			meta := a.Meta
			j.apply = append(j.apply, applyItem{restore: &meta})
		case engine.CompactLog:
			// Deleting thousands of entries takes long enough to delay
			// heartbeats: the compactor goroutine does it.
			n.compactTo(a.Index)
		case engine.SnapshotHint:
			n.requestSnapshot()
		case engine.RoleChanged:
			n.cfg.Logger.Info("role changed", "node", n.cfg.ID, "role", a.Role.String(), "term", a.Term, "leader", string(a.Leader))
		case engine.MembershipChanged:
			n.membershipChanged(a.Membership)
		default:
			// The engine's actions are a closed set: one this runtime does
			// not know is a programming error, never input. Dropping it
			// could lose a write or a message the protocol relies on, so
			// the node stops (as the simulator reports a violation), and
			// every request fails with the action named; nothing of this
			// iteration is made durable or sent.
			n.setFatal(fmt.Errorf("node: unknown engine action %T: the runtime does not implement the engine's contract", a))
			return
		}
	}
	flushBatch()
	if len(j.ops) == 0 && len(j.late) == 0 && len(j.apply) == 0 {
		return
	}
	if j.termVote {
		n.termVoteInFlight.Add(1)
	}
	if len(j.apply) > 0 {
		n.applyInFlight.Add(1)
	}
	select {
	case n.jobs <- j:
	case <-n.stop:
	}
}

// fillFromLog reads the data of m's entries up to through back from the
// log, where the engine released it (engine.Send.FillThrough). Those
// entries are committed and durable here; a failed read drops the message.
func (n *Node) fillFromLog(m *engine.Message, through uint64) bool {
	lo := m.Entries[0].Index
	es, err := n.logs.History(lo, through+1, math.MaxUint64)
	if err == nil && uint64(len(es)) != through+1-lo {
		err = fmt.Errorf("read %d entries, want %d", len(es), through+1-lo)
	}
	for i := 0; err == nil && i < len(es); i++ {
		if es[i].Term != m.Entries[i].Term {
			err = fmt.Errorf("entry %d has term %d in the log, %d in the engine", es[i].Index, es[i].Term, m.Entries[i].Term)
		}
	}
	if err != nil {
		n.cfg.Logger.Warn("cannot read entries back from the log for a follower", "node", n.cfg.ID, "peer", string(m.To), "index", lo, "err", err)
		return false
	}
	n.metrics.entriesFilled.Add(uint64(len(es)))
	for i := range es {
		m.Entries[i].Data = es[i].Data
	}
	return true
}

// mayGoEarly reports whether a message may be sent before the storage
// writes queued ahead of it are durable. Every message carries the sender's
// term (and a vote answer its vote), so none leaves while a term or vote
// change is not durable. Beyond that only MsgAppResp and MsgSnapResp
// acknowledge log or snapshot contents, which must be durable first; the
// leader's MsgApp may precede its own write (Raft thesis §10.2.1), and
// heartbeats, their answers, pre-votes and read-index messages claim
// nothing about the disk.
//
// Disk stall: once the write in progress is older than an election timeout,
// nothing goes early any more, so a leader whose disk is stuck stops
// sending heartbeats and the cluster elects another.
func (n *Node) mayGoEarly(m engine.Message, termVoteInJob bool) bool {
	if termVoteInJob || n.termVoteInFlight.Load() != 0 || n.diskStalled(time.Now()) {
		return false
	}
	switch m.Type {
	case engine.MsgAppResp, engine.MsgSnapResp, engine.MsgVote, engine.MsgVoteResp:
		return false
	}
	return true
}

func (n *Node) sendAll(ms []engine.Message) {
	if n.net == nil {
		return
	}
	for _, m := range ms {
		n.net.Send(m)
	}
}

// noteConfigEntries records the addresses that membership changes carry,
// of the members of the configuration the entries end with only: a node
// added and removed again within es gets no address. The transport learns
// them from the MembershipChanged action that follows (setPeers).
func (n *Node) noteConfigEntries(es []engine.Entry) {
	var (
		changes []engine.ConfChange
		last    engine.Membership
	)
	for _, e := range es {
		if e.Type != engine.EntryConfig {
			continue
		}
		cc, m, err := engine.UnmarshalConfig(e.Data)
		if err != nil {
			continue
		}
		changes, last = append(changes, cc), m
	}
	for _, cc := range changes {
		if cc.Addr != "" && last.Contains(cc.Node) {
			n.addrs.set(cc.Node, cc.Addr)
		}
	}
}

// membershipChanged points the transport at the members of the new
// configuration.
func (n *Node) membershipChanged(m engine.Membership) {
	n.d.membershipNew = true
	n.cfg.Logger.Info("membership changed", "node", n.cfg.ID, "membership", m.String())
	if n.net != nil {
		n.setPeers(m)
	}
}

// snapshotChunk reads the chunk a SendSnapshot asks for.
func (n *Node) snapshotChunk(a engine.SendSnapshot) (engine.Message, bool) {
	m := a.Msg
	meta := m.Snapshot
	r := n.d.reader
	if r == nil || r.Meta().Index != meta.Index || r.Meta().Term != meta.Term {
		if r != nil {
			r.Close()
			n.d.reader = nil
		}
		var err error
		if r, err = n.snaps.Open(meta.Index, meta.Term); err != nil {
			n.cfg.Logger.Warn("cannot read snapshot for a follower", "node", n.cfg.ID, "peer", string(m.To), "index", meta.Index, "err", err)
			n.d.eng.Step(engine.SnapshotChunkFailed{To: m.To})
			return m, false
		}
		n.d.reader = r
	}
	size := r.Meta().Size
	buf := make([]byte, min(a.MaxBytes, size-min(size, m.Offset)))
	k, err := r.ReadAt(buf, int64(m.Offset))
	if err != nil && err != io.EOF {
		n.cfg.Logger.Warn("cannot read snapshot chunk", "node", n.cfg.ID, "peer", string(m.To), "offset", m.Offset, "err", err)
		n.d.eng.Step(engine.SnapshotChunkFailed{To: m.To})
		return m, false
	}
	m.Data = buf[:k]
	m.Done = m.Offset+uint64(k) >= size
	n.metrics.snapshotBytesSent.Add(uint64(k))
	return m, true
}

func (n *Node) closeSnapshotFiles() {
	if n.d.reader != nil {
		n.d.reader.Close()
		n.d.reader = nil
	}
}

// requestSnapshot asks the apply goroutine to capture the state machine.
func (n *Node) requestSnapshot() {
	if n.d.snapshotting {
		return
	}
	n.d.snapshotting = true
	n.applyQ.push(applyItem{snapshot: true})
}

// persistedEvents appends the events of a finished log write: the engine's
// LogPersisted and, once the write reaches a held snapshot's index, that
// snapshot's outcome.
func (n *Node) persistedEvents(evs []engine.Event, e engine.Entry) []engine.Event {
	evs = append(evs, engine.LogPersisted{Index: e.Index, Term: e.Term})
	if sd := n.d.snapAhead; sd != nil && e.Index >= sd.meta.Index {
		n.d.snapAhead = nil
		if ev := n.snapshotFinished(*sd); ev != nil {
			evs = append(evs, ev)
		}
	}
	return evs
}

// snapshotFinished records a written snapshot in the log store and returns
// the event that tells the engine, or nil while the snapshot is held until
// the log's write of its last entry finishes.
func (n *Node) snapshotFinished(sd snapDone) engine.Event {
	if sd.err == nil {
		if err := n.logs.SetSnapshot(sd.meta); err != nil {
			switch {
			case errors.Is(err, raftlog.ErrSnapshotAhead):
				// The state machine applied entries this node's own
				// write of has not finished (a leader commits on its
				// followers' acknowledgements): the snapshot is recorded
				// when it has. Refused instead, a user's Snapshot failed
				// and a leader's compaction waited for the next one
				// (TestSnapshotAheadOfTheLog).
				n.d.snapAhead = &sd
				return nil
			case errors.Is(err, raftlog.ErrStaleSnapshot):
				// A snapshot installed from the leader meanwhile
				// overtook this one: not recorded, and not a storage
				// failure (found by TestWatchChaos, which stopped a
				// healthy node).
				sd.err = err
			default:
				sd.err, sd.storage = err, true
			}
		}
	}
	n.d.snapshotting = false
	if sd.storage {
		// The node stops (and says so in the log); nothing is retried.
		n.setFatal(sd.err)
		sd.err = n.fatalErr()
	}
	n.answerSnapshot(sd)
	if sd.storage {
		return engine.SnapshotFailed{Index: sd.meta.Index, Err: sd.err}
	}
	if sd.err != nil {
		n.cfg.Logger.Warn("snapshot failed; will retry", "node", n.cfg.ID, "index", sd.meta.Index, "err", sd.err)
		return engine.SnapshotFailed{Index: sd.meta.Index, Err: sd.err}
	}
	n.cfg.Logger.Info("snapshot taken", "node", n.cfg.ID, "index", sd.meta.Index, "term", sd.meta.Term)
	return engine.SnapshotTaken{Meta: sd.meta}
}

// answerSnapshot gives a snapshot's outcome to the users waiting for it.
func (n *Node) answerSnapshot(sd snapDone) {
	for _, ch := range n.d.snapWaiters {
		ch <- sd // buffered 1
	}
	n.d.snapWaiters = nil
}

// compactTo hands a compaction to the compactor goroutine; a newer index
// replaces one not yet started.
func (n *Node) compactTo(index uint64) {
	select {
	case <-n.compactCh:
	default:
	}
	n.compactCh <- index
}

// compactLoop is the compactor goroutine: owned by the Node, it ends when
// stop closes. log.Store.Compact may run concurrently with writes.
func (n *Node) compactLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.stop:
			return
		case index := <-n.compactCh:
			// The history a watch replays starts at the oldest retained
			// snapshot: the log stays from there on.
			index = n.historyHold(index)
			if err := n.logs.Compact(index); err != nil {
				n.cfg.Logger.Warn("log compaction failed", "node", n.cfg.ID, "index", index, "err", err)
			}
		}
	}
}

// diskStalled reports whether the storage write in progress started more
// than an election timeout before now.
func (n *Node) diskStalled(now time.Time) bool {
	started := n.writeStarted.Load()
	timeout := time.Duration(n.electionTicks()) * n.cfg.TickInterval
	return started != 0 && now.Sub(time.Unix(0, started)) > timeout
}

// StorageStalled reports whether the storage write in progress started
// more than an election timeout ago.
func (n *Node) StorageStalled() bool { return n.diskStalled(time.Now()) }

// electionTicks is the engine's minimum election timeout in ticks: the
// configured one, or the engine's default when unset.
func (n *Node) electionTicks() int {
	if t := n.cfg.Engine.ElectionTicks; t > 0 {
		return t
	}
	return engine.DefaultElectionTicks
}
