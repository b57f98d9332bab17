package sim

import (
	"errors"
	"fmt"
	"slices"

	"github.com/yggrdb/yggr/engine"
)

// heldSend is a message waiting until the writes issued before it are
// durable (need ≤ disk.synced).
type heldSend struct {
	msg  engine.Message
	need uint64
	// logNeed is the number of the write that put in the log the entry the
	// message vouches for (a MsgAppResp's match, a MsgVote's last entry);
	// logBad says the log did not hold that entry when the Send was done.
	logNeed uint64
	logBad  string
}

type dueEvent struct {
	due int
	ev  engine.Event
}

// host is one simulated node: an engine, a disk, a state machine, and the
// client bookkeeping of requests it accepted.
type host struct {
	id          engine.NodeID
	initial     bool // a bootstrap voter
	eng         Engine
	up          bool
	everStarted bool
	// incarnation is the engine's Config.Incarnation of the current
	// process: drawn anew at every start, never equal to the previous one.
	incarnation uint64
	restartAt   int
	disk        disk
	sm          *stateMachine

	held    []heldSend
	inbox   []engine.Event
	feeding bool
	snapDue []dueEvent

	// Cached from RoleChanged.
	role   engine.Role
	term   uint64
	leader engine.NodeID

	// Checker state for this lifetime.
	lastTerm, lastCommit uint64
	termAtCrash          uint64
	recovering           bool
	configIdx            []uint64 // indexes of config entries in the current log

	rate, clock float64
	// local is the host's own clock (real time at its rate, running while
	// paused), in ticks; tickAt says when recent ticks were stepped on it
	// (HostLease).
	local       float64
	tickAt      engine.TickClock[float64]
	fsyncP      float64
	slowUntil   int
	pausedUntil int

	// Client bookkeeping, lost on a crash.
	writes  map[uint64]*writeOp // awaiting ProposalAccepted/Rejected
	confs   map[uint64]*confOp  // awaiting ProposalAccepted/Rejected
	waiters map[uint64][]waiter // accepted, awaiting apply at Index
	reads   map[uint64]*readOp  // awaiting ReadReady/ReadFailed
	ready   []*readOp           // ReadReady, awaiting apply
}

// waiter is a reply waiter keyed by (term, index), as the action contract
// requires.
type waiter struct {
	term  uint64
	write *writeOp
	conf  *confOp
}

// hostLease returns the read index of a lease read served by h itself:
// the engine's commit index, if the engine holds a lease (Engine.Lease)
// and, with Options.HostLease, h's clock is still before its deadline by
// the engine's rule (engine.TickClock, the runtime's too: a tick is 1 on
// h's clock). Without HostLease the lease is timed in the engine's ticks,
// which keep pace with the simulated time when no process pauses.
func (w *world) hostLease(h *host) (uint64, bool) {
	l := h.eng.Lease()
	if !l.Held {
		return 0, false
	}
	if !w.opts.HostLease || w.opts.leaseByTicks {
		return l.Commit, l.Now < l.Since+uint64(w.cfg.LeaseTicks)
	}
	until, ok := h.tickAt.LeaseDeadline(l, w.cfg.LeaseTicks, 1)
	return l.Commit, ok && h.local < until
}

func (h *host) reset(eng Engine) {
	h.eng, h.up, h.everStarted = eng, true, true
	h.tickAt = engine.TickClock[float64]{}
	h.role, h.term, h.leader = engine.Follower, 0, ""
	h.held, h.inbox, h.snapDue = nil, nil, nil
	h.writes, h.confs = map[uint64]*writeOp{}, map[uint64]*confOp{}
	h.waiters, h.reads, h.ready = map[uint64][]waiter{}, map[uint64]*readOp{}, nil
	h.configIdx = h.configIdx[:0]
	for _, e := range h.disk.cur.entries {
		if e.Type == engine.EntryConfig {
			h.configIdx = append(h.configIdx, e.Index)
		}
	}
}

func (w *world) write(h *host, op diskOp) bool {
	if err := h.disk.write(op); err != nil {
		w.violate("host contract", "%s: %v", h.id, err)
		return false
	}
	return true
}

