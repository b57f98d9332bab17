package engine

import "slices"

// becomeLeader takes over after winning an election: it resets every
// follower's progress and appends a no-op so that an entry of its term
// commits soon (Raft §5.4.2, §8).
func (e *Engine) becomeLeader() {
	e.counters.ElectionsWon++
	e.role, e.leader = Leader, e.id
	e.votes = nil
	e.electionElapsed, e.heartbeatElapsed = 0, 0
	e.uncommittedBytes = 0
	e.transferTarget, e.transferElapsed, e.transferredInTerm = "", 0, false
	e.reads.resetLeader()
	e.progress = make(map[NodeID]*progress)
	for id := range e.membership.All() {
		e.addProgress(id)
	}
	e.emit(RoleChanged{Role: Leader, Term: e.term, Leader: e.id})
	e.appendEntries([]Entry{{Type: EntryNoop}})
	e.bcastAppend()
}

func (e *Engine) addProgress(id NodeID) {
	if id == e.id || e.progress[id] != nil {
		return
	}
	e.progress[id] = &progress{
		next:         e.log.lastIndex() + 1,
		learner:      e.membership.IsLearner(id),
		recentActive: true,
	}
}

// tickLeader drives heartbeats, check-quorum and the transfer timeout.
func (e *Engine) tickLeader() {
	e.heartbeatElapsed++
	e.electionElapsed++
	if e.transferTarget != "" {
		e.transferElapsed++
		if e.transferElapsed >= e.cfg.ElectionTicks {
			// Raft thesis §3.10: abort a transfer that did not complete
			// within an election timeout, and accept proposals again.
			e.transferTarget, e.transferElapsed = "", 0
		}
	}
	if e.electionElapsed >= e.cfg.ElectionTicks {
		e.electionElapsed = 0
		if !e.cfg.DisableCheckQuorum && !e.checkQuorum() {
			// Raft §6.2 (check-quorum): a leader that cannot reach a
			// majority steps down so clients look elsewhere.
			e.becomeFollower(e.term, "")
			return
		}
	}
	for _, pr := range e.progress {
		if pr.state == Snapshot {
			pr.snapIdle++
		}
	}
	if e.heartbeatElapsed >= e.cfg.HeartbeatTicks {
		e.heartbeatElapsed = 0
		e.bcastHeartbeat()
	}
}

// checkQuorum reports whether a majority of voters were active since the
// last check, and resets the activity marks.
func (e *Engine) checkQuorum() bool {
	active := map[NodeID]bool{}
	for _, id := range e.membership.Voters {
		if id == e.id {
			active[id] = true
		} else if pr := e.progress[id]; pr != nil && pr.recentActive {
			active[id] = true
		}
	}
	for _, pr := range e.progress {
		pr.recentActive = false
	}
	return tally(e.membership.Voters, active) == voteWon
}

// appendEntries appends new entries of this term to the leader's log,
// numbering them, and returns them.
func (e *Engine) appendEntries(es []Entry) []Entry {
	last := e.log.lastIndex()
	for i := range es {
		es[i].Term, es[i].Index = e.term, last+1+uint64(i)
		e.uncommittedBytes += es[i].size()
	}
	e.log.append(es...)
	e.counters.EntriesAppended += uint64(len(es))
	e.emit(PersistEntries{Entries: slices.Clone(es)})
	return es
}

// propose appends client commands (one batch: one persist, one MsgApp per
// follower).
func (e *Engine) propose(ps []Proposal) {
	if len(ps) == 0 {
		return
	}
	reject := func(err error) {
		for _, p := range ps {
			e.counters.ProposalsRejected++
			e.emit(ProposalRejected{ID: p.ID, Err: err, Leader: e.leader})
		}
	}
	switch {
	case e.role != Leader:
		reject(ErrNotLeader)
		return
	case e.transferTarget != "":
		reject(ErrTransferInProgress)
		return
	}
	var size uint64
	for _, p := range ps {
		size += uint64(len(p.Data)) + entryOverhead
	}
	if e.uncommittedBytes > 0 && e.uncommittedBytes+size > e.cfg.MaxUncommittedBytes {
		reject(ErrBusy)
		return
	}
	es := make([]Entry, len(ps))
	for i, p := range ps {
		es[i] = Entry{Type: EntryNormal, Data: p.Data}
	}
	es = e.appendEntries(es)
	for i, p := range ps {
		e.emit(ProposalAccepted{ID: p.ID, Term: es[i].Term, Index: es[i].Index})
	}
	e.bcastAppend()
	e.maybeCommit()
}

