package concurrency

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/yggrdb/yggr"
)

// Mutex errors.
var (
	// ErrLocked: TryLock found the lock held by another holder.
	ErrLocked = errors.New("concurrency: locked by another holder")
	// ErrAlreadyHeld: Lock or TryLock on a Mutex that holds the lock or
	// is acquiring it. Use one Mutex per holder.
	ErrAlreadyHeld = errors.New("concurrency: this Mutex already holds or is acquiring the lock")
	// ErrNotHeld: Unlock or Txn on a Mutex that does not hold the lock.
	ErrNotHeld = errors.New("concurrency: this Mutex does not hold the lock")
	// ErrLockLost: the lock was held but its key is gone (the session
	// expired, or the key was deleted): another holder may have it now.
	// Stop acting as the holder.
	ErrLockLost = errors.New("concurrency: the lock was lost")
)

// Mutex is a distributed lock, fair and fenced. Holders are served in the
// order they called Lock; each holder has a fencing token larger than
// every earlier holder's (see the package documentation). The lock lives
// as long as the Session it was taken in: if the session ends, the lock is
// released.
//
// A Mutex is safe for concurrent use; it holds or acquires the lock once
// at a time.
type Mutex struct {
	q queue

	mu        sync.Mutex
	acquiring bool
	key       []byte // the key while held, nil otherwise
	rev       uint64 // its CreateIndex: the fencing token
}

// NewMutex returns a lock named name in session s. Every Mutex with the
// same name, in any session on any node of the cluster, is the same lock.
// The lock's keys live under name + "/".
func NewMutex(s *Session, name string) *Mutex {
	return &Mutex{q: newQueue(s, name)}
}

// ResumeMutex returns a Mutex of session s that holds the lock name
// through key, whose creation revision is token, as an earlier Mutex's
// Lock left them (Key, Token): to write under the lock, or unlock it, from
// another request or process (the HTTP API's unlock). It fails with
// yggr.ErrInvalid if key is not a key of the lock name. It does not check
// that the key still exists; Txn and Unlock do.
func ResumeMutex(s *Session, name string, key []byte, token uint64) (*Mutex, error) {
	m := NewMutex(s, name)
	if err := m.q.check(key, token); err != nil {
		return nil, err
	}
	m.key, m.rev = slices.Clone(key), token
	return m, nil
}

// Lock waits until it holds the lock. It fails with ctx's error if ctx
// ends first, with the session's error (ErrSessionClosed,
// ErrSessionExpired) if the session ends first, and it then leaves no key
// behind: the next waiter does not wait for it.
func (m *Mutex) Lock(ctx context.Context) error {
	return m.lock(ctx, true)
}

// TryLock takes the lock if no one holds it and no one waits for it, and
// fails with ErrLocked otherwise, without waiting.
func (m *Mutex) TryLock(ctx context.Context) error {
	return m.lock(ctx, false)
}

func (m *Mutex) lock(ctx context.Context, wait bool) error {
	m.mu.Lock()
	if m.acquiring || m.key != nil {
		m.mu.Unlock()
		return ErrAlreadyHeld
	}
	m.acquiring = true
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.acquiring = false
		m.mu.Unlock()
	}()

	key, rev, err := m.q.create(ctx, nil)
	if err != nil {
		return err
	}
	if wait {
		err = m.q.waitTurn(ctx, key, rev)
	} else {
		err = m.q.first(ctx, key, rev)
	}
	if err != nil {
		if errors.Is(err, errKeyGone) {
			err = m.q.sessionErr()
		} else {
			m.q.remove(ctx, key, rev)
		}
		return err
	}
	m.mu.Lock()
	m.key, m.rev = key, rev
	m.mu.Unlock()
	return nil
}

// Unlock releases the lock. If the lock was lost meanwhile (its key is
// gone) it returns ErrLockLost; either way the Mutex no longer holds it.
// If the delete cannot be made (ctx ends, no quorum) it returns that error
// and the Mutex still holds the lock: call Unlock again, or Close the
// session.
func (m *Mutex) Unlock(ctx context.Context) error {
	m.mu.Lock()
	key, rev := m.key, m.rev
	m.mu.Unlock()
	if key == nil {
		return ErrNotHeld
	}
	res, err := m.q.s.db.Txn(ctx, yggr.Txn{
		Compares: []yggr.Compare{m.guard(key, rev)},
		Then:     []yggr.Request{{Op: yggr.OpDelete, Key: key}},
	})
	if err != nil {
		return err
	}
	m.release(key)
	if !res.Succeeded {
		return ErrLockLost
	}
	return nil
}

// release forgets the lock if it is still the one at key.
func (m *Mutex) release(key []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if slices.Equal(m.key, key) {
		m.key, m.rev = nil, 0
	}
}

// Token returns the fencing token of the lock held (0 if not held): the
// CreateIndex of the holder's key. Each holder's token is larger than
// every earlier holder's; give it to every resource written under the
// lock, which must refuse writes with a token smaller than the largest it
// has seen (see the package documentation).
func (m *Mutex) Token() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rev
}

// Key returns the holder's key while the lock is held, nil otherwise.
func (m *Mutex) Key() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.key)
}

// Guard returns a compare that holds exactly while this Mutex still holds
// the lock it holds now: its key exists with the same CreateIndex. Add it
// to a transaction's compares to make the transaction conditional on the
// lock. If the Mutex does not hold the lock, the compare has no key and
// the transaction fails with yggr.ErrInvalid, changing nothing.
func (m *Mutex) Guard() yggr.Compare {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.guard(m.key, m.rev)
}

func (m *Mutex) guard(key []byte, rev uint64) yggr.Compare {
	return yggr.Compare{Key: slices.Clone(key), Target: yggr.CmpCreateIndex, CreateIndex: rev}
}

// Txn applies reqs atomically if and only if this Mutex still holds the
// lock, at the moment they apply. It fails with ErrNotHeld if the Mutex
// does not hold the lock, and with ErrLockLost (changing nothing) if the
// lock was lost: then the Mutex no longer holds it.
func (m *Mutex) Txn(ctx context.Context, reqs ...yggr.Request) (yggr.TxnResult, error) {
	m.mu.Lock()
	key, rev := m.key, m.rev
	m.mu.Unlock()
	if key == nil {
		return yggr.TxnResult{}, ErrNotHeld
	}
	res, err := m.q.s.db.Txn(ctx, yggr.Txn{Compares: []yggr.Compare{m.guard(key, rev)}, Then: reqs})
	if err != nil {
		return res, err
	}
	if !res.Succeeded {
		m.release(key)
		return res, fmt.Errorf("%w: key %q (token %d) is gone", ErrLockLost, key, rev)
	}
	return res, nil
}

// first reports whether key (created at rev) is the first of the queue:
// nil if so, ErrLocked if another key is before it, errKeyGone if it is
// gone.
func (q queue) first(ctx context.Context, key []byte, rev uint64) error {
	items, _, err := q.list(ctx)
	if err != nil {
		return err
	}
	mine := slices.IndexFunc(items, func(it yggr.Item) bool { return it.CreateIndex == rev && bytes.Equal(it.Key, key) })
	switch {
	case mine < 0:
		return errKeyGone
	case items[0].CreateIndex < rev:
		return ErrLocked
	}
	return nil
}

// sortByCreate sorts items by CreateIndex.
func sortByCreate(items []yggr.Item) {
	slices.SortStableFunc(items, func(a, b yggr.Item) int { return cmp.Compare(a.CreateIndex, b.CreateIndex) })
}
