package sim

import (
	"fmt"
	"slices"
	"sort"

	"github.com/yggrdb/yggr/engine"
)

type opState uint8

const (
	opPending opState = iota
	opAccepted
	opAcked
	opFailed
)

// writeOp is a client's "put key val"; every attempt has its own value, so
// a value names one proposal.
type writeOp struct {
	id          uint64
	key, val    string
	node        engine.NodeID
	start       uint64 // seq of the Propose step
	state       opState
	term, index uint64
	attempt     int
}

type confOp struct {
	id          uint64
	change      engine.ConfChange
	state       opState
	term, index uint64
}

type readOp struct {
	id      uint64
	key     string
	node    engine.NodeID
	start   uint64 // seq of the Read step
	index   uint64
	attempt int
	lease   bool // asked as a lease read
	// hostLease: served by the host from Engine.Lease, without a round.
	hostLease bool
}

// keyHist is the real-time history of one key: at seq, some client knew
// that the write at index (or a later one) had taken effect (an
// acknowledged write, or a completed read that observed it).
type keyHist struct {
	seq    []uint64
	maxIdx []uint64
}

func (k *keyHist) add(seq, idx uint64) {
	if n := len(k.maxIdx); n > 0 {
		idx = max(idx, k.maxIdx[n-1])
	}
	k.seq = append(k.seq, seq)
	k.maxIdx = append(k.maxIdx, idx)
}

// floorBefore is the highest write index known to have taken effect before
// seq: a read that starts at seq must return that write or a later one.
func (k *keyHist) floorBefore(seq uint64) uint64 {
	i := sort.Search(len(k.seq), func(i int) bool { return k.seq[i] >= seq })
	if i == 0 {
		return 0
	}
	return k.maxIdx[i-1]
}

type retry struct {
	due     int
	read    bool
	key     string
	node    engine.NodeID
	attempt int
}

type transferOp struct {
	to     engine.NodeID
	term   uint64
	start  int
	active bool
}

// clients is the workload and the client-visible linearizability checker:
// each key is a register, writes are ordered by their log index, and a
// read must return a write at least as recent as everything acknowledged
// or observed before the read started.
type clients struct {
	nextID     uint64
	keys       []string
	valueIndex map[string]uint64 // value → index it was first applied at
	failed     map[string]uint64 // value of a failed proposal → its id
	hist       map[string]*keyHist
	retries    []retry
	leaderHint engine.NodeID
	admin      bool // issue membership changes and transfers
	quiet      bool // issue no writes
	transfer   transferOp

	// Progress since markSeq, for the liveness phase.
	markSeq       uint64
	ackedSinceMk  int
	servedSinceMk int
	transfersDone int
}

func (c *clients) init() {
	c.keys = []string{"a", "b", "c", "d", "e", "f"}
	c.valueIndex = map[string]uint64{}
	c.failed = map[string]uint64{}
	c.hist = map[string]*keyHist{}
	for _, k := range c.keys {
		c.hist[k] = &keyHist{}
	}
	c.admin = true
}

func (c *clients) id() uint64 { c.nextID++; return c.nextID }

// pick returns the node a client talks to: usually the last leader it
// heard of, sometimes any node.
func (c *clients) pick(w *world) *host {
	if h := w.byID[c.leaderHint]; h != nil && h.up && h.pausedUntil <= w.step && w.rng.IntN(5) != 0 {
		return h
	}
	up := slices.DeleteFunc(w.upHosts(), func(h *host) bool { return h.pausedUntil > w.step })
	if len(up) == 0 {
		return nil
	}
	return up[w.rng.IntN(len(up))]
}

