package yggr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/kv"
	"github.com/yggrdb/yggr/internal/node"
	"github.com/yggrdb/yggr/internal/watch"
)

// EventType is what a change did to a key.
type EventType uint8

const (
	// EventPut: the key was created or overwritten.
	EventPut EventType = iota + 1
	// EventDelete: the key was deleted.
	EventDelete
)

func (t EventType) String() string {
	switch t {
	case EventPut:
		return "put"
	case EventDelete:
		return "delete"
	}
	return fmt.Sprintf("EventType(%d)", uint8(t))
}

// Event is one change to one key.
type Event struct {
	Type EventType
	// Item is the key after a put: Key, Value, CreateIndex, ModIndex (the
	// change's revision) and Version. After a delete only Key and ModIndex
	// (the revision of the delete) are set.
	Item Item
	// Prev is the item before the change, if the watch asked for it
	// (WithPrevItem) and the key existed; nil otherwise.
	Prev *Item
}

// Change is what a watch yields: the events of one revision in the
// watched range, or a progress notification.
type Change struct {
	// Revision is the log index of the command that made the events (its
	// events share it), or for a progress notification the revision
	// through which every change in the range has been yielded.
	Revision uint64
	// Events are the changes the command made in the range, in the order
	// it made them: a transaction's changes arrive together. Empty for a
	// progress notification.
	Events []Event
}

// IsProgress reports whether c is a progress notification: no change in
// the range up to c.Revision has been left out.
func (c Change) IsProgress() bool { return len(c.Events) == 0 }

// ErrCompacted matches a *CompactedError.
var ErrCompacted = node.ErrHistoryCompacted

// CompactedError ends a watch whose next revision is older than the
// history this node keeps (DB.OldestRevision; WithWatchHistory keeps
// more). Oldest is the oldest revision it can still
// watch from: list the range again (ReadRevision tells the revision of the
// list) and watch on from there.
//
//	type CompactedError struct {
//		Requested uint64 // the revision asked for
//		Oldest    uint64 // the oldest revision still available
//	}
type CompactedError = node.HistoryCompactedError

// WatchOption configures Watch.
type WatchOption func(*watchOptions)

type watchOptions struct {
	from     uint64
	prev     bool
	progress time.Duration
}

// FromRevision starts the watch at revision (inclusive): every change
// with a revision at or above it is yielded. To resume a watch, pass the
// last revision seen + 1; to follow a range after reading it, pass the
// read's revision + 1 (see ReadRevision). Without it (or with 0) the
// watch starts after the changes this node had applied when Watch was
// called.
func FromRevision(revision uint64) WatchOption {
	return func(o *watchOptions) { o.from = revision }
}

// WithPrevItem sets Event.Prev: the item as it was before each change.
func WithPrevItem() WatchOption { return func(o *watchOptions) { o.prev = true } }

// WithProgressNotify yields a progress notification (a Change with no
// events, see Change.IsProgress) whenever interval passes without a change
// in the range, so that a program knows how current it is. Zero (the
// default) sends none.
func WithProgressNotify(interval time.Duration) WatchOption {
	return func(o *watchOptions) { o.progress = interval }
}

// WatchSettings are what a list of WatchOptions selects, for a client that
// has a watch served elsewhere (httpapi.Client sends them to a node).
type WatchSettings struct {
	From           uint64        // FromRevision; 0: none
	PrevItem       bool          // WithPrevItem
	ProgressNotify time.Duration // WithProgressNotify; 0: none
}

// WatchSettingsOf returns the settings opts select.
func WatchSettingsOf(opts ...WatchOption) WatchSettings {
	var o watchOptions
	for _, opt := range opts {
		opt(&o)
	}
	return WatchSettings{From: o.from, PrevItem: o.prev, ProgressNotify: o.progress}
}