// execute carries out one action of h's engine per the action contract.
func (w *world) execute(h *host, a engine.Action) {
	switch a := a.(type) {
	case engine.PersistHardState:
		old := h.disk.cur.hs
		if a.HardState.Term < old.Term {
			w.violate("term monotonic", "%s: PersistHardState term %d after %d", h.id, a.HardState.Term, old.Term)
			return
		}
		if a.HardState.Term == old.Term && old.Vote != "" && a.HardState.Vote != old.Vote {
			w.violate("election safety", "%s: vote in term %d changed from %s to %s", h.id, old.Term, old.Vote, a.HardState.Vote)
			return
		}
		w.write(h, diskOp{kind: opHardState, hs: a.HardState})
	case engine.TruncateLog:
		if w.write(h, diskOp{kind: opTruncate, index: a.Index}) {
			for len(h.configIdx) > 0 && h.configIdx[len(h.configIdx)-1] >= a.Index {
				h.configIdx = h.configIdx[:len(h.configIdx)-1]
			}
		}
	case engine.PersistEntries:
		ents := copyEntries(a.Entries)
		if w.write(h, diskOp{kind: opAppend, entries: ents}) {
			w.chk.onAppend(w, h, ents)
			for _, e := range ents {
				if e.Type == engine.EntryConfig {
					h.configIdx = append(h.configIdx, e.Index)
				}
			}
		}
	case engine.Send:
		m := copyMessage(a.Msg)
		if a.FillThrough != 0 && !w.fill(h, &m, a.FillThrough) {
			return
		}
		w.send(h, m)
	case engine.SendSnapshot:
		m := copyMessage(a.Msg)
		data, ok := h.disk.readSnapshot(m.Snapshot.Index, m.Snapshot.Term, w.step)
		if !ok || m.Offset > uint64(len(data)) || w.rng.IntN(50) == 0 {
			h.inbox = append(h.inbox, engine.SnapshotChunkFailed{To: m.To})
			return
		}
		end := min(uint64(len(data)), m.Offset+max(a.MaxBytes, 1))
		m.Data = slices.Clone(data[m.Offset:end])
		m.Done = end == uint64(len(data))
		w.send(h, m)
	case engine.ApplyEntries:
		for _, e := range a.Entries {
			if w.fail != nil {
				return
			}
			w.applyEntry(h, e)
		}
	case engine.ProposalAccepted:
		w.cl.accepted(w, h, a)
	case engine.ProposalRejected:
		w.cl.rejected(w, h, a)
	case engine.ReadReady:
		w.cl.readReady(w, h, a)
	case engine.ReadFailed:
		w.cl.readFailed(w, h, a)
	case engine.WriteSnapshotChunk:
		a.Data = slices.Clone(a.Data)
		a.Meta = cloneMeta(a.Meta)
		w.write(h, diskOp{kind: opChunk, chunk: a})
	case engine.RestoreSnapshot:
		a.Meta = cloneMeta(a.Meta)
		if !w.write(h, diskOp{kind: opRestore, restore: a}) {
			return
		}
		img, err := decodeSnapshot(h.disk.cur.snapData)
		if err != nil {
			w.violate("host contract", "%s: RestoreSnapshot %s: %v", h.id, a.Meta, err)
			return
		}
		w.chk.onRestore(w, h, a.Meta, img)
		h.sm.restore(img, a.Meta.Membership.Clone())
		h.configIdx = slices.DeleteFunc(h.configIdx, func(i uint64) bool { return i <= a.Meta.Index || !a.KeepLog })
		w.cl.restored(w, h)
		w.stats.Installs++
	case engine.CompactLog:
		w.write(h, diskOp{kind: opCompact, index: a.Index})
		h.configIdx = slices.DeleteFunc(h.configIdx, func(i uint64) bool { return i <= a.Index })
	case engine.SnapshotHint:
		w.takeSnapshot(h)
	case engine.RoleChanged:
		h.role, h.term, h.leader = a.Role, a.Term, a.Leader
		w.chk.onRoleChanged(w, h, a)
		if a.Role == engine.Leader {
			w.cl.leaderElected(w, h)
		}
	case engine.MembershipChanged:
	default:
		w.violate("host contract", "%s: unknown action %T", h.id, a)
	}
}

