package engine

import (
	"fmt"
	"math/rand/v2"
)

// Engine is one node's Raft protocol state. It is not safe for concurrent
// use: one goroutine (the host's driver) owns it.
type Engine struct {
	cfg Config
	id  NodeID
	rng *rand.Rand

	// Durable state (Raft Figure 2). Changes are emitted as PersistHardState
	// before any Send that depends on them.
	term uint64
	vote NodeID
	// durable is the hard state last emitted for persistence.
	durable HardState

	role   Role
	leader NodeID
	log    raftLog

	// membership is the configuration in force: that of the newest config
	// entry in the log, or of the snapshot, or Config.Peers (Raft §4.1).
	membership Membership
	// configIndex is the index of the config entry that set membership
	// (0 when it came from the snapshot or from Config.Peers). A change is
	// pending while configIndex > commit.
	configIndex uint64

	// ticks is the logical clock: the number of Ticks stepped.
	ticks uint64
	// electionElapsed counts ticks since the last contact with a leader
	// (follower), since the election started (candidate), or since the last
	// check-quorum (leader).
	electionElapsed int
	// electionTimeout is the randomized timeout in [ElectionTicks,
	// 2*ElectionTicks) (Raft §5.2).
	electionTimeout  int
	heartbeatElapsed int

	// votes tallies a (pre-)candidate's election.
	votes map[NodeID]bool

	// Leader state.
	progress map[NodeID]*progress
	// uncommittedBytes is the size of entries appended in this term and not
	// yet committed (flow control for proposals).
	uncommittedBytes uint64
	transferTarget   NodeID
	transferElapsed  int
	// transferredInTerm disables the lease for the rest of the term once a
	// transfer started: a late TimeoutNow could elect a new leader while
	// this one still believes its lease.
	transferredInTerm bool

	reads readState

	// Follower state: the snapshot being received.
	incoming       *SnapshotMeta
	incomingOffset uint64

	// snapshotHinted is the index of an outstanding SnapshotHint (0 if none).
	snapshotHinted uint64

	recovered bool
	// restarted says Recover found a term, so this node may have promised
	// a leader to refuse votes just before a crash (see inLease).
	restarted bool
	stepped   bool
	counters  Counters

	// out collects the actions of the current Step.
	out []Action
}

// New returns an engine in the follower role at term 0 with an empty log,
// or an error wrapping ErrInvalidConfig. Step Recover first to restore
// durable state.
func New(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	e := &Engine{
		cfg:        cfg,
		id:         cfg.ID,
		rng:        rand.New(rand.NewPCG(cfg.Seed, uint64(len(cfg.ID))^0x9e3779b97f4a7c15)),
		membership: NewMembership(cfg.Peers, nil),
	}
	e.reads.init(cfg.Incarnation)
	e.resetElectionTimer()
	return e, nil
}

// Step applies one event and returns the actions the host must carry out,
// in order (see Action for the ordering contract). The returned slice is
// owned by the caller.
func (e *Engine) Step(ev Event) []Action {
	e.out = nil
	if r, ok := ev.(Recover); ok {
		if !e.stepped {
			e.recover(r)
		}
		e.stepped = true
		return e.flush()
	}
	e.stepped = true
	switch ev := ev.(type) {
	case Tick:
		e.tick()
	case Receive:
		e.receive(ev.Msg)
	case Propose:
		e.propose([]Proposal{{ID: ev.ID, Data: ev.Data}})
	case ProposeBatch:
		e.propose(ev.Proposals)
	case ChangeMembership:
		e.changeMembership(ev.ID, ev.Change)
	case TransferLeadership:
		e.transferLeadership(ev.To)
	case Read:
		e.read(ev)
	case LogPersisted:
		e.logPersisted(ev.Index, ev.Term)
	case SnapshotTaken:
		e.snapshotTaken(ev.Meta)
	case SnapshotFailed:
		// The host may have tried at another index than hinted (its state
		// machine lags the engine); any answer ends the hint.
		e.snapshotHinted = 0
	case SnapshotChunkFailed:
		e.snapshotChunkFailed(ev.To)
	case nil:
	default:
		panic(fmt.Sprintf("engine: unknown event %T", ev))
	}
	return e.flush()
}

