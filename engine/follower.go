package engine

import "slices"

// handleAppendEntries is the follower's side of AppendEntries (Raft §5.3).
func (e *Engine) handleAppendEntries(m Message) {
	e.counters.AppendsReceived++
	if m.PrevIndex < e.log.commit {
		// Everything up to our commit is known to match; tell the leader.
		e.send(Message{Type: MsgAppResp, To: m.From, Index: e.log.commit})
		return
	}
	if !e.log.matchTerm(m.PrevIndex, m.PrevTerm) {
		e.counters.AppendsRejected++
		// Fast back-off: point the leader at the last entry whose term is
		// at most PrevTerm, so a whole conflicting term is skipped at once.
		hintIndex, hintTerm := e.log.findConflictByTerm(min(m.PrevIndex, e.log.lastIndex()), m.PrevTerm)
		e.send(Message{Type: MsgAppResp, To: m.From, Reject: true, Index: m.PrevIndex, HintIndex: hintIndex, HintTerm: hintTerm})
		return
	}
	// Skip the entries we already have; truncate at the first conflict.
	es := m.Entries
	for len(es) > 0 {
		ent := es[0]
		if ent.Index != m.PrevIndex+uint64(len(m.Entries)-len(es))+1 || !ent.Type.Valid() {
			return // malformed: entries must be contiguous
		}
		t, ok := e.log.term(ent.Index)
		if !ok || t != ent.Term {
			break
		}
		es = es[1:]
	}
	if len(es) > 0 {
		first := es[0].Index
		if first <= e.log.commit {
			// A conflict with a committed entry cannot come from a valid
			// leader (Leader Completeness); refuse the message.
			return
		}
		if !contiguous(es, first) {
			return
		}
		if first <= e.log.lastIndex() {
			e.log.truncate(first)
			e.emit(TruncateLog{Index: first})
			if e.configIndex >= first {
				e.restoreMembershipFromLog()
				e.emit(MembershipChanged{Membership: e.membership.Clone()})
			}
		}
		es = slices.Clone(es)
		e.log.append(es...)
		e.counters.EntriesAppended += uint64(len(es))
		e.emit(PersistEntries{Entries: es})
		e.noteConfigEntries(es)
	}
	// The follower's commit is bounded by the last entry this message
	// verified, never simply its own last index (Raft §5.3, Figure 2).
	lastNew := m.PrevIndex + uint64(len(m.Entries))
	e.commitTo(min(m.Commit, lastNew))
	e.send(Message{Type: MsgAppResp, To: m.From, Index: lastNew})
}

// contiguous reports whether es are numbered first, first+1, ... and have
// known types.
func contiguous(es []Entry, first uint64) bool {
	for i, ent := range es {
		if ent.Index != first+uint64(i) || !ent.Type.Valid() {
			return false
		}
	}
	return true
}

// noteConfigEntries makes appended config entries take effect at once (Raft
// §4.1: a server uses the newest configuration in its log).
func (e *Engine) noteConfigEntries(es []Entry) {
	changed := false
	for _, ent := range es {
		if ent.Type != EntryConfig {
			continue
		}
		if _, m, err := UnmarshalConfig(ent.Data); err == nil {
			e.membership, e.configIndex, changed = m, ent.Index, true
		}
	}
	if changed {
		e.emit(MembershipChanged{Membership: e.membership.Clone()})
	}
}

// handleHeartbeat is the follower's side of a heartbeat: it learns the
// commit index (clamped by the leader to what it knows we match) and echoes
// the read round.
func (e *Engine) handleHeartbeat(m Message) {
	e.commitTo(min(m.Commit, e.log.lastIndex()))
	e.send(Message{Type: MsgHeartbeatResp, To: m.From, Context: m.Context})
}