// send sends m at once if the contract allows (a leader's MsgApp), else
// holds it until every write issued before it is durable.
//
// fill reads the data of m's entries up to through back from h's log, as
// Send.FillThrough asks; the engine released it, so the log must hold those
// very entries durably.
func (w *world) fill(h *host, m *engine.Message, through uint64) bool {
	for i := range m.Entries {
		e := &m.Entries[i]
		if e.Index > through {
			break
		}
		t, ok := h.disk.cur.term(e.Index)
		seq, _ := h.disk.cur.writtenBy(e.Index)
		if !ok || t != e.Term || e.Index <= h.disk.cur.floorIndex || seq > h.disk.synced {
			w.violate("fill from the log", "%s asked to fill %s, which its durable log does not hold", h.id, e)
			return false
		}
		e.Data = slices.Clone(h.disk.cur.entries[e.Index-h.disk.cur.floorIndex-1].Data)
		w.stats.Filled++
	}
	return true
}

func (w *world) send(h *host, m engine.Message) {
	if m.Type == engine.MsgSnapResp && m.Offset > m.Index {
		w.stats.ChunkGaps++
	}
	s := heldSend{msg: m, need: h.disk.issued}
	cur := &h.disk.cur
	switch {
	case m.Type == engine.MsgAppResp && !m.Reject:
		seq, ok := cur.writtenBy(m.Index)
		if !ok {
			s.logBad = fmt.Sprintf("acknowledges index %d, which its log (%d..%d) does not hold", m.Index, cur.floorIndex+1, cur.lastIndex())
		}
		s.logNeed = seq
	case m.Type == engine.MsgVote:
		seq, ok := cur.writtenBy(m.LastIndex)
		t, tok := cur.term(m.LastIndex)
		if m.LastIndex <= cur.floorIndex {
			t, tok = m.LastTerm, true
		}
		if !ok || !tok || t != m.LastTerm {
			s.logBad = fmt.Sprintf("claims last entry %d/%d, which its log (%d..%d) does not hold", m.LastTerm, m.LastIndex, cur.floorIndex+1, cur.lastIndex())
		}
		s.logNeed = seq
	}
	if s.need <= h.disk.synced || (m.Type == engine.MsgApp && w.rng.IntN(4) != 0) {
		w.transmit(h, s)
		return
	}
	h.held = append(h.held, s)
}

func (w *world) applyEntry(h *host, e engine.Entry) {
	if err := h.sm.apply(e); err != nil {
		w.violate("apply order", "%s: %v", h.id, err)
		return
	}
	w.chk.onApply(w, h, e)
	w.cl.applied(w, h, e)
}

// takeSnapshot answers a SnapshotHint a little later: SnapshotTaken at the
// applied index (written durably first), or sometimes SnapshotFailed.
func (w *world) takeSnapshot(h *host) {
	sm := h.sm
	due := w.step + w.rng.IntN(3)
	if sm.applied == 0 || w.rng.IntN(5) == 0 {
		h.snapDue = append(h.snapDue, dueEvent{due: due, ev: engine.SnapshotFailed{Index: sm.applied, Err: errSnapshotFailed}})
		return
	}
	data := sm.encode()
	meta := engine.SnapshotMeta{Index: sm.applied, Term: sm.appliedTerm, Membership: sm.membership.Clone(), Size: uint64(len(data))}
	h.disk.publishSnapshot(meta, data, w.step)
	w.chk.onSnapshot(w, h, meta, sm.hash)
	w.stats.Snapshots++
	h.snapDue = append(h.snapDue, dueEvent{due: due, ev: engine.SnapshotTaken{Meta: cloneMeta(meta)}})
}

var errSnapshotFailed = errors.New("sim: simulated snapshot failure")
