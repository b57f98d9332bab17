package engine

import "slices"

// Reads (Raft thesis §6.4). A leader serves a linearizable read at a read
// index: its commit index when the read arrived (or, on a new leader, the
// commit index once its first entry commits), after a heartbeat round that
// started after the read arrived has been acknowledged by a majority, which
// proves no newer leader existed at that moment. Rounds are numbered; a
// follower echoes the number in its heartbeat answer, so a late answer to
// an old round can never confirm a newer one. Reads that arrive while a
// round is in flight share the next round.
//
// A round started for reads (sendReadRound) goes to a quorum, not to every
// follower: the voters that acknowledged the newest rounds, as many as make
// a majority with the leader, plus every follower that asked for a read in
// this round (its heartbeat carries the commit index its read waits for).
// The heartbeats of ticks still go to everyone and start rounds too, so a
// round whose recipient stopped answering is confirmed by the next tick's
// round at the latest, after which that recipient, its acknowledgements
// behind, is passed over. A majority acknowledging a round that started
// after the read arrived is all §6.4 asks for; in a three-node cluster this
// halves the messages, and the followers' and the leader's work, per round.
//
// The lease (opt-in, Config.LeaseTicks): when a round sent at tick t is
// acknowledged by a majority, each acknowledging voter reset its election
// timer no earlier than t and refuses votes for ElectionTicks of its own
// clock (inLease). With clock drift below ClockDriftTicks per election
// timeout, no other leader can be elected before t+ElectionTicks-
// ClockDriftTicks ≥ t+LeaseTicks (Config.Validate), so the leader may answer
// reads locally until t+LeaseTicks. A leadership transfer bypasses the
// voters' promise, so starting one ends the lease for the rest of the term.

// pendingRead is a read waiting at the leader for its round.
type pendingRead struct {
	id    uint64 // the host's read ID, or the requester's batch context
	from  NodeID // "" for a local read, else the follower that asked
	index uint64 // read index; 0 until the leader has committed in its term
	round uint64 // the round that must be acknowledged
	age   int    // ticks waited
}

// roundSent records when a read round was sent, for the lease.
type roundSent struct{ round, tick uint64 }

type readState struct {
	// Leader side.
	round      uint64 // newest round started (monotonic across terms)
	confirmed  uint64 // newest round acknowledged by a majority
	leaseUntil uint64 // tick until which lease reads are allowed
	sent       []roundSent
	queue      []pendingRead
	// to is scratch for sendReadRound: the recipients of a round.
	to []NodeID

	// Follower side: reads forwarded to the leader in batches. Batch
	// contexts are Config.Incarnation<<40 | 1, 2, ..., so that no two starts
	// of a node use the same numbers.
	batchBase    uint64
	batchSeq     uint64
	batch        uint64   // context of the batch in flight (0 if none)
	batchIDs     []uint64 // reads in the batch in flight
	batchElapsed int
	waiting      []uint64 // reads for the next batch
}

func (r *readState) init(incarnation uint64) {
	r.batchBase = incarnation << batchSeqBits
}

// batchSeqBits is the width of a follower's read batch sequence within one
// incarnation: the context is incarnation<<40 | sequence.
const batchSeqBits = 40

func (r *readState) pending() int { return len(r.queue) + len(r.batchIDs) + len(r.waiting) }

// resetLeader starts a new term's leadership: no round is confirmed and no
// lease is held.
func (r *readState) resetLeader() {
	r.confirmed = r.round
	r.leaseUntil = 0
	r.sent = r.sent[:0]
}

// startRound begins a new round at tick now and returns its number.
func (r *readState) startRound(now uint64) uint64 {
	r.round++
	if len(r.sent) < maxTrackedRounds {
		r.sent = append(r.sent, roundSent{r.round, now})
	}
	return r.round
}

// maxTrackedRounds bounds the rounds remembered for the lease; a round not
// remembered simply does not extend it.
const maxTrackedRounds = 1024

// read handles a Read event.
func (e *Engine) read(ev Read) {
	e.counters.ReadsStarted++
	fail := func(err error) {
		e.counters.ReadsFailed++
		e.emit(ReadFailed{ID: ev.ID, Err: err, Leader: e.leader})
	}
	if e.reads.pending() >= e.cfg.MaxPendingReads {
		fail(ErrBusy)
		return
	}
	switch {
	case e.role == Leader:
		e.enqueueRead(pendingRead{id: ev.ID})
	case e.leader == "":
		fail(ErrNoLeader)
	default:
		// Follower read: ask the leader for a read index (one message per
		// batch of reads).
		e.reads.waiting = append(e.reads.waiting, ev.ID)
		e.maybeSendReadBatch()
	}
}

// leaseValid reports whether the leader may answer lease reads locally.
func (e *Engine) leaseValid() bool {
	return e.role == Leader && e.cfg.LeaseTicks > 0 && !e.transferredInTerm && e.ticks < e.reads.leaseUntil
}

