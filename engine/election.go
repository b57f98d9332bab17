package engine

// tick advances the logical clock by one tick.
func (e *Engine) tick() {
	e.ticks++
	e.reads.tickTimeouts(e)
	if e.role == Leader {
		e.tickLeader()
		return
	}
	e.tickFollowerReads()
	e.electionElapsed++
	if e.promotable() && e.electionElapsed >= e.electionTimeout {
		e.resetElectionTimer()
		e.campaign(false)
	}
}

// campaign starts an election: a pre-vote first unless disabled or the
// election is a leadership transfer (Raft §9.6, thesis §3.10).
func (e *Engine) campaign(transfer bool) {
	if !e.promotable() {
		return
	}
	if !e.cfg.DisablePreVote && !transfer {
		e.becomePreCandidate()
	} else {
		e.becomeCandidate(transfer)
	}
}

// becomePreCandidate asks the voters whether they would vote for this node
// in the next term, without changing the term (Raft §9.6): a partitioned
// node cannot disrupt the cluster by inflating terms.
func (e *Engine) becomePreCandidate() {
	e.counters.PreVotesStarted++
	e.votes = map[NodeID]bool{e.id: true}
	e.progress = nil
	prev := e.role
	e.role, e.leader = PreCandidate, ""
	if prev != PreCandidate {
		e.emit(RoleChanged{Role: PreCandidate, Term: e.term})
	}
	e.failFollowerReads(ErrNoLeader)
	if e.maybeWinElection() {
		return
	}
	e.requestVotes(MsgPreVote, e.term+1, false)
}

// becomeCandidate starts a real election in the next term, voting for
// itself (Raft §5.2). The election gets a whole randomized timeout of its
// own: a pre-vote that won late must not leave the vote round only the rest
// of the timeout its pre-vote started with, or, with a round trip close to
// ElectionTicks, candidates time out before their votes arrive, election
// after election.
func (e *Engine) becomeCandidate(transfer bool) {
	e.counters.ElectionsStarted++
	e.resetElectionTimer()
	e.term++
	e.vote = e.id
	e.votes = map[NodeID]bool{e.id: true}
	e.progress = nil
	e.role, e.leader = Candidate, ""
	e.emit(RoleChanged{Role: Candidate, Term: e.term})
	e.failFollowerReads(ErrNoLeader)
	if e.maybeWinElection() {
		return
	}
	e.requestVotes(MsgVote, e.term, transfer)
}

func (e *Engine) requestVotes(t MessageType, term uint64, transfer bool) {
	for _, id := range e.membership.Voters {
		if id == e.id {
			continue
		}
		e.send(Message{Type: t, To: id, Term: term, LastIndex: e.log.lastIndex(), LastTerm: e.log.lastTerm(), Transfer: transfer})
	}
}

// maybeWinElection moves a (pre-)candidate forward once a majority granted.
func (e *Engine) maybeWinElection() bool {
	switch tally(e.membership.Voters, e.votes) {
	case voteWon:
		if e.role == PreCandidate {
			e.becomeCandidate(false)
		} else {
			e.becomeLeader()
		}
		return true
	case voteLost:
		e.becomeFollower(e.term, "")
		return true
	}
	return false
}

// handleVoteResponse counts a (pre-)vote answer.
func (e *Engine) handleVoteResponse(m Message) {
	want := MsgVoteResp
	if e.role == PreCandidate {
		want = MsgPreVoteResp
	}
	if m.Type != want || !e.membership.IsVoter(m.From) {
		return
	}
	if _, seen := e.votes[m.From]; !seen {
		e.votes[m.From] = !m.Reject
	}
	e.maybeWinElection()
}

// inLease reports whether this node heard from a leader within the minimum
// election timeout. Such a voter refuses (pre-)votes that are not a
// leadership transfer, so a leader that is in contact with a majority is not
// deposed by a node that merely lost contact (Raft §4.2.3); it is also what
// makes the leader lease safe.
//
// A voter restarted from durable state may have made that promise just
// before it went down; with leases on it keeps it for ElectionTicks after
// the restart, or an old leader could still serve lease reads while the
// restarted voter helps elect a new one.
func (e *Engine) inLease() bool {
	if e.cfg.DisableCheckQuorum {
		return false
	}
	if e.cfg.LeaseTicks > 0 && e.restarted && e.ticks < uint64(e.cfg.ElectionTicks) {
		return true
	}
	return e.leader != "" && e.electionElapsed < e.cfg.ElectionTicks
}

// handleVoteRequest answers MsgVote and MsgPreVote (Raft §5.2, §5.4.1,
// §9.6). The message's term is ≥ ours (receive handled lower terms and term
// updates).
func (e *Engine) handleVoteRequest(m Message) {
	resp := MsgVoteResp
	if m.Type == MsgPreVote {
		resp = MsgPreVoteResp
	}
	// A pre-vote is granted for a future term; a real vote only once per
	// term to one candidate, and not while we follow a live leader.
	canVote := e.vote == m.From ||
		(e.vote == "" && e.leader == "") ||
		(m.Type == MsgPreVote && m.Term > e.term)
	if m.Type == MsgPreVote && !m.Transfer && e.inLease() {
		canVote = false
	}
	// Whether we are a voter in our own configuration does not matter:
	// the candidate counts us only if we are one in its configuration,
	// and we may not know it yet (a voter added while it had only an
	// older snapshot) or no longer (a leader that appended its own
	// removal, then lost office). Refusing would leave such a cluster
	// without a leader for good (Raft thesis §4.1: servers grant votes
	// whatever their latest configuration; one vote per term keeps
	// Election Safety).
	grant := canVote && e.log.isUpToDate(m.LastIndex, m.LastTerm)
	if grant {
		if m.Type == MsgVote {
			e.counters.VotesGranted++
			e.vote = m.From
			e.resetElectionTimer()
		} else {
			e.counters.PreVotesGranted++
		}
		// A granted pre-vote carries the requested term, so that the
		// pre-candidate counts it; a granted vote carries ours (= m.Term).
		e.send(Message{Type: resp, To: m.From, Term: m.Term})
		return
	}
	if m.Type == MsgVote {
		e.counters.VotesDenied++
	} else {
		e.counters.PreVotesDenied++
	}
	e.send(Message{Type: resp, To: m.From, Term: e.term, Reject: true})
}
