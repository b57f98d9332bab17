package engine

// changeMembership proposes a single-server membership change (Raft §4.3):
// at most one at a time, only after the leader committed an entry of its
// term (so that an earlier leader's uncommitted change cannot overlap with
// this one, thesis §4.1 and the 2015 raft-dev erratum), and a learner is
// promoted only once it has caught up.
func (e *Engine) changeMembership(id uint64, c ConfChange) {
	reject := func(err error) {
		e.counters.ProposalsRejected++
		e.emit(ProposalRejected{ID: id, Err: err, Leader: e.leader})
	}
	switch {
	case e.role != Leader:
		reject(ErrNotLeader)
		return
	case e.transferTarget != "":
		reject(ErrTransferInProgress)
		return
	case !e.committedInTerm():
		reject(ErrConfNotReady)
		return
	case e.configIndex > e.log.commit:
		reject(ErrConfPending)
		return
	}
	next, err := e.membership.Apply(c)
	if err != nil {
		reject(err)
		return
	}
	if c.Op == ConfPromote {
		if pr := e.progress[c.Node]; pr == nil || pr.match < e.log.commit {
			reject(ErrLearnerNotCaughtUp)
			return
		}
	}
	es := e.appendEntries([]Entry{{Type: EntryConfig, Data: MarshalConfig(c, next)}})
	e.emit(ProposalAccepted{ID: id, Term: es[0].Term, Index: es[0].Index})
	e.setMembership(next, es[0].Index)
	e.bcastAppend()
	e.maybeCommit()
}

// setMembership makes a configuration take effect on the leader: progress
// is created for new members and dropped for removed ones.
func (e *Engine) setMembership(m Membership, index uint64) {
	e.membership, e.configIndex = m, index
	e.emit(MembershipChanged{Membership: m.Clone()})
	if e.role != Leader {
		return
	}
	for id := range e.progress {
		if !m.Contains(id) {
			delete(e.progress, id)
		}
	}
	for _, id := range m.Members() {
		e.addProgress(id)
		if pr := e.progress[id]; pr != nil {
			pr.learner = m.IsLearner(id)
		}
	}
}

// maybeFinishConfigChange runs when the leader's commit index advanced past
// old: a leader that committed its own removal steps down (Raft §4.2.2).
func (e *Engine) maybeFinishConfigChange(old uint64) {
	if e.configIndex > old && e.configIndex <= e.log.commit && !e.membership.IsVoter(e.id) {
		// Tell the followers the final commit index before leaving.
		e.bcastAppendCommit()
		e.becomeFollower(e.term, "")
	}
}