// enqueueRead queues a read for the next round, starting it unless one is
// already in flight (reads arriving meanwhile share the round after it).
func (e *Engine) enqueueRead(p pendingRead) {
	p.round = e.reads.round + 1
	if e.committedInTerm() {
		p.index = e.log.commit
	}
	e.reads.queue = append(e.reads.queue, p)
	if e.reads.confirmed == e.reads.round {
		e.sendReadRound()
	}
}

// sendReadRound starts a read round and sends it to a quorum (see above):
// the followers whose reads wait for it, then the voters with the newest
// acknowledgements (ties in membership order) until they and the leader
// are a majority of the voters.
func (e *Engine) sendReadRound() {
	round := e.reads.startRound(e.ticks)
	to := e.reads.to[:0]
	need := quorum(len(e.membership.Voters))
	if e.membership.IsVoter(e.id) {
		need--
	}
	for _, p := range e.reads.queue {
		if p.round == round && p.from != "" && e.progress[p.from] != nil && !slices.Contains(to, p.from) {
			to = append(to, p.from)
			if e.membership.IsVoter(p.from) {
				need--
			}
		}
	}
	for ; need > 0; need-- {
		var best NodeID
		var bestAck uint64
		for _, id := range e.membership.Voters {
			pr := e.progress[id]
			if id == e.id || pr == nil || slices.Contains(to, id) {
				continue
			}
			if best == "" || pr.readAck > bestAck {
				best, bestAck = id, pr.readAck
			}
		}
		if best == "" {
			break
		}
		to = append(to, best)
	}
	for id := range e.membership.All() {
		if id != e.id && slices.Contains(to, id) {
			pr := e.progress[id]
			// Clamped as in bcastHeartbeat: a follower never commits an
			// entry it has not verified.
			e.send(Message{Type: MsgHeartbeat, To: id, Commit: min(pr.match, e.log.commit), Context: round})
		}
	}
	clear(to)
	e.reads.to = to[:0]
	e.maybeConfirmReads()
}

// handleReadIndexRequest answers a follower's MsgReadIndex.
func (e *Engine) handleReadIndexRequest(m Message) {
	if e.role != Leader {
		e.send(Message{Type: MsgReadIndexResp, To: m.From, Context: m.Context, Reject: true})
		return
	}
	if !e.membership.Contains(m.From) || len(e.reads.queue) >= e.cfg.MaxPendingReads {
		e.send(Message{Type: MsgReadIndexResp, To: m.From, Context: m.Context, Reject: true})
		return
	}
	e.enqueueRead(pendingRead{id: m.Context, from: m.From})
}

// maybeConfirmReads releases reads whose round a majority acknowledged, and
// extends the lease.
func (e *Engine) maybeConfirmReads() {
	if e.role != Leader {
		return
	}
	acks := make([]uint64, 0, len(e.membership.Voters))
	for _, id := range e.membership.Voters {
		if id == e.id {
			acks = append(acks, e.reads.round)
		} else if pr := e.progress[id]; pr != nil {
			acks = append(acks, pr.readAck)
		} else {
			acks = append(acks, 0)
		}
	}
	if c := majorityIndex(acks); c > e.reads.confirmed {
		e.reads.confirmed = c
		i := 0
		for i < len(e.reads.sent) && e.reads.sent[i].round <= c {
			if e.reads.sent[i].round == c && e.cfg.LeaseTicks > 0 && !e.transferredInTerm {
				e.reads.leaseUntil = max(e.reads.leaseUntil, e.reads.sent[i].tick+uint64(e.cfg.LeaseTicks))
			}
			i++
		}
		e.reads.sent = append(e.reads.sent[:0], e.reads.sent[i:]...)
	}
	e.releaseReads()
}

// releaseReads answers every queued read whose round is confirmed, once the
// leader knows the commit index of its term.
func (e *Engine) releaseReads() {
	if !e.committedInTerm() {
		return
	}
	q := e.reads.queue
	n := 0
	for _, p := range q {
		if p.index == 0 {
			p.index = e.log.commit
		}
		if p.round > e.reads.confirmed {
			q[n] = p
			n++
			continue
		}
		if p.from == "" {
			e.counters.ReadsCompleted++
			e.emit(ReadReady{ID: p.id, Index: p.index})
		} else {
			e.send(Message{Type: MsgReadIndexResp, To: p.from, Context: p.id, Index: p.index})
		}
	}
	clear(q[n:])
	e.reads.queue = q[:n]
	// Reads that arrived during the last round wait for the next one.
	if n > 0 && q[n-1].round > e.reads.round {
		e.sendReadRound()
	}
}

// failLeaderReads fails every read queued at the leader.
func (e *Engine) failLeaderReads(err error) {
	for _, p := range e.reads.queue {
		if p.from == "" {
			e.counters.ReadsFailed++
			e.emit(ReadFailed{ID: p.id, Err: err})
		} else {
			e.send(Message{Type: MsgReadIndexResp, To: p.from, Context: p.id, Reject: true})
		}
	}
	e.reads.queue = nil
	e.reads.leaseUntil = 0
}