// generate issues this tick's client operations.
func (c *clients) generate(w *world) {
	r := w.rng
	keep := c.retries[:0]
	var due []retry
	for _, rt := range c.retries {
		if rt.due <= w.step {
			due = append(due, rt)
		} else {
			keep = append(keep, rt)
		}
	}
	c.retries = keep
	for _, rt := range due {
		h := w.byID[rt.node]
		if h == nil || !h.up || h.pausedUntil > w.step {
			continue
		}
		if rt.read {
			c.read(w, h, rt.key, rt.attempt)
		} else if !c.quiet {
			c.write(w, h, []string{rt.key}, rt.attempt)
		}
	}
	if r.Float64() < 0.35 && !c.quiet {
		if h := c.pick(w); h != nil {
			c.write(w, h, []string{c.keys[r.IntN(len(c.keys))]}, 0)
		}
	}
	if r.Float64() < 0.05 && !c.quiet {
		if h := c.pick(w); h != nil {
			n := 2 + r.IntN(3)
			ks := make([]string, n)
			for i := range ks {
				ks[i] = c.keys[r.IntN(len(c.keys))]
			}
			c.write(w, h, ks, 0)
		}
	}
	if r.Float64() < 0.3 {
		h := c.pick(w)
		if up := w.upHosts(); r.IntN(2) == 0 && len(up) > 0 {
			h = up[r.IntN(len(up))] // follower reads
		}
		if h != nil && h.pausedUntil <= w.step {
			c.read(w, h, c.keys[r.IntN(len(c.keys))], 0)
		}
	}
	if w.opts.HostLease {
		// A client request that waited on a paused process is served
		// when it resumes, before the network backlog.
		for _, h := range w.hosts {
			if h.up && h.pausedUntil == w.step && r.IntN(2) == 0 {
				c.read(w, h, c.keys[r.IntN(len(c.keys))], 0)
			}
		}
	}
	if c.admin && r.Float64() < 0.012 {
		c.changeMembership(w)
	}
	if c.admin && r.Float64() < 0.006 {
		c.startTransfer(w, "")
	}
}

func (c *clients) write(w *world, h *host, keys []string, attempt int) {
	ops := make([]*writeOp, len(keys))
	for i, k := range keys {
		id := c.id()
		ops[i] = &writeOp{id: id, key: k, val: fmt.Sprintf("v%d", id), node: h.id, start: w.seq + 1, attempt: attempt}
		h.writes[id] = ops[i]
	}
	if len(ops) == 1 {
		w.feed(h, engine.Propose{ID: ops[0].id, Data: putCommand(ops[0].key, ops[0].val)})
		return
	}
	ps := make([]engine.Proposal, len(ops))
	for i, op := range ops {
		ps[i] = engine.Proposal{ID: op.id, Data: putCommand(op.key, op.val)}
	}
	w.feed(h, engine.ProposeBatch{Proposals: ps})
}

func (c *clients) read(w *world, h *host, key string, attempt int) {
	lease := w.cfg.LeaseTicks > 0 && w.rng.IntN(2) == 0
	op := &readOp{id: c.id(), key: key, node: h.id, start: w.seq + 1, attempt: attempt, lease: lease}
	if lease {
		// The host serves it from Engine.Lease when it holds a lease (the
		// engine has no lease-read event), else asks for a read index.
		if index, ok := w.hostLease(h); ok {
			op.index, op.hostLease = index, true
			if h.sm.applied >= index {
				c.serve(w, h, op)
			} else {
				h.ready = append(h.ready, op)
			}
			return
		}
	}
	h.reads[op.id] = op
	w.feed(h, engine.Read{ID: op.id})
}

func (c *clients) accepted(w *world, h *host, a engine.ProposalAccepted) {
	if op := h.writes[a.ID]; op != nil {
		delete(h.writes, a.ID)
		op.state, op.term, op.index = opAccepted, a.Term, a.Index
		c.wait(w, h, waiter{term: a.Term, write: op}, a.Index)
		return
	}
	if op := h.confs[a.ID]; op != nil {
		delete(h.confs, a.ID)
		op.state, op.term, op.index = opAccepted, a.Term, a.Index
		c.wait(w, h, waiter{term: a.Term, conf: op}, a.Index)
		return
	}
	w.violate("client", "%s accepts proposal %d at %d/%d, which is not pending there", h.id, a.ID, a.Term, a.Index)
}

func (c *clients) wait(w *world, h *host, wt waiter, index uint64) {
	if index <= h.sm.applied {
		w.violate("client", "%s accepts a proposal at %d/%d but has applied %d already", h.id, wt.term, index, h.sm.applied)
		return
	}
	h.waiters[index] = append(h.waiters[index], wt)
}

func (c *clients) rejected(w *world, h *host, a engine.ProposalRejected) {
	if op := h.writes[a.ID]; op != nil {
		delete(h.writes, a.ID)
		c.fail(w, op)
		if a.Leader != "" && a.Leader != h.id && op.attempt < 3 {
			c.retries = append(c.retries, retry{due: w.step + 1, key: op.key, node: a.Leader, attempt: op.attempt + 1})
		}
		if a.Leader != "" {
			c.leaderHint = a.Leader
		}
		return
	}
	if op := h.confs[a.ID]; op != nil {
		delete(h.confs, a.ID)
		op.state = opFailed
		return
	}
	w.violate("client", "%s rejects proposal %d, which is not pending there", h.id, a.ID)
}

