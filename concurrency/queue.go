package concurrency

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/yggrdb/yggr"
)

// A queue is the keys under one lock's or election's name, ordered by
// their CreateIndex: the first is the holder (or leader), the others wait,
// each for the key created just before its own.
type queue struct {
	s      *Session
	name   string
	prefix []byte // name + "/"
}

func newQueue(s *Session, name string) queue {
	return queue{s: s, name: name, prefix: []byte(name + "/")}
}

// keySuffixLen is the length of what follows the prefix in a queue key:
// 16 hex digits of lease, a dash, 16 hex digits of nonce.
const keySuffixLen = 16 + 1 + 16

// member reports whether key is a queue key of q (and not, say, a key of a
// lock whose name starts with q's name and a slash).
func (q queue) member(key []byte) bool {
	rest, ok := bytes.CutPrefix(key, q.prefix)
	if !ok || len(rest) != keySuffixLen || rest[16] != '-' {
		return false
	}
	for i, c := range rest {
		if i != 16 && !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// check validates a key and creation revision handed back by a client.
func (q queue) check(key []byte, rev uint64) error {
	if err := checkName(q.name); err != nil {
		return err
	}
	if !q.member(key) {
		return fmt.Errorf("%w: %q is not a key of %q", yggr.ErrInvalid, key, q.name)
	}
	if rev == 0 {
		return fmt.Errorf("%w: revision 0", yggr.ErrInvalid)
	}
	return nil
}

// opTimeout bounds the writes a queue makes on a caller's behalf after
// the caller stopped waiting (the outcome of a create, the removal of a
// key): long enough for an election, short enough not to hang.
const opTimeout = 10 * time.Second

// checkName rejects names a queue cannot use.
func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty lock or election name", yggr.ErrInvalid)
	}
	return nil
}

// create adds a key with value to the queue, attached to the session's
// lease, and returns it with its CreateIndex. The write runs to its outcome
// (bounded by opTimeout) even if ctx ends meanwhile; if ctx has ended, or
// the write failed, it removes the key again before it returns the error,
// so that a cancelled or failed call leaves nothing behind (see the
// package's caveats for when the cluster cannot be reached).
func (q queue) create(ctx context.Context, value []byte) ([]byte, uint64, error) {
	if err := checkName(q.name); err != nil {
		return nil, 0, err
	}
	if err := q.s.Err(); err != nil {
		return nil, 0, err
	}
	for {
		key := fmt.Appendf(bytes.Clone(q.prefix), "%016x-%016x", uint64(q.s.id), rand.Uint64())
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
		res, err := q.s.db.Txn(wctx, yggr.Txn{
			Compares: []yggr.Compare{{Key: key, Target: yggr.CmpMissing}},
			Then:     []yggr.Request{{Op: yggr.OpPut, Key: key, Value: value, Lease: uint64(q.s.id)}},
		})
		cancel()
		switch {
		case err != nil:
			q.remove(ctx, key, 0)
			if errors.Is(err, yggr.ErrLeaseNotFound) {
				return nil, 0, q.sessionErr()
			}
			return nil, 0, err
		case !res.Succeeded:
			continue // a nonce taken already (by chance, or a restarted process): draw another
		case ctx.Err() != nil:
			q.remove(ctx, key, res.Index)
			return nil, 0, ctx.Err()
		}
		return key, res.Index, nil
	}
}

// sessionErr is the session's error, or ErrSessionExpired if the lease
// is gone before the session has noticed.
func (q queue) sessionErr() error {
	if err := q.s.Err(); err != nil {
		return err
	}
	return fmt.Errorf("%w: %w: lease %d", ErrSessionExpired, yggr.ErrLeaseNotFound, q.s.id)
}

