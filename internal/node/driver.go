package node

import (
	"io"
	"time"

	"github.com/yggrdb/yggr/engine"
	raftlog "github.com/yggrdb/yggr/log"
	"github.com/yggrdb/yggr/snapshot"
)

// driverState is owned by the driver goroutine.
type driverState struct {
	eng     *engine.Engine
	durable engine.HardState // last hard state written
	// pendingHS is a commit-only hard state not yet written (see flush).
	pendingHS *engine.HardState
	// receiver is the snapshot being received from the leader.
	receiver     *snapshot.Receiver
	receiverMeta engine.SnapshotMeta
	// reader serves chunks of the snapshot being sent to followers.
	reader *snapshot.Reader
	// snapshotting says a snapshot is being taken.
	snapshotting bool
	membership   engine.Membership
	snapWaiters  []chan snapDone // user requests waiting for the snapshot in progress
	evs          []engine.Event
	props        []engine.Proposal
}

// snapDone reports the end of a snapshot the apply goroutine started.
type snapDone struct {
	meta engine.SnapshotMeta
	err  error
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
		evs, props := n.d.evs[:0], n.d.props[:0]
		select {
		case <-n.stop:
			n.closeSnapshotFiles()
			if hs := n.d.pendingHS; hs != nil && !n.failed() {
				_ = n.logs.Write(raftlog.Batch{HardState: hs})
			}
			return
		case <-ticker.C:
			evs = append(evs, engine.Tick{})
		case m := <-inbound:
			evs = append(evs, engine.Receive{Msg: m})
		case p := <-n.proposals:
			props = append(props, p)
		case ev := <-n.events:
			evs = append(evs, ev)
		case sd := <-n.snapDone:
			evs = append(evs, n.snapshotFinished(sd))
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
			default:
				break drain
			}
		}
		if n.failed() {
			for _, p := range props {
				n.w.failProposal(p.ID, n.fatalErr())
			}
			n.d.evs, n.d.props = evs, props
			continue
		}
		var acts []engine.Action
		for _, ev := range evs {
			acts = append(acts, eng.Step(ev)...)
		}
		if len(props) > 0 {
			// Group commit: every queued proposal in one append.
			n.metrics.batchSizes.observe(float64(len(props)))
			acts = append(acts, eng.Step(engine.ProposeBatch{Proposals: props})...)
		}
		clear(evs)
		clear(props)
		n.d.evs, n.d.props = evs, props
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
	for i := 0; i < 4*n.cfg.Engine.ElectionTicks+64 && n.d.eng.Status().Role != engine.Leader; i++ {
		n.execute(n.d.eng.Step(engine.Tick{}))
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
// every request fails with err.
func (n *Node) setFatal(err error) {
	if n.fatal.CompareAndSwap(nil, &fatal{err}) {
		n.cfg.Logger.Error("storage failed; node stops", "node", n.cfg.ID, "err", err)
		n.w.failAll(err)
	}
}

// execute carries out actions in contract order (see engine.Action): the
// leader's MsgApps go out at once, the storage writes of the whole batch
// are made durable with one sync, then the other messages go out and
// committed entries go to the apply goroutine. A LogPersisted event for the
// written entries is stepped right after, and its actions executed the same
// way.
func (n *Node) execute(acts []engine.Action) {
	for round := 0; len(acts) > 0 && round < 64 && !n.failed(); round++ {
		var (
			b            raftlog.Batch
			dirty        bool
			early, late  []engine.Message
			apply        []applyItem
			termOrVote   bool
			lastEntry    engine.Entry
			wroteEntries bool
		)
		flush := func() {
			if !dirty {
				return
			}
			if b.HardState != nil && len(b.Entries) == 0 && b.TruncateFrom == 0 &&
				b.HardState.Term == n.d.durable.Term && b.HardState.Vote == n.d.durable.Vote {
				// Only the commit index changed. Its durability is not
				// needed for safety (a restarted node re-learns it), so it
				// rides along with the next write instead of costing a
				// sync of its own.
				n.d.pendingHS = b.HardState
				b, dirty = raftlog.Batch{}, false
				return
			}
			if b.HardState == nil && n.d.pendingHS != nil {
				b.HardState = n.d.pendingHS
			}
			n.d.pendingHS = nil
			start := time.Now()
			if err := n.logs.Write(b); err != nil {
				n.setFatal(err)
			}
			n.metrics.fsync.observe(time.Since(start).Seconds())
			if b.HardState != nil {
				n.d.durable = *b.HardState
			}
			b, dirty = raftlog.Batch{}, false
		}
		for _, a := range acts {
			switch a := a.(type) {
			case engine.PersistHardState:
				hs := a.HardState
				if hs.Term != n.d.durable.Term || hs.Vote != n.d.durable.Vote {
					termOrVote = true
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
				dirty, wroteEntries = true, true
				lastEntry = a.Entries[len(a.Entries)-1]
				n.noteConfigEntries(a.Entries)
			case engine.Send:
				if a.Msg.Type == engine.MsgApp && !termOrVote {
					early = append(early, a.Msg) // Raft thesis §10.2.1
				} else {
					late = append(late, a.Msg)
				}
			case engine.SendSnapshot:
				if m, ok := n.snapshotChunk(a); ok {
					late = append(late, m)
				}
			case engine.ApplyEntries:
				apply = append(apply, applyItem{entries: a.Entries})
			case engine.ProposalAccepted:
				n.w.accepted(a.ID, a.Term, a.Index)
			case engine.ProposalRejected:
				n.w.failProposal(a.ID, n.translate(a.Err, a.Leader))
			case engine.ReadReady:
				n.w.readDone(a.ID, a.Index, nil)
			case engine.ReadFailed:
				n.w.readDone(a.ID, 0, n.translate(a.Err, a.Leader))
			case engine.WriteSnapshotChunk:
				flush()
				n.writeSnapshotChunk(a)
			case engine.RestoreSnapshot:
				flush()
				if err := n.logs.ResetTo(a.Meta, a.KeepLog); err != nil {
					n.setFatal(err)
				}
				meta := a.Meta
				apply = append(apply, applyItem{restore: &meta})
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
			}
		}
		n.sendAll(early)
		flush()
		n.sendAll(late)
		for _, it := range apply {
			n.applyQ.push(it)
		}
		acts = nil
		if wroteEntries && !n.failed() {
			acts = n.d.eng.Step(engine.LogPersisted{Index: lastEntry.Index, Term: lastEntry.Term})
		}
	}
}

func (n *Node) sendAll(ms []engine.Message) {
	if n.net == nil {
		return
	}
	for _, m := range ms {
		n.net.Send(m)
	}
}

// noteConfigEntries records the addresses that membership changes carry.
func (n *Node) noteConfigEntries(es []engine.Entry) {
	for _, e := range es {
		if e.Type != engine.EntryConfig {
			continue
		}
		cc, _, err := engine.UnmarshalConfig(e.Data)
		if err != nil || cc.Addr == "" {
			continue
		}
		if n.addrs.set(cc.Node, cc.Addr) && n.net != nil && cc.Node != n.cfg.ID {
			n.net.SetPeer(cc.Node, cc.Addr)
		}
	}
}

// membershipChanged points the transport at the members of the new
// configuration.
func (n *Node) membershipChanged(m engine.Membership) {
	old := n.d.membership
	n.d.membership = m.Clone()
	n.cfg.Logger.Info("membership changed", "node", n.cfg.ID, "membership", m.String())
	if n.net == nil {
		return
	}
	for _, id := range m.Members() {
		if a := n.addrs.get(id); a != "" && id != n.cfg.ID {
			n.net.SetPeer(id, a)
		}
	}
	for _, id := range old.Members() {
		if !m.Contains(id) && id != n.cfg.ID {
			n.net.RemovePeer(id)
		}
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

// writeSnapshotChunk stores a chunk received from the leader. The same
// (index, term) always names the same bytes, so after a restart the engine
// may resend from offset 0 while the receiver resumes further on: the
// overlap is skipped.
func (n *Node) writeSnapshotChunk(a engine.WriteSnapshotChunk) {
	r := n.d.receiver
	if r == nil || n.d.receiverMeta.Index != a.Meta.Index || n.d.receiverMeta.Term != a.Meta.Term {
		if r != nil {
			r.Close()
		}
		var err error
		if r, err = n.snaps.Receive(a.Meta); err != nil {
			n.setFatal(err)
			return
		}
		n.d.receiver, n.d.receiverMeta = r, a.Meta
	}
	data, off := a.Data, a.Offset
	if have := r.Offset(); off < have {
		skip := min(have-off, uint64(len(data)))
		data, off = data[skip:], off+skip
	}
	if len(data) == 0 && !a.Done {
		return
	}
	if err := r.WriteAt(off, data, a.Done); err != nil {
		n.setFatal(err)
		return
	}
	if a.Done {
		r.Close()
		n.d.receiver = nil
	}
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

// snapshotFinished records a written snapshot in the log store and returns
// the event that tells the engine.
func (n *Node) snapshotFinished(sd snapDone) engine.Event {
	n.d.snapshotting = false
	if sd.err == nil {
		if err := n.logs.SetSnapshot(sd.meta); err != nil {
			sd.err = err
		}
	}
	for _, ch := range n.d.snapWaiters {
		ch <- sd // buffered 1
	}
	n.d.snapWaiters = nil
	if sd.err != nil {
		n.cfg.Logger.Warn("snapshot failed; will retry", "node", n.cfg.ID, "index", sd.meta.Index, "err", sd.err)
		return engine.SnapshotFailed{Index: sd.meta.Index, Err: sd.err}
	}
	n.cfg.Logger.Info("snapshot taken", "node", n.cfg.ID, "index", sd.meta.Index, "term", sd.meta.Term)
	return engine.SnapshotTaken{Meta: sd.meta}
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
			if err := n.logs.Compact(index); err != nil {
				n.cfg.Logger.Warn("log compaction failed", "node", n.cfg.ID, "index", index, "err", err)
			}
		}
	}
}
