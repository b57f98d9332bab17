package concurrency

import (
	"bytes"
	"context"
	"errors"
	"iter"
	"slices"
	"sync"

	"github.com/yggrdb/yggr"
)

// Election errors.
var (
	// ErrNoLeader: the election has no leader now.
	ErrNoLeader = errors.New("concurrency: no leader elected")
	// ErrNotElected: Proclaim by a candidate that is not the leader, or
	// no longer is (its key is gone: the session expired, or it resigned).
	ErrNotElected = errors.New("concurrency: not the elected leader")
	// ErrAlreadyCampaigning: Campaign on an Election that is campaigning
	// or leads. Use one Election per candidate.
	ErrAlreadyCampaigning = errors.New("concurrency: this Election is already campaigning or leading")
)

// Leader is the leader of an election.
type Leader struct {
	// Key is the leader's key.
	Key []byte
	// Value is what the leader campaigned with or last proclaimed.
	Value []byte
	// Rev is the CreateIndex of the leader's key: it identifies the
	// leadership (a term) and grows with each new leader, a fencing token
	// as Mutex.Token is.
	Rev uint64
	// ModIndex is the revision of the leader's last Campaign or Proclaim.
	ModIndex uint64
}

func leaderOf(it yggr.Item) Leader {
	return Leader{Key: it.Key, Value: it.Value, Rev: it.CreateIndex, ModIndex: it.ModIndex}
}

func (l Leader) same(o Leader) bool {
	return l.Rev == o.Rev && l.ModIndex == o.ModIndex && bytes.Equal(l.Key, o.Key)
}

// Election elects one leader among the candidates that campaign under a
// name: the one that has campaigned longest. Candidates queue like the
// waiters of a Mutex, and the leadership lives as long as the leader's
// Session.
//
// An Election is safe for concurrent use; it campaigns once at a time.
type Election struct {
	q queue

	mu          sync.Mutex
	campaigning bool
	key         []byte // the leader's key while this Election leads, nil otherwise
	rev         uint64
}

// NewElection returns the election named name, for a candidate in session
// s. The election's keys live under name + "/".
func NewElection(s *Session, name string) *Election {
	return &Election{q: newQueue(s, name)}
}

// ResumeElection returns an Election of session s that leads the election
// name through key, whose creation revision is rev, as an earlier
// Election's Campaign left them (Key, Rev): to proclaim or resign from
// another request or process (the HTTP API). It fails with
// yggr.ErrInvalid if key is not a key of the election name. It does not
// check that the key still exists; Proclaim and Resign do.
func ResumeElection(s *Session, name string, key []byte, rev uint64) (*Election, error) {
	e := NewElection(s, name)
	if err := e.q.check(key, rev); err != nil {
		return nil, err
	}
	e.key, e.rev = slices.Clone(key), rev
	return e, nil
}

// Campaign puts this candidate in the election with value and waits until
// it leads. It fails with ctx's error if ctx ends first, or with the
// session's error if the session ends first, and it then leaves no
// candidacy behind. A leader stays leader until it resigns or its session
// ends: watch the session's Done.
func (e *Election) Campaign(ctx context.Context, value []byte) error {
	e.mu.Lock()
	if e.campaigning || e.key != nil {
		e.mu.Unlock()
		return ErrAlreadyCampaigning
	}
	e.campaigning = true
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.campaigning = false
		e.mu.Unlock()
	}()
	key, rev, err := e.q.create(ctx, value)
	if err != nil {
		return err
	}
	if err := e.q.waitTurn(ctx, key, rev); err != nil {
		if errors.Is(err, errKeyGone) {
			return e.q.sessionErr()
		}
		e.q.remove(ctx, key, rev)
		return err
	}
	e.mu.Lock()
	e.key, e.rev = key, rev
	e.mu.Unlock()
	return nil
}

// Proclaim changes the leader's value without an election. It fails with
// ErrNotElected if this candidate does not lead, or no longer does (then
// it changes nothing).
func (e *Election) Proclaim(ctx context.Context, value []byte) error {
	e.mu.Lock()
	key, rev := e.key, e.rev
	e.mu.Unlock()
	if key == nil {
		return ErrNotElected
	}
	res, err := e.q.s.db.Txn(ctx, yggr.Txn{
		Compares: []yggr.Compare{{Key: key, Target: yggr.CmpCreateIndex, CreateIndex: rev}},
		Then:     []yggr.Request{{Op: yggr.OpPut, Key: key, Value: value, Lease: uint64(e.q.s.id)}},
	})
	if err != nil {
		return err
	}
	if !res.Succeeded {
		e.forget(key)
		return ErrNotElected
	}
	return nil
}