// flush persists a changed commit index, term or vote and returns the
// collected actions. A term adopted from a message that needed no answer
// (a stale leader stepping down on a higher-term reply) must be durable
// too: Raft Figure 2 keeps currentTerm on stable storage, and a node that
// restarted with an older term would step back in time.
func (e *Engine) flush() []Action {
	if e.log.commit != e.durable.Commit || e.term != e.durable.Term || e.vote != e.durable.Vote {
		e.persistHardState()
	}
	e.log.release(e.cfg.EntryCacheBytes)
	out := e.out
	e.out = nil
	return out
}

func (e *Engine) emit(a Action) { e.out = append(e.out, a) }

// persistHardState emits the current hard state.
func (e *Engine) persistHardState() {
	e.durable = HardState{Term: e.term, Vote: e.vote, Commit: e.log.commit}
	e.emit(PersistHardState{HardState: e.durable})
}

// send emits a message, first persisting a changed term or vote (Raft §5:
// a node persists its term and vote before answering).
func (e *Engine) send(m Message) { e.sendFilled(m, 0) }

// sendFilled emits a Send whose entries up to fill the host must read
// from its log (0: none).
func (e *Engine) sendFilled(m Message, fill uint64) {
	if e.term != e.durable.Term || e.vote != e.durable.Vote {
		e.persistHardState()
	}
	m.From = e.id
	if m.Term == 0 {
		m.Term = e.term
	}
	e.emit(Send{Msg: m, FillThrough: fill})
}

// recover restores durable state (see Recover).
func (e *Engine) recover(r Recover) {
	e.recovered = true
	e.restarted = r.HardState.Term > 0
	e.term, e.vote = r.HardState.Term, r.HardState.Vote
	s := r.Snapshot
	e.log.floor, e.log.floorTerm, e.log.snap = s.Index, s.Term, s
	e.log.dataFloor = s.Index
	e.log.commit, e.log.applied = s.Index, s.Index
	if r.Sizes != nil && len(r.Sizes) != len(r.Entries) {
		panic(fmt.Sprintf("engine: Recover with %d entries and %d sizes", len(r.Entries), len(r.Sizes)))
	}
	for k, ent := range r.Entries {
		if ent.Index <= e.log.floor {
			continue
		}
		if ent.Index != e.log.lastIndex()+1 {
			break // a gap: the durable log ends here
		}
		if ent.Term < e.log.lastTerm() {
			// Terms never decrease along a log: this tail is a stale
			// leftover (for example from before a snapshot install that
			// a crash interrupted). Drop it, durably.
			e.emit(TruncateLog{Index: ent.Index})
			break
		}
		size := uint32(len(ent.Data))
		if r.Sizes != nil {
			if ent.Type == EntryConfig && r.Sizes[k] != size {
				panic(fmt.Sprintf("engine: Recover's config entry %d comes with %d bytes of its %d: the engine reads config entries", ent.Index, size, r.Sizes[k]))
			}
			size = r.Sizes[k]
		}
		e.log.appendSized(ent, size)
	}
	e.log.persisted = e.log.lastIndex()
	e.restoreMembershipFromLog()
	e.durable = HardState{Term: e.term, Vote: e.vote, Commit: r.HardState.Commit}
	if r.Applied > e.log.floor {
		if r.Applied > min(r.HardState.Commit, e.log.lastIndex()) {
			panic(fmt.Sprintf("engine: Recover says the host applied up to %d, but the log it recovered ends at %d and its commit index is %d",
				r.Applied, e.log.lastIndex(), r.HardState.Commit))
		}
		e.counters.EntriesCommitted += r.Applied - e.log.floor
		e.counters.EntriesApplied += r.Applied - e.log.floor
		e.log.hostApplied(r.Applied)
		e.maybeHintSnapshot()
	}
	// Re-apply what was committed before the crash.
	if c := min(r.HardState.Commit, e.log.lastIndex()); c > e.log.commit {
		e.commitTo(c)
	}
	e.durable.Commit = e.log.commit
	e.becomeFollower(e.term, "")
}

// restoreMembershipFromLog sets the membership from the newest config entry
// in the live log, falling back to the snapshot's (or the bootstrap peers).
func (e *Engine) restoreMembershipFromLog() {
	e.membership = e.membershipAt(e.log.lastIndex())
	e.configIndex = 0
	for i := e.log.lastIndex(); i > e.log.floor; i-- {
		if e.log.entry(i).Type == EntryConfig {
			e.configIndex = i
			return
		}
	}
}

