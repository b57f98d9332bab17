package engine

// transferLeadership starts handing leadership to a voter (Raft thesis
// §3.10): proposals are refused meanwhile, the target is caught up, then
// told to campaign at once with MsgTimeoutNow. The transfer aborts after an
// election timeout.
func (e *Engine) transferLeadership(to NodeID) {
	if e.role != Leader {
		return
	}
	if to == "" {
		to = e.mostUpToDateVoter()
	}
	if to == "" || to == e.id || !e.membership.IsVoter(to) || e.progress[to] == nil {
		return
	}
	if e.transferTarget == to {
		return
	}
	e.counters.TransfersStarted++
	e.transferTarget, e.transferElapsed = to, 0
	// A TimeoutNow may be delayed past the transfer's abort and elect the
	// target while we still lead: no lease reads for the rest of the term.
	e.transferredInTerm = true
	e.reads.leaseUntil = 0
	if e.progress[to].match == e.log.lastIndex() {
		e.sendTimeoutNow(to)
	} else {
		e.sendAppend(to, true)
	}
}

func (e *Engine) sendTimeoutNow(to NodeID) {
	e.send(Message{Type: MsgTimeoutNow, To: to})
}

// mostUpToDateVoter returns the voter, other than the leader, with the
// highest match index, preferring one that answered since the last
// check-quorum: a voter that is down may have as high a match as the one
// that is up (it was caught up when it stopped), and a transfer to it
// only ends when it is aborted, an election timeout later (a node
// handing off its leadership as it stops, while another is down).
func (e *Engine) mostUpToDateVoter() NodeID {
	var best NodeID
	var bestMatch uint64
	bestActive := false
	for _, id := range e.membership.Voters {
		pr := e.progress[id]
		if id == e.id || pr == nil {
			continue
		}
		better := pr.recentActive && !bestActive || pr.recentActive == bestActive && pr.match > bestMatch
		if best == "" || better {
			best, bestMatch, bestActive = id, pr.match, pr.recentActive
		}
	}
	return best
}