// fail marks a write failed: its value must never be applied.
func (c *clients) fail(w *world, op *writeOp) {
	op.state = opFailed
	c.failed[op.val] = op.id
	if i, ok := c.valueIndex[op.val]; ok {
		w.violate("linearizability", "proposal %d (%s=%s) was reported failed but was applied at %d", op.id, op.key, op.val, i)
	}
}

// applied settles the waiters at e.Index on h, by (term, index).
func (c *clients) applied(w *world, h *host, e engine.Entry) {
	if e.Type == engine.EntryNormal {
		if _, val, ok := parsePut(e.Data); ok {
			if _, seen := c.valueIndex[val]; !seen {
				c.valueIndex[val] = e.Index
			}
			if id, bad := c.failed[val]; bad {
				w.violate("linearizability", "%s applies %s holding %q of proposal %d, which was reported failed", h.id, e, val, id)
				return
			}
		}
	}
	ws := h.waiters[e.Index]
	delete(h.waiters, e.Index)
	for _, wt := range ws {
		c.settle(w, h, wt, e.Index, e.Term, entryHash(e), e)
	}
}

// settle decides a waiter from the entry that took its index.
func (c *clients) settle(w *world, h *host, wt waiter, index, term, hash uint64, e engine.Entry) {
	if wt.write != nil {
		op := wt.write
		if term != wt.term {
			c.fail(w, op)
			return
		}
		want := entryHash(engine.Entry{Term: term, Index: index, Type: engine.EntryNormal, Data: putCommand(op.key, op.val)})
		if hash != want {
			w.violate("linearizability", "%s: proposal %d (%s=%s) accepted at %d/%d, but %d/%d holds another command %q", h.id, op.id, op.key, op.val, term, index, term, index, e.Data)
			return
		}
		op.state = opAcked
		c.hist[op.key].add(w.seq, index)
		w.stats.WritesAcked++
		if op.start > c.markSeq {
			c.ackedSinceMk++
		}
		return
	}
	op := wt.conf
	if term != wt.term {
		op.state = opFailed
		return
	}
	ch, _, err := engine.UnmarshalConfig(e.Data)
	if e.Type != engine.EntryConfig || err != nil || ch.Op != op.change.Op || ch.Node != op.change.Node {
		w.violate("linearizability", "%s: membership change %d (%s) accepted at %d/%d, but %s holds another entry", h.id, op.id, op.change, term, index, e)
		return
	}
	op.state = opAcked
	w.stats.ConfChanges++
}

