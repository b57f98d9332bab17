package engine

// Snapshots and log compaction (Raft §7). The engine never holds snapshot
// bytes: the host writes snapshots (SnapshotHint → SnapshotTaken), reads
// chunks of them to send (SendSnapshot), and stores received chunks
// (WriteSnapshotChunk, RestoreSnapshot). The engine tracks metadata and
// offsets.

// maybeHintSnapshot asks for a snapshot when enough was applied since the
// last one (SnapshotEntries entries, or by default as many bytes as the
// last snapshot holds), or when the log above the snapshot is too long or
// too large.
func (e *Engine) maybeHintSnapshot() {
	if e.snapshotHinted != 0 || e.log.applied <= e.log.snap.Index {
		return
	}
	due := e.log.lastIndex()-e.log.snap.Index > e.cfg.MaxLogEntries || e.log.bytes-e.log.behind > e.cfg.MaxLogBytes
	if n := e.cfg.SnapshotEntries; n > 0 {
		due = due || e.log.applied-e.log.snap.Index >= n
	} else {
		due = due || e.log.appliedBytes >= max(e.cfg.SnapshotMinBytes, e.log.snap.Size)
	}
	if due {
		e.snapshotHinted = e.log.applied
		e.emit(SnapshotHint{Index: e.log.applied})
	}
}

// snapshotTaken moves the snapshot floor and compacts the log prefix. It
// keeps CompactionKeep entries below the snapshot, and older ones as long
// as they weigh no more than the snapshot: a follower behind by less than
// that catches up from the log, which costs less to send than the
// snapshot; one further behind gets the snapshot.
func (e *Engine) snapshotTaken(s SnapshotMeta) {
	e.snapshotHinted = 0 // any answer ends the hint
	if s.Index <= e.log.snap.Index || s.Index > e.log.applied {
		return
	}
	if t, ok := e.log.term(s.Index); !ok || t != s.Term {
		return
	}
	// The engine knows the membership at s.Index better than the host.
	s.Membership = e.membershipAt(s.Index)
	for i := e.log.snap.Index + 1; i <= s.Index; i++ { // floor ≤ snap.Index < i
		e.log.appliedBytes -= e.log.sizeAt(i)
	}
	e.log.snap = s
	c := max(e.log.floor, s.Index-min(s.Index, e.cfg.CompactionKeep))
	// Walk back while the older entries kept weigh at most the snapshot,
	// and never keep more below it than the live log may hold above it
	// (MaxLogEntries, MaxLogBytes): the engine keeps every live entry's
	// header in memory.
	budget := min(s.Size, e.cfg.MaxLogBytes)
	var kept uint64
	for c > e.log.floor && s.Index-c < e.cfg.MaxLogEntries {
		if kept += e.log.sizeAt(c); kept > budget {
			break
		}
		c--
	}
	if c > e.log.floor {
		e.log.compact(c)
		e.emit(CompactLog{Index: c})
	}
	e.log.weighBehind()
}

// startSnapshot switches a follower to snapshot state and starts streaming
// the newest snapshot.
func (e *Engine) startSnapshot(to NodeID, pr *progress) {
	if e.log.snap.Index == 0 {
		return // nothing to send; cannot happen while the floor is 0
	}
	pr.becomeSnapshot(e.log.snap)
	e.counters.SnapshotsSent++
	e.sendSnapshotChunks(to, pr)
}

// sendSnapshotChunks sends the chunks due from the follower's sent offset:
// as many as the window allows (SnapshotWindow), each SnapshotChunkBytes
// long but the last.
func (e *Engine) sendSnapshotChunks(to NodeID, pr *progress) {
	for pr.snapChunkDue(e.cfg.SnapshotWindow, e.cfg.SnapshotChunkBytes) {
		e.send(Message{Type: MsgSnap, To: to, Snapshot: pr.snap, Offset: pr.snapSent})
		// SendSnapshot carries the message; replace the Send just emitted.
		last := e.out[len(e.out)-1].(Send)
		e.out[len(e.out)-1] = SendSnapshot{Msg: last.Msg, MaxBytes: e.cfg.SnapshotChunkBytes}
		pr.snapChunkSent(e.cfg.SnapshotChunkBytes)
	}
}

