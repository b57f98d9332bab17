package engine

// progress is the leader's view of one follower's log (Raft §5.3), a small
// state machine of its own:
//
//	probe ──(append acknowledged)──▶ replicate
//	  ▲                                 │
//	  └──────────(rejection)────────────┘
//	probe/replicate ──(next below the log floor)──▶ snapshot ──(installed)──▶ probe
//
// In probe the leader sends one MsgApp and waits (paused) for its answer or
// the next heartbeat; in replicate it pipelines up to MaxInflightMsgs
// MsgApps, optimistically advancing next; in snapshot it streams
// InstallSnapshot chunks, up to SnapshotWindow of them in flight.
type progress struct {
	match, next uint64
	state       ProgressState
	learner     bool

	// probeSent pauses a follower in probe until it answers or a heartbeat
	// interval passes.
	probeSent bool
	// inflight holds the last index of each MsgApp in flight, oldest first
	// (replicate state), at most MaxInflightMsgs of them.
	inflight []uint64

	// recentActive says the follower answered since the last check-quorum.
	recentActive bool
	// readAck is the highest read round (heartbeat context) the follower
	// acknowledged in this term.
	readAck uint64

	// snap is the snapshot being streamed (snapshot state). snapAcked is
	// the next byte the follower said it expects (it holds every byte
	// before); snapSent the end of the chunks sent, snapAcked ≤ snapSent;
	// the chunks between are in flight. snapResent says the chunks from
	// snapAcked on were sent again since snapAcked last moved, so a later
	// report of a gap at snapAcked is about the older copies. snapIdle
	// counts ticks since the transfer last moved (a chunk sent, or an
	// answer that slid the window), to retransmit lost chunks: a follower
	// slow to write the last chunks of a window is not sent them again.
	snap       SnapshotMeta
	snapAcked  uint64
	snapSent   uint64
	snapResent bool
	snapIdle   int
}

func (p *progress) becomeProbe() {
	if p.state == Snapshot {
		// The follower installed the snapshot (or must be probed again).
		p.next = max(p.match+1, p.snap.Index+1)
	} else {
		p.next = p.match + 1
	}
	p.state, p.probeSent, p.inflight = Probe, false, p.inflight[:0]
	p.snap, p.snapAcked, p.snapSent, p.snapResent, p.snapIdle = SnapshotMeta{}, 0, 0, false, 0
}

func (p *progress) becomeReplicate() {
	p.state, p.probeSent, p.inflight = Replicate, false, p.inflight[:0]
	p.next = p.match + 1
}

func (p *progress) becomeSnapshot(s SnapshotMeta) {
	p.state, p.probeSent, p.inflight = Snapshot, false, p.inflight[:0]
	p.snap, p.snapAcked, p.snapSent, p.snapResent, p.snapIdle = s, 0, 0, false, 0
}

// snapChunkDue reports whether another InstallSnapshot chunk may go out
// at snapSent: the snapshot has bytes left and fewer than window chunks of
// chunkBytes are in flight. If the snapshot's size is unknown the leader
// cannot tell where the next chunk starts, and sends one at a time.
func (p *progress) snapChunkDue(window int, chunkBytes uint64) bool {
	if p.snap.Size == 0 {
		return p.snapSent == p.snapAcked
	}
	return p.snapSent < p.snap.Size && p.snapSent-p.snapAcked < uint64(window)*chunkBytes
}

// snapChunkSent records a chunk of up to chunkBytes sent at snapSent.
func (p *progress) snapChunkSent(chunkBytes uint64) {
	p.snapSent += chunkBytes
	if p.snap.Size != 0 {
		p.snapSent = min(p.snapSent, p.snap.Size)
	}
	p.snapIdle = 0
}

// snapRewind makes the chunks from snapAcked on due again.
func (p *progress) snapRewind() {
	p.snapSent, p.snapResent = p.snapAcked, true
}

// snapAnswered records a MsgSnapResp: the follower expects byte next,
// answering the chunk at byte off. It reports whether chunks may be due.
//
// An answer with next beyond snapAcked slides the window. An answer whose
// chunk lies beyond next reports a gap: the follower dropped that chunk,
// because one before it was lost or overtaken, or because the follower
// restarted and starts over; the leader goes back to next and sends from
// there (go-back-N). It does so once per position: the other chunks of the
// old window report the same gap when they arrive, and a resent chunk
// lost again is left to the idle retransmission. Any other answer is a
// duplicate or overtaken by a later one, and is ignored.
func (p *progress) snapAnswered(next, off uint64) bool {
	gap := off > next
	switch {
	case next > p.snapAcked:
		p.snapAcked, p.snapResent, p.snapIdle = next, false, 0
		p.snapSent = max(p.snapSent, next)
	case !gap, next == p.snapAcked && p.snapResent:
		return false
	}
	if gap {
		p.snapAcked = next
		p.snapRewind()
	}
	return true
}

// paused reports whether the leader must not send another MsgApp now.
func (p *progress) paused(maxInflight int) bool {
	switch p.state {
	case Probe:
		return p.probeSent
	case Replicate:
		return len(p.inflight) >= maxInflight
	}
	return true
}

// sentEntries records a MsgApp whose last entry is last.
func (p *progress) sentEntries(last uint64, n int) {
	switch p.state {
	case Replicate:
		if n > 0 {
			p.next = last + 1
			p.inflight = append(p.inflight, last)
		}
	case Probe:
		p.probeSent = true
	}
}

// maybeUpdate records an acknowledgement of index n and reports whether
// match advanced.
func (p *progress) maybeUpdate(n uint64) bool {
	updated := false
	if n > p.match {
		p.match, updated = n, true
		p.probeSent = false
	}
	p.next = max(p.next, n+1)
	// Free the in-flight MsgApps the acknowledgement covers.
	i := 0
	for i < len(p.inflight) && p.inflight[i] <= n {
		i++
	}
	p.inflight = append(p.inflight[:0], p.inflight[i:]...)
	return updated
}

// maybeDecrTo handles a rejection of the MsgApp whose PrevIndex was
// rejected, with the follower's hint of where to probe next (hint is the
// last index that may match). It reports whether next moved (a stale
// rejection is ignored).
func (p *progress) maybeDecrTo(rejected, hint uint64) bool {
	if p.state == Replicate {
		// A rejection of an entry already matched is stale.
		if rejected <= p.match {
			return false
		}
		p.next = p.match + 1
		return true
	}
	// Probe: only the rejection of the last probe counts.
	if p.next-1 != rejected {
		return false
	}
	p.next = max(min(rejected, hint+1), p.match+1, 1)
	p.probeSent = false
	return true
}