// maybeSendReadBatch forwards the waiting follower reads to the leader if no
// batch is in flight.
func (e *Engine) maybeSendReadBatch() {
	r := &e.reads
	if r.batchIDs != nil || len(r.waiting) == 0 || e.leader == "" {
		return
	}
	r.batchSeq = (r.batchSeq + 1) & (1<<batchSeqBits - 1)
	if r.batchSeq == 0 {
		r.batchSeq = 1 // 0 means "no batch"
	}
	r.batch = r.batchBase | r.batchSeq
	r.batchIDs, r.waiting, r.batchElapsed = r.waiting, nil, 0
	e.send(Message{Type: MsgReadIndex, To: e.leader, Context: r.batch})
}

// handleReadIndexResponse releases (or fails) the batch in flight.
func (e *Engine) handleReadIndexResponse(m Message) {
	r := &e.reads
	if r.batchIDs == nil || m.Context != r.batch || m.From != e.leader {
		return
	}
	ids := r.batchIDs
	r.batchIDs, r.batch = nil, 0
	for _, id := range ids {
		if m.Reject {
			e.counters.ReadsFailed++
			e.emit(ReadFailed{ID: id, Err: ErrNotLeader, Leader: e.leader})
		} else {
			e.counters.ReadsCompleted++
			e.emit(ReadReady{ID: id, Index: m.Index})
		}
	}
	e.maybeSendReadBatch()
}

// failFollowerReads fails every read forwarded or waiting to be forwarded.
func (e *Engine) failFollowerReads(err error) {
	r := &e.reads
	for _, ids := range [][]uint64{r.batchIDs, r.waiting} {
		for _, id := range ids {
			e.counters.ReadsFailed++
			e.emit(ReadFailed{ID: id, Err: err, Leader: e.leader})
		}
	}
	r.batchIDs, r.waiting, r.batch = nil, nil, 0
}

// tickFollowerReads times out a forwarded batch that got no answer.
func (e *Engine) tickFollowerReads() {
	r := &e.reads
	if r.batchIDs == nil {
		return
	}
	r.batchElapsed++
	if r.batchElapsed >= e.cfg.ElectionTicks {
		ids := r.batchIDs
		r.batchIDs, r.batch = nil, 0
		for _, id := range ids {
			e.counters.ReadsFailed++
			e.emit(ReadFailed{ID: id, Err: ErrReadTimeout, Leader: e.leader})
		}
		e.maybeSendReadBatch()
	}
}

// tickTimeouts fails leader reads that waited too long for a round.
func (r *readState) tickTimeouts(e *Engine) {
	if e.role != Leader || len(r.queue) == 0 {
		return
	}
	n := 0
	for _, p := range r.queue {
		p.age++
		if p.age <= 2*e.cfg.ElectionTicks {
			r.queue[n] = p
			n++
			continue
		}
		if p.from == "" {
			e.counters.ReadsFailed++
			e.emit(ReadFailed{ID: p.id, Err: ErrReadTimeout})
		} else {
			e.send(Message{Type: MsgReadIndexResp, To: p.from, Context: p.id, Reject: true})
		}
	}
	clear(r.queue[n:])
	r.queue = r.queue[:n]
}

// LeaseState is what a host needs to serve lease reads without stepping the
// engine: with it, a host maps the tick the lease was granted at to its own
// clock and answers reads until the deadline TickClock derives from it
// (Config.LeaseTicks-1 tick intervals later), reading at Commit (see
// Engine.Lease).
type LeaseState struct {
	// Held says this node leads, has committed an entry of its term and
	// holds a lease: a majority acknowledged a heartbeat round sent at tick
	// Since, and no leadership transfer started in this term.
	Held bool
	// Since is the tick (counted by Now) at which the round that granted
	// the lease was sent. The lease ends Config.LeaseTicks ticks later.
	Since uint64
	// Now is the number of Ticks stepped so far.
	Now uint64
	// Commit is the commit index: the read index of a lease read.
	Commit uint64
}

// Lease returns the state of the leader's lease. A host that serves lease
// reads from it must time the lease with a TickClock, from when it stepped
// tick Since (a
// round sent at that tick left no earlier), so that a host whose ticks
// are late never stretches the lease in real time, and must take it after
// each Step and before it performs that step's actions, so that no message
// or applied entry of a newer commit is visible before the Commit it
// serves reads at.
func (e *Engine) Lease() LeaseState {
	s := LeaseState{Now: e.ticks, Commit: e.log.commit}
	if e.leaseValid() && e.committedInTerm() {
		s.Held, s.Since = true, e.reads.leaseUntil-uint64(e.cfg.LeaseTicks)
	}
	return s
}