// promotable reports whether this node may campaign: it is a voter of its
// configuration. A learner, a removed node and a joining node (empty
// configuration) never campaign.
func (e *Engine) promotable() bool { return e.membership.IsVoter(e.id) }

func (e *Engine) resetElectionTimer() {
	e.electionElapsed = 0
	e.electionTimeout = e.cfg.ElectionTicks + e.rng.IntN(e.cfg.ElectionTicks)
}

// committedInTerm reports whether the leader has committed an entry of its
// own term, which is when it knows the commit index of the cluster (Raft
// §5.4.2, thesis §6.4).
func (e *Engine) committedInTerm() bool {
	t, ok := e.log.term(e.log.commit)
	return ok && t == e.term
}

// becomeFollower steps down (or starts) as a follower in term.
func (e *Engine) becomeFollower(term uint64, leader NodeID) {
	wasLeader := e.role == Leader
	termChanged := term > e.term
	if termChanged {
		e.term, e.vote = term, ""
	}
	e.progress = nil
	e.votes = nil
	e.transferTarget, e.transferElapsed = "", 0
	e.heartbeatElapsed = 0
	e.resetElectionTimer()
	if wasLeader || termChanged {
		e.failLeaderReads(ErrSteppedDown)
	}
	if termChanged || leader != e.leader {
		e.failFollowerReads(ErrSteppedDown)
	}
	changed := e.role != Follower || leader != e.leader || termChanged
	e.role, e.leader = Follower, leader
	if changed {
		e.emit(RoleChanged{Role: Follower, Term: e.term, Leader: leader})
	}
}

// commitTo advances the commit index and hands the newly committed entries
// to the host.
func (e *Engine) commitTo(c uint64) {
	if c <= e.log.commit {
		return
	}
	old := e.log.commit
	e.log.commit = c
	e.counters.EntriesCommitted += c - old
	for i := old + 1; i <= c; i++ {
		if e.log.entry(i).Term == e.term {
			e.uncommittedBytes -= min(e.uncommittedBytes, e.log.sizeAt(i))
		}
	}
	e.applyCommitted()
	if e.role == Leader {
		e.releaseReads()
		e.maybeFinishConfigChange(old)
	}
}

// applyCommitted emits ApplyEntries for entries committed but not yet
// handed out, and asks for a snapshot when the log has grown.
func (e *Engine) applyCommitted() {
	if e.log.applied >= e.log.commit || e.log.applied < e.log.floor {
		return
	}
	es := e.log.slice(e.log.applied+1, e.log.commit+1, ^uint64(0))
	e.log.applied = e.log.commit
	for i := range es {
		e.log.appliedBytes += e.log.sizeAt(es[i].Index)
	}
	e.counters.EntriesApplied += uint64(len(es))
	e.emit(ApplyEntries{Entries: es})
	e.maybeHintSnapshot()
}

// Status returns a copy of the engine's state.
func (e *Engine) Status() Status {
	s := Status{
		ID:             e.id,
		Role:           e.role,
		Term:           e.term,
		Vote:           e.vote,
		Leader:         e.leader,
		Commit:         e.log.commit,
		Applied:        e.log.applied,
		FirstIndex:     e.log.firstIndex(),
		LastIndex:      e.log.lastIndex(),
		LastTerm:       e.log.lastTerm(),
		SnapshotIndex:  e.log.snap.Index,
		SnapshotTerm:   e.log.snap.Term,
		Membership:     e.membership.Clone(),
		PendingConfig:  e.configIndex > e.log.commit,
		TransferTarget: e.transferTarget,
		PendingReads:   e.reads.pending(),
		LeaseValid:     e.leaseValid(),
		Counters:       e.counters,
	}
	if e.role == Leader {
		s.Followers = make([]FollowerStatus, 0, len(e.progress))
		for id := range e.membership.All() {
			if id == e.id {
				continue
			}
			if pr := e.progress[id]; pr != nil {
				s.Followers = append(s.Followers, FollowerStatus{
					ID: id, Learner: pr.learner, Match: pr.match, Next: pr.next,
					State: pr.state, Inflight: len(pr.inflight), Active: pr.recentActive,
				})
			}
		}
	}
	return s
}