// handleSnapshotResponse moves a transfer on from the offset the follower
// expects next (see progress.snapAnswered).
func (e *Engine) handleSnapshotResponse(m Message, pr *progress) {
	if pr.state != Snapshot || m.Snapshot.Index != pr.snap.Index || m.Snapshot.Term != pr.snap.Term {
		return
	}
	if m.Reject {
		// The follower cannot take this snapshot; probe again later.
		pr.becomeProbe()
		return
	}
	if pr.snap.Size != 0 && m.Index >= pr.snap.Size {
		return // not an offset of this snapshot
	}
	if pr.snapAnswered(m.Index, m.Offset) {
		e.sendSnapshotChunks(m.From, pr)
	}
}

// snapshotChunkFailed restarts a transfer whose chunk the host could not
// read (for example the snapshot was replaced by a newer one).
func (e *Engine) snapshotChunkFailed(to NodeID) {
	if e.role != Leader {
		return
	}
	if pr := e.progress[to]; pr != nil && pr.state == Snapshot {
		pr.becomeProbe()
		pr.next = min(pr.next, e.log.floor) // forces a fresh snapshot
		pr.probeSent = false
	}
}

// handleSnapshotChunk is the follower's side of a chunked InstallSnapshot.
func (e *Engine) handleSnapshotChunk(m Message) {
	s := m.Snapshot
	if s.Index <= e.log.commit {
		// Already have everything it covers.
		e.incoming = nil
		e.send(Message{Type: MsgAppResp, To: m.From, Index: e.log.commit})
		return
	}
	if s.Term == 0 || s.Membership.Validate() != nil {
		return
	}
	same := e.incoming != nil && e.incoming.Index == s.Index && e.incoming.Term == s.Term
	if !same {
		if m.Offset != 0 {
			// We are not receiving this snapshot: start from the beginning.
			e.send(Message{Type: MsgSnapResp, To: m.From, Snapshot: s, Index: 0, Offset: m.Offset})
			return
		}
		meta := s
		meta.Membership = s.Membership.Clone()
		e.incoming, e.incomingOffset = &meta, 0
	}
	if m.Offset != e.incomingOffset {
		// Lost, duplicated or overtaken: say where we are; the chunk's
		// offset tells the leader which case it is.
		e.send(Message{Type: MsgSnapResp, To: m.From, Snapshot: s, Index: e.incomingOffset, Offset: m.Offset})
		return
	}
	e.emit(WriteSnapshotChunk{Meta: *e.incoming, Offset: m.Offset, Data: m.Data, Done: m.Done})
	e.incomingOffset += uint64(len(m.Data))
	if !m.Done {
		e.send(Message{Type: MsgSnapResp, To: m.From, Snapshot: s, Index: e.incomingOffset, Offset: m.Offset})
		return
	}
	e.installSnapshot(*e.incoming)
	e.incoming = nil
	// Only the snapshot is verified; a kept tail is checked by the next
	// MsgApp.
	e.send(Message{Type: MsgAppResp, To: m.From, Index: s.Index})
}

// installSnapshot replaces the follower's log and state machine with a
// received snapshot, keeping the log tail if it extends the snapshot
// (Raft §7).
func (e *Engine) installSnapshot(s SnapshotMeta) {
	keep := e.log.matchTerm(s.Index, s.Term) && s.Index >= e.log.floor
	e.emit(RestoreSnapshot{Meta: s, KeepLog: keep})
	e.log.reset(s, keep)
	e.counters.SnapshotsInstalled++
	e.snapshotHinted = 0
	e.restoreMembershipFromLog()
	e.emit(MembershipChanged{Membership: e.membership.Clone()})
}

// membershipAt returns the configuration in force at index i (floor ≤ i ≤
// lastIndex): the newest config entry at or before i, else the one at the
// floor.
func (e *Engine) membershipAt(i uint64) Membership {
	for j := min(i, e.log.lastIndex()); j > e.log.floor; j-- {
		if ent := e.log.entry(j); ent.Type == EntryConfig {
			if _, m, err := UnmarshalConfig(ent.Data); err == nil {
				return m
			}
		}
	}
	if s := e.log.snap; s.Index > 0 {
		return s.Membership.Clone()
	}
	return NewMembership(e.cfg.Peers, nil)
}