// Watch yields the changes to the keys in [start, end) (end nil: to the
// last key; use PrefixEnd for a prefix) in revision order: every change
// this node applies, each once, with no gap, from the starting revision
// (see FromRevision) on. It works on any node; a follower yields what it
// has applied. The iterator runs until ctx ends or the loop breaks; it
// yields one error and stops when the watch cannot go on: ctx's error, a
// *CompactedError when the next revision is older than this node's
// history, ErrClosed when the database closes.
//
// A watch never slows the database down. Changes wait for a slow consumer
// in a buffer bounded by WithWatchBuffer; one that falls further behind
// goes on from the cache of recent changes (WithWatchCache), then from the
// Raft log, and catches up at its own pace. The log holds the history
// back to the oldest retained snapshot; replaying from it rebuilds that
// snapshot's state in memory, one watch at a time per node, so it costs
// about as much memory and time as a restart's restore. A consumer slower
// than the replay gets its changes in steps of about 1 MiB, each rebuilt
// anew, so that it never holds up the replays of other watches.
//
// To follow a range from its current contents (list, then watch):
//
//	var rev uint64
//	items, _, err := db.List(ctx, prefix, yggr.PrefixEnd(prefix), 0, yggr.ReadRevision(&rev))
//	// ... use items ...
//	for c, err := range db.Watch(ctx, prefix, yggr.PrefixEnd(prefix), yggr.FromRevision(rev+1)) {
//		if err != nil { ... }
//		// ... apply c.Events ...
//	}
func (db *DB) Watch(ctx context.Context, start, end []byte, opts ...WatchOption) iter.Seq2[Change, error] {
	var wo watchOptions
	for _, o := range opts {
		o(&wo)
	}
	if wo.from == 0 {
		wo.from = db.hub.Top() + 1 // now, not when the iteration starts
	}
	return func(yield func(Change, error) bool) {
		if end != nil && bytes.Compare(start, end) >= 0 {
			yield(Change{}, fmt.Errorf("%w: watch range [%q, %q) is empty", ErrInvalid, start, end))
			return
		}
		w, err := db.hub.Watch(start, end, wo.from)
		if err != nil {
			yield(Change{}, watchError(err))
			return
		}
		defer w.Close()
		var tick <-chan time.Time
		if wo.progress > 0 {
			t := time.NewTicker(wo.progress)
			defer t.Stop()
			tick = t.C
		}
		quiet := true // nothing yielded since the last tick
		for {
			cs, err := w.Next(ctx, tick)
			var behind *watch.BehindError
			switch {
			case errors.As(err, &behind):
				more, err := db.replay(ctx, w, behind.From, wo, yield)
				if !more {
					return
				}
				if err != nil {
					yield(Change{}, watchError(err))
					return
				}
				quiet = false
			case err != nil:
				yield(Change{}, watchError(err))
				return
			case cs == nil: // the progress tick
				if quiet && !yield(Change{Revision: w.Position()}, nil) {
					return
				}
				quiet = true
			default:
				for _, c := range cs {
					if !yield(toChange(c, wo.prev), nil) {
						return
					}
				}
				quiet = false
			}
		}
	}
}

// OldestRevision returns the oldest revision a watch on this node can
// start from (FromRevision) right now: the start of the cache of recent
// changes or of the history in the log, whichever reaches further back.
// A watch from an older revision ends with a *CompactedError. It only
// moves forward, as the node compacts its log, so a watch from it may
// still find it compacted if a compaction comes first.
func (db *DB) OldestRevision() uint64 {
	return min(db.node.OldestHistory(), db.hub.Stats().Floor+1)
}

// watchError maps the watch package's errors to the database's.
func watchError(err error) error {
	if errors.Is(err, watch.ErrClosed) {
		return ErrClosed
	}
	return err
}

func toChange(c *watch.Change, prev bool) Change {
	out := Change{Revision: c.Revision, Events: make([]Event, len(c.Events))}
	for i, ev := range c.Events {
		e := &out.Events[i]
		e.Type, e.Item = EventPut, ev.Item(c.Revision)
		if ev.IsDelete() {
			e.Type = EventDelete
		}
		if prev {
			if p, ok := ev.Prev(); ok {
				e.Prev = &p
			}
		}
	}
	return out
}

