package engine

// receive handles a message from a peer: term rules first (Raft §5.1), then
// the role's own handler.
func (e *Engine) receive(m Message) {
	if !m.Type.Valid() || m.To != e.id || m.From == e.id || !ValidNodeID(m.From) {
		return
	}
	switch {
	case m.Term > e.term:
		if !e.handleHigherTerm(m) {
			return
		}
	case m.Term < e.term:
		e.handleLowerTerm(m)
		return
	}

	switch m.Type {
	case MsgPreVote, MsgVote:
		e.handleVoteRequest(m)
		return
	case MsgReadIndex:
		e.handleReadIndexRequest(m)
		return
	}
	switch e.role {
	case Leader:
		e.stepLeader(m)
	case Candidate, PreCandidate:
		e.stepCandidate(m)
	default:
		e.stepFollower(m)
	}
}

// handleHigherTerm applies the rule "if a message has a higher term, adopt
// it and become a follower" (Raft §5.1) with its exceptions. It reports
// whether the message should be processed further.
func (e *Engine) handleHigherTerm(m Message) bool {
	switch {
	case m.Type == MsgPreVote:
		// A pre-vote never changes anyone's term (Raft §9.6).
		return true
	case m.Type == MsgPreVoteResp && !m.Reject:
		// A granted pre-vote carries the term the candidate will use.
		return true
	case m.Type == MsgVote && !m.Transfer && e.inLease():
		// We heard from a live leader within the minimum election
		// timeout: ignore the disruption entirely, term included
		// (Raft §4.2.3).
		e.counters.VotesDenied++
		return false
	}
	var leader NodeID
	switch m.Type {
	case MsgApp, MsgHeartbeat, MsgSnap, MsgTimeoutNow:
		leader = m.From
	default:
		if e.role != Leader && !m.Transfer && e.inLease() {
			// A stray higher-term answer must not release a follower
			// from its promise to the current leader (which the lease
			// relies on); it learns the term from the next leader.
			return false
		}
	}
	if m.Type == MsgVote {
		// A candidate's term is adopted, but the election timer runs
		// on: a follower restarts it on hearing from the leader or on
		// granting its vote (handleVoteRequest), not on being asked
		// (Raft §5.2, Figure 2). Otherwise every candidate with a stale
		// log, which can never win, holds back the nodes that could,
		// and without pre-vote a cluster whose logs differ can go
		// election after election without a leader.
		elapsed, timeout := e.electionElapsed, e.electionTimeout
		e.becomeFollower(m.Term, "")
		e.electionElapsed, e.electionTimeout = elapsed, timeout
		return true
	}
	e.becomeFollower(m.Term, leader)
	return true
}

// handleLowerTerm answers a message from a node's past. A stale leader
// learns the new term from our answer and steps down; a stale pre-candidate
// learns it is behind. Everything else is ignored.
func (e *Engine) handleLowerTerm(m Message) {
	switch m.Type {
	case MsgApp, MsgHeartbeat, MsgSnap:
		// Tell the stale leader our term. The reply is a valid MsgAppResp
		// (Reject with zero indexes) that every codec must accept.
		e.send(Message{Type: MsgAppResp, To: m.From, Reject: true})
	case MsgPreVote:
		e.send(Message{Type: MsgPreVoteResp, To: m.From, Reject: true})
	}
}

// stepCandidate handles messages in the pre-candidate and candidate roles.
func (e *Engine) stepCandidate(m Message) {
	switch m.Type {
	case MsgPreVoteResp, MsgVoteResp:
		e.handleVoteResponse(m)
	case MsgApp, MsgHeartbeat, MsgSnap:
		// A leader exists in our term (Raft §5.2): follow it.
		e.becomeFollower(m.Term, m.From)
		e.stepFollower(m)
	}
}

// stepFollower handles messages in the follower role.
func (e *Engine) stepFollower(m Message) {
	switch m.Type {
	case MsgApp:
		e.contact(m.From)
		e.handleAppendEntries(m)
	case MsgHeartbeat:
		e.contact(m.From)
		e.handleHeartbeat(m)
	case MsgSnap:
		e.contact(m.From)
		e.handleSnapshotChunk(m)
	case MsgTimeoutNow:
		e.handleTimeoutNow(m)
	case MsgReadIndexResp:
		e.handleReadIndexResponse(m)
	}
}

// contact records a message from the leader of our term.
func (e *Engine) contact(leader NodeID) {
	e.electionElapsed = 0
	if e.leader != leader {
		e.failFollowerReads(ErrSteppedDown)
		e.leader = leader
		e.emit(RoleChanged{Role: e.role, Term: e.term, Leader: leader})
	}
}

// handleTimeoutNow starts an election at once, skipping pre-vote, because
// the leader asked this node to take over (Raft thesis §3.10).
func (e *Engine) handleTimeoutNow(m Message) {
	if m.From != e.leader || !e.promotable() {
		return
	}
	e.becomeCandidate(true)
}