// bcastAppend sends new entries to every follower that is not paused.
func (e *Engine) bcastAppend() {
	for id := range e.membership.All() {
		if id != e.id {
			e.sendAppend(id, false)
		}
	}
}

// sendAppend sends entries (or a snapshot chunk) to one follower if its
// progress allows. With empty set, it sends a MsgApp even without new
// entries (to probe or to carry the commit index). It reports whether a
// message went out.
func (e *Engine) sendAppend(to NodeID, empty bool) bool {
	pr := e.progress[to]
	if pr == nil || pr.paused(e.cfg.MaxInflightMsgs) {
		return false
	}
	prevIndex := pr.next - 1
	prevTerm, ok := e.log.term(prevIndex)
	if !ok {
		// The entries the follower needs are compacted away: send the
		// snapshot (Raft §7).
		e.startSnapshot(to, pr)
		return true
	}
	es := e.log.slice(pr.next, e.log.lastIndex()+1, e.cfg.MaxAppendBytes)
	if len(es) == 0 && !empty && pr.state == Replicate {
		return false
	}
	e.counters.AppendsSent++
	m := Message{Type: MsgApp, To: to, PrevIndex: prevIndex, PrevTerm: prevTerm,
		Entries: es, Commit: e.log.commit}
	if len(es) > 0 && es[0].Index <= e.log.dataFloor {
		e.sendFilled(m, min(e.log.dataFloor, es[len(es)-1].Index))
	} else {
		e.send(m)
	}
	pr.sentEntries(prevIndex+uint64(len(es)), len(es))
	return true
}

// sendEmptyAppend sends to a follower in replicate a MsgApp with no
// entries after the last entry sent to it (pr.next-1): an answer says
// whether it has everything sent so far.
func (e *Engine) sendEmptyAppend(to NodeID, pr *progress) {
	prevIndex := pr.next - 1
	prevTerm, ok := e.log.term(prevIndex)
	if !ok {
		e.sendAppend(to, true) // compacted: sendAppend sends the snapshot
		return
	}
	e.counters.AppendsSent++
	e.send(Message{Type: MsgApp, To: to, PrevIndex: prevIndex, PrevTerm: prevTerm, Commit: e.log.commit})
}

// bcastHeartbeat sends a heartbeat to every follower, starting a new read
// round (Raft thesis §6.4).
func (e *Engine) bcastHeartbeat() {
	round := e.reads.startRound(e.ticks)
	for id := range e.membership.All() {
		pr := e.progress[id]
		if id == e.id || pr == nil {
			continue
		}
		// Clamp the commit index to what the follower is known to match,
		// so that it never commits an entry it has not verified.
		e.send(Message{Type: MsgHeartbeat, To: id, Commit: min(pr.match, e.log.commit), Context: round})
		if pr.state == Snapshot && pr.snapIdle >= e.cfg.ElectionTicks/2+1 {
			// Nothing sent for a while: the chunks in flight, or their
			// answers, may be lost. Send again from the acknowledged
			// offset.
			pr.snapRewind()
			e.sendSnapshotChunks(id, pr)
		}
	}
	e.maybeConfirmReads()
}

// stepLeader handles messages in the leader role.
func (e *Engine) stepLeader(m Message) {
	pr := e.progress[m.From]
	if pr == nil {
		return // not a member
	}
	switch m.Type {
	case MsgAppResp:
		pr.recentActive = true
		e.handleAppendResponse(m, pr)
	case MsgHeartbeatResp:
		pr.recentActive = true
		if m.Context > pr.readAck && m.Context <= e.reads.round {
			pr.readAck = m.Context
		}
		e.maybeConfirmReads()
		switch {
		case pr.state == Probe:
			pr.probeSent = false
		case pr.state == Replicate && len(pr.inflight) >= e.cfg.MaxInflightMsgs:
			// The window may be full of lost messages (the follower
			// restarted, say): free one and ask, with an empty MsgApp
			// after the last entry sent, whether the follower has them. It
			// goes behind the ones in flight, so a follower that has them
			// all by then accepts it; one that lost some rejects it, and
			// its hint moves us to probe. A MsgApp of entries from next
			// would ask the same, with up to MaxAppendBytes of entries
			// that a follower that lost some must throw away (in
			// BenchmarkCatchUp, a restarted follower's 6k entries).
			pr.inflight = pr.inflight[1:]
			e.sendEmptyAppend(m.From, pr)
			return
		}
		if pr.match < e.log.lastIndex() {
			e.sendAppend(m.From, true)
		}
	case MsgSnapResp:
		pr.recentActive = true
		e.handleSnapshotResponse(m, pr)
	}
}