// remove deletes key (only the one created at rev, or any if rev is 0),
// under a context detached from the caller's ctx and bounded by opTimeout.
// It reports whether the key was still there.
func (q queue) remove(ctx context.Context, key []byte, rev uint64) (bool, error) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opTimeout)
	defer cancel()
	t := yggr.Txn{Then: []yggr.Request{{Op: yggr.OpDelete, Key: key}}}
	if rev != 0 {
		t.Compares = []yggr.Compare{{Key: key, Target: yggr.CmpCreateIndex, CreateIndex: rev}}
	}
	res, err := q.s.db.Txn(dctx, t)
	if err != nil {
		return false, err
	}
	return res.Succeeded && len(res.Results) == 1 && res.Results[0].Found, nil
}

// list returns the queue's keys in CreateIndex order and the revision it
// read them at.
func (q queue) list(ctx context.Context) ([]yggr.Item, uint64, error) {
	var rev uint64
	items, _, err := q.s.db.List(ctx, q.prefix, yggr.PrefixEnd(q.prefix), 0, yggr.ReadRevision(&rev))
	if err != nil {
		return nil, 0, err
	}
	return q.members(items), rev, nil
}

// members keeps the queue keys of items, in CreateIndex order.
func (q queue) members(items []yggr.Item) []yggr.Item {
	out := items[:0]
	for _, it := range items {
		if q.member(it.Key) {
			out = append(out, it)
		}
	}
	sortByCreate(out)
	return out
}

// waitTurn waits until key (created at rev) is the first of the queue:
// every key created before it is gone. It watches only its predecessor,
// the key created just before its own; when that goes it reads the queue
// again, since the predecessor may have left while keys before it remain.
// It fails with errKeyGone if key itself is gone, with the session's error
// when the session ends, and with ctx's error when ctx ends.
func (q queue) waitTurn(ctx context.Context, key []byte, rev uint64) error {
	ctx, cancel := q.bind(ctx)
	defer cancel()
	for {
		items, at, err := q.list(ctx)
		if err != nil {
			return q.cause(ctx, err)
		}
		var pred *yggr.Item
		mine := false
		for i := range items {
			switch it := &items[i]; {
			case it.CreateIndex == rev && bytes.Equal(it.Key, key):
				mine = true
			case it.CreateIndex < rev:
				pred = it // items are in CreateIndex order: the last one before rev
			}
		}
		if !mine {
			return errKeyGone
		}
		if pred == nil {
			return nil
		}
		if h := q.s.hooks; h != nil && h.waiting != nil {
			h.waiting(key, pred.Key)
		}
		if err := q.waitDelete(ctx, pred.Key, key, at+1); err != nil {
			return q.cause(ctx, err)
		}
	}
}

// errKeyGone: a queue key disappeared while its owner waited or held it:
// its session's lease was revoked, or someone deleted it.
var errKeyGone = errors.New("concurrency: the key is gone")

// waitDelete waits until pred (the predecessor) or mine (the waiter's own
// key, which goes if the lease ends) is deleted at or after revision from:
// two single-key watches, so that no other key's change wakes the waiter.
// A watch whose start was compacted away returns at once: the caller reads
// the queue again.
func (q queue) waitDelete(ctx context.Context, pred, mine []byte, from uint64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 2)
	for _, key := range [][]byte{pred, mine} {
		// A watcher: owned by this wait, it ends when the first of the
		// two keys goes (cancel) or ctx ends.
		go func() { done <- q.watchDelete(ctx, key, from) }()
	}
	err := <-done
	cancel()
	<-done
	return err
}

// watchDelete waits until key is deleted at or after revision from.
func (q queue) watchDelete(ctx context.Context, key []byte, from uint64) error {
	end := append(bytes.Clone(key), 0)
	for c, err := range q.s.db.Watch(ctx, key, end, yggr.FromRevision(from)) {
		if errors.Is(err, yggr.ErrCompacted) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, ev := range c.Events {
			if ev.Type == yggr.EventDelete {
				return nil
			}
		}
	}
	return ctx.Err() // the watch ends only with an error; not reached
}

// bind returns a context that also ends when the session ends.
func (q queue) bind(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(q.s.ctx, func() { cancel(q.s.Err()) })
	return ctx, func() { stop(); cancel(nil) }
}

// cause turns the error of an operation under a bound context into the
// session's error if the session ended, or ctx's error if ctx ended.
func (q queue) cause(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return err
}