// replayBatchBytes is how much log a replay reads at a time.
const replayBatchBytes = 4 << 20

// replayYieldBytes is about how many bytes of changes a replay collects
// before it stops rebuilding and hands them to the consumer.
const replayYieldBytes = 1 << 20

// replay yields the changes in w's range from revision from on, rebuilt
// from the log, until the hub can serve the watcher again. It reports
// false when the consumer stopped (yield returned false); an error ends
// the watch. The rebuilding (one at a time per node) and the consumer's
// pace are kept apart: a consumer that stops reading must not hold up
// the other watches that replay on this node. So each step rebuilds the
// state at its start, collects up to replayYieldBytes of changes and lets
// go of the state and of the node's replay slot before yielding them.
//
// Close closes the hub before the node: a replay whose log or snapshot
// reads fail once the hub is closed ends with watch.ErrClosed (ErrClosed
// to the user), not the store's own "closed" error (TestWatchChaos).
func (db *DB) replay(ctx context.Context, w *watch.Watcher, from uint64, wo watchOptions, yield func(Change, error) bool) (bool, error) {
	for next := from; ; {
		cs, after, resumed, err := db.replayStep(ctx, w, next)
		for _, c := range cs {
			if !yield(toChange(c, wo.prev), nil) {
				return false, nil
			}
		}
		if err != nil && ctx.Err() == nil && db.hub.Closed() {
			err = watch.ErrClosed
		}
		if err != nil || resumed {
			return true, err
		}
		next = after
	}
}

// replayStep rebuilds the history up to from-1 and reads on, collecting
// the changes in w's range, until the hub takes the watcher back (resumed),
// about replayYieldBytes are collected, or an error. It returns the
// changes and the revision after them.
func (db *DB) replayStep(ctx context.Context, w *watch.Watcher, from uint64) (cs []*watch.Change, next uint64, resumed bool, err error) {
	select {
	case db.replaySem <- struct{}{}:
		defer func() { <-db.replaySem }()
	case <-ctx.Done():
		return nil, from, false, ctx.Err()
	}
	store := kv.New()
	base, release, err := db.node.OpenHistory(from-1, replayMachine{store})
	if err != nil {
		return nil, from, false, err
	}
	defer release()
	var events []kv.Event
	store.Record(&events)
	next = base + 1
	size := 0
	for {
		if err := ctx.Err(); err != nil {
			return cs, next, false, err
		}
		if next >= from && w.Resume(next) {
			return cs, next, true, nil
		}
		if size >= replayYieldBytes {
			return cs, next, false, nil
		}
		target := min(w.Head(), db.node.Applied())
		if next > target {
			// Cannot happen: the hub's floor is at most its head. Wait
			// for the head rather than spin if it ever does.
			if err := db.node.WaitApplied(ctx, next); err != nil {
				return cs, next, false, err
			}
			continue
		}
		es, err := db.node.History(next, target+1, replayBatchBytes)
		if err != nil {
			return cs, next, false, err
		}
		if len(es) == 0 {
			// This node applied next before its log write of it finished
			// (a follower may): wait for the write.
			select {
			case <-ctx.Done():
				return cs, next, false, ctx.Err()
			case <-time.After(time.Millisecond):
			}
			continue
		}
		for _, e := range es {
			if e.Type == engine.EntryNormal {
				store.Apply(e.Index, e.Data)
			}
			if len(events) > 0 {
				if e.Index >= from {
					if c := w.Filter(watch.NewChange(e.Index, events)); c != nil {
						cs = append(cs, c)
						for _, ev := range c.Events {
							size += ev.Weight()
						}
					}
				}
				events = nil
			}
			next = e.Index + 1
		}
	}
}

// replayMachine is the state machine a replay restores its base into.
type replayMachine struct{ *kv.Store }

func (replayMachine) Snapshot() (io.WriterTo, error) {
	return nil, errors.New("yggr: a replay takes no snapshots")
}