// handleAppendResponse updates a follower's progress (Raft §5.3).
func (e *Engine) handleAppendResponse(m Message, pr *progress) {
	if m.Reject {
		if m.Index == 0 && m.HintIndex == 0 {
			return // a stale-term answer carries no position
		}
		hint := m.HintIndex
		if m.HintTerm > 0 {
			// Skip the follower's conflicting term at once.
			hint, _ = e.log.findConflictByTerm(m.HintIndex, m.HintTerm)
		}
		if pr.maybeDecrTo(m.Index, hint) {
			if pr.state == Replicate {
				pr.becomeProbe()
			}
			e.sendAppend(m.From, true)
		}
		return
	}
	if m.Index > e.log.lastIndex() {
		return // acknowledges entries we never sent
	}
	updated := pr.maybeUpdate(m.Index)
	if !updated && pr.state == Probe && pr.match == m.Index {
		updated = true // the probe found the match: replicate from here
	}
	if !updated && pr.state != Snapshot {
		if pr.state == Replicate {
			e.sendAppendAll(m.From)
		}
		return
	}
	switch {
	case pr.state == Probe:
		pr.becomeReplicate()
	case pr.state == Snapshot && pr.match >= pr.snap.Index:
		pr.becomeProbe()
		pr.becomeReplicate()
	}
	if e.maybeCommit() {
		// Tell followers about the new commit index.
		e.bcastAppendCommit()
	}
	e.sendAppendAll(m.From)
	if m.From == e.transferTarget && pr.match == e.log.lastIndex() {
		e.sendTimeoutNow(m.From)
	}
}

// sendAppendAll sends as many MsgApps as the follower's window allows.
func (e *Engine) sendAppendAll(to NodeID) {
	for i := 0; i < e.cfg.MaxInflightMsgs && e.sendAppend(to, false); i++ {
	}
}

// bcastAppendCommit sends the new commit index to followers that have
// nothing else coming (replicate state with an empty window), so they can
// apply without waiting for the next heartbeat.
func (e *Engine) bcastAppendCommit() {
	for id := range e.membership.All() {
		pr := e.progress[id]
		if id == e.id || pr == nil || pr.state != Replicate {
			continue
		}
		if !e.sendAppend(id, false) && len(pr.inflight) == 0 && pr.match == e.log.lastIndex() {
			e.sendAppend(id, true)
		}
	}
}

// maybeCommit advances the commit index to the largest index stored on a
// majority of voters, if that entry is of the current term (Raft §5.4.2).
// The leader counts itself only up to what its own disk holds.
func (e *Engine) maybeCommit() bool {
	if len(e.membership.Voters) == 0 {
		return false
	}
	matches := make([]uint64, 0, len(e.membership.Voters))
	for _, id := range e.membership.Voters {
		if id == e.id {
			matches = append(matches, e.log.persisted)
		} else if pr := e.progress[id]; pr != nil {
			matches = append(matches, pr.match)
		} else {
			matches = append(matches, 0)
		}
	}
	c := majorityIndex(matches)
	if t, ok := e.log.term(c); !ok || t != e.term || c <= e.log.commit {
		return false
	}
	e.commitTo(c)
	return true
}

// logPersisted records the host's durability report.
func (e *Engine) logPersisted(index, term uint64) {
	if t, ok := e.log.term(index); !ok || t != term || index <= e.log.persisted {
		return
	}
	e.log.persisted = index
	if e.role == Leader && e.maybeCommit() {
		e.bcastAppendCommit()
	}
}