// restored settles the waiters a snapshot skipped over, from what other
// nodes applied at those indexes.
func (c *clients) restored(w *world, h *host) {
	idx := make([]uint64, 0, len(h.waiters))
	for i := range h.waiters {
		if i <= h.sm.applied {
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	for _, i := range idx {
		ws := h.waiters[i]
		delete(h.waiters, i)
		if i >= uint64(len(w.chk.applied)) || !w.chk.applied[i].valid {
			continue // unknown: the outcome stays indeterminate
		}
		rec := w.chk.applied[i]
		for _, wt := range ws {
			if wt.conf != nil && rec.term == wt.term {
				wt.conf.state = opAcked
				continue
			}
			c.settle(w, h, wt, i, rec.term, rec.hash, engine.Entry{Term: rec.term, Index: i})
		}
	}
}

// hostDown forgets h's pending requests: their outcome is indeterminate.
func (c *clients) hostDown(w *world, h *host) {
	h.writes, h.confs, h.waiters, h.reads, h.ready = nil, nil, nil, nil, nil
}

func (c *clients) readReady(w *world, h *host, a engine.ReadReady) {
	op := h.reads[a.ID]
	if op == nil {
		w.violate("client", "%s answers read %d, which is not pending there", h.id, a.ID)
		return
	}
	delete(h.reads, a.ID)
	op.index = a.Index
	if h.sm.applied >= a.Index {
		c.serve(w, h, op)
		return
	}
	h.ready = append(h.ready, op)
}

func (c *clients) readFailed(w *world, h *host, a engine.ReadFailed) {
	op := h.reads[a.ID]
	if op == nil {
		w.violate("client", "%s fails read %d, which is not pending there", h.id, a.ID)
		return
	}
	delete(h.reads, a.ID)
	if a.Leader != "" && a.Leader != h.id && op.attempt < 3 {
		c.retries = append(c.retries, retry{due: w.step + 1, read: true, key: op.key, node: a.Leader, attempt: op.attempt + 1})
	}
}

// serveReads serves the reads whose index h has now applied.
func (c *clients) serveReads(w *world) {
	for _, h := range w.hosts {
		if !h.up || len(h.ready) == 0 {
			continue
		}
		keep := h.ready[:0]
		for _, op := range h.ready {
			if h.sm.applied >= op.index {
				c.serve(w, h, op)
			} else {
				keep = append(keep, op)
			}
		}
		h.ready = keep
	}
}

// serve completes a read from h's state machine and checks it against the
// real-time history of its key.
func (c *clients) serve(w *world, h *host, op *readOp) {
	val := h.sm.kv[op.key]
	var idx uint64
	if val != "" {
		i, ok := c.valueIndex[val]
		if !ok {
			w.violate("linearizability", "%s: read %d of %s returns %q, which was never applied", h.id, op.id, op.key, val)
			return
		}
		idx = i
	}
	w.seq++
	if floor := c.hist[op.key].floorBefore(op.start); idx < floor {
		w.violate("linearizability", "%s: stale read %d of %s (lease %v, read index %d, applied %d) returns the write at %d, but the write at %d was acknowledged or observed before the read started", h.id, op.id, op.key, op.lease, op.index, h.sm.applied, idx, floor)
		return
	}
	c.hist[op.key].add(w.seq, idx)
	w.stats.ReadsServed++
	if h.role != engine.Leader {
		w.stats.ReadsFollower++
	} else if op.lease {
		w.stats.ReadsLease++
	}
	if op.hostLease {
		w.stats.ReadsHostLease++
	}
	if op.start > c.markSeq {
		c.servedSinceMk++
	}
}

func (c *clients) leaderElected(w *world, h *host) {
	c.leaderHint = h.id
	if c.transfer.active && c.transfer.to == h.id && h.term > c.transfer.term {
		c.transfer.active = false
		c.transfersDone++
		w.stats.Transfers++
	}
}

// startTransfer asks the current leader to hand leadership to to (a
// random voter if empty).
func (c *clients) startTransfer(w *world, to engine.NodeID) {
	l := w.leader()
	if l == nil {
		return
	}
	st := l.eng.Status()
	if to == "" {
		var cands []engine.NodeID
		for _, id := range st.Membership.Voters {
			if h := w.byID[id]; id != l.id && h != nil && h.up {
				cands = append(cands, id)
			}
		}
		if len(cands) == 0 {
			return
		}
		to = cands[w.rng.IntN(len(cands))]
	}
	c.transfer = transferOp{to: to, term: st.Term, start: w.step, active: true}
	w.feed(l, engine.TransferLeadership{To: to})
}

// changeMembership proposes one single-server change at the leader: add a
// spare node as a learner (or directly as a voter), promote a learner,
// remove a member, or re-add a removed one.
func (c *clients) changeMembership(w *world) {
	l := w.leader()
	if l == nil {
		return
	}
	st := l.eng.Status()
	m := st.Membership
	var outside []*host
	for _, h := range w.hosts {
		if !m.Contains(h.id) {
			outside = append(outside, h)
		}
	}
	var ch engine.ConfChange
	r := w.rng
	switch k := r.IntN(4); {
	case k == 0 && len(outside) > 0:
		ch = engine.ConfChange{Op: engine.ConfAddLearner, Node: outside[r.IntN(len(outside))].id}
		if r.IntN(5) == 0 {
			ch.Op = engine.ConfAddVoter
		}
	case k == 1 && len(m.Learners) > 0:
		ch = engine.ConfChange{Op: engine.ConfPromote, Node: m.Learners[r.IntN(len(m.Learners))]}
	case k == 2 && len(m.Learners) > 0:
		ch = engine.ConfChange{Op: engine.ConfRemove, Node: m.Learners[r.IntN(len(m.Learners))]}
	case k == 3 && len(m.Voters) > 3:
		ch = engine.ConfChange{Op: engine.ConfRemove, Node: m.Voters[r.IntN(len(m.Voters))]}
	default:
		return
	}
	ch.Addr = "sim:" + string(ch.Node)
	if h := w.byID[ch.Node]; h != nil && (ch.Op == engine.ConfAddLearner || ch.Op == engine.ConfAddVoter) && h.up && !st.PendingConfig && r.IntN(2) == 0 {
		// Re-add with a fresh disk: safe only because the node's removal
		// (or absence) is committed.
		w.wipe(h)
	}
	op := &confOp{id: c.id(), change: ch}
	l.confs[op.id] = op
	w.feed(l, engine.ChangeMembership{ID: op.id, Change: ch})
}