// Resign gives up the leadership: the next candidate leads. Resigning
// when not leading does nothing. If the delete cannot be made it returns
// the error and this candidate still leads.
func (e *Election) Resign(ctx context.Context) error {
	e.mu.Lock()
	key, rev := e.key, e.rev
	e.mu.Unlock()
	if key == nil {
		return nil
	}
	if _, err := e.q.s.db.Txn(ctx, yggr.Txn{
		Compares: []yggr.Compare{{Key: key, Target: yggr.CmpCreateIndex, CreateIndex: rev}},
		Then:     []yggr.Request{{Op: yggr.OpDelete, Key: key}},
	}); err != nil {
		return err
	}
	e.forget(key)
	return nil
}

func (e *Election) forget(key []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if slices.Equal(e.key, key) {
		e.key, e.rev = nil, 0
	}
}

// Rev returns the CreateIndex of this candidate's key while it leads (its
// term, a fencing token), 0 otherwise.
func (e *Election) Rev() uint64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rev
}

// Guard returns a compare that holds exactly while this candidate still
// leads in the leadership it has now: its key exists with the same
// CreateIndex. Add it to a transaction's compares so that a deposed leader
// cannot write. If it does not lead, the compare has no key and the
// transaction fails with yggr.ErrInvalid, changing nothing.
func (e *Election) Guard() yggr.Compare {
	e.mu.Lock()
	defer e.mu.Unlock()
	return yggr.Compare{Key: slices.Clone(e.key), Target: yggr.CmpCreateIndex, CreateIndex: e.rev}
}

// Key returns this candidate's key while it leads, nil otherwise.
func (e *Election) Key() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.key)
}

// Leader returns the current leader (a linearizable read), or
// ErrNoLeader.
func (e *Election) Leader(ctx context.Context) (Leader, error) {
	return CurrentLeader(ctx, e.q.s.db, e.q.name)
}

// Observe yields the leader now, then every change of leader or of its
// value, as Observe does.
func (e *Election) Observe(ctx context.Context) iter.Seq2[Leader, error] {
	return Observe(ctx, e.q.s.db, e.q.name)
}

// CurrentLeader returns the current leader of the election name (a
// linearizable read), or ErrNoLeader. It needs no session.
func CurrentLeader(ctx context.Context, db *yggr.DB, name string) (Leader, error) {
	if err := checkName(name); err != nil {
		return Leader{}, err
	}
	q := queue{name: name, prefix: []byte(name + "/")}
	var rev uint64
	items, _, err := db.List(ctx, q.prefix, yggr.PrefixEnd(q.prefix), 0, yggr.ReadRevision(&rev))
	if err != nil {
		return Leader{}, err
	}
	items = q.members(items)
	if len(items) == 0 {
		return Leader{}, ErrNoLeader
	}
	return leaderOf(items[0]), nil
}

// Observe yields the leader of the election name now (if there is one),
// then each new leader and each new value of the leader (Proclaim), in
// the order they happened, with none missed: it reads the election, then
// watches it from the revision it read. A time without a leader yields
// nothing; the next leader is yielded when it is elected. It needs no
// session. The iterator runs until ctx ends or the loop breaks; it yields
// one error and stops if it cannot go on (ctx's error, yggr.ErrClosed).
func Observe(ctx context.Context, db *yggr.DB, name string) iter.Seq2[Leader, error] {
	return func(yield func(Leader, error) bool) {
		if err := checkName(name); err != nil {
			yield(Leader{}, err)
			return
		}
		q := queue{name: name, prefix: []byte(name + "/")}
		var last Leader
		for {
			var rev uint64
			items, _, err := db.List(ctx, q.prefix, yggr.PrefixEnd(q.prefix), 0, yggr.ReadRevision(&rev))
			if err != nil {
				yield(Leader{}, err)
				return
			}
			cands := map[string]yggr.Item{}
			for _, it := range q.members(items) {
				cands[string(it.Key)] = it
			}
			if l, ok := lowest(cands); ok && !l.same(last) {
				if !yield(l, nil) {
					return
				}
				last = l
			}
			for c, err := range db.Watch(ctx, q.prefix, yggr.PrefixEnd(q.prefix), yggr.FromRevision(rev+1)) {
				if errors.Is(err, yggr.ErrCompacted) {
					break // read the election again
				}
				if err != nil {
					yield(Leader{}, err)
					return
				}
				for _, ev := range c.Events {
					switch {
					case !q.member(ev.Item.Key):
					case ev.Type == yggr.EventDelete:
						delete(cands, string(ev.Item.Key))
					default:
						cands[string(ev.Item.Key)] = ev.Item
					}
				}
				if l, ok := lowest(cands); ok && !l.same(last) {
					if !yield(l, nil) {
						return
					}
					last = l
				}
			}
		}
	}
}

// lowest returns the candidate with the smallest CreateIndex: the leader.
func lowest(cands map[string]yggr.Item) (Leader, bool) {
	var best yggr.Item
	found := false
	for _, it := range cands {
		if !found || it.CreateIndex < best.CreateIndex {
			best, found = it, true
		}
	}
	if !found {
		return Leader{}, false
	}
	return leaderOf(best), true
}
