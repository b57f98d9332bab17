package watch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/yggrdb/yggr/internal/kv"
)

// Change is the events of one revision (the log index of the command that
// made them), in the order the command made them.
type Change struct {
	Revision uint64
	Events   []kv.Event
	weight   int
}

// NewChange returns a change holding events (not copied).
func NewChange(revision uint64, events []kv.Event) *Change {
	c := &Change{Revision: revision, Events: events, weight: changeOverhead}
	for _, ev := range events {
		c.weight += ev.Weight()
	}
	return c
}

// changeOverhead is the Change struct and its pointer in a queue.
const changeOverhead = 64

// ErrClosed ends the watches of a closed hub.
var ErrClosed = errors.New("watch: closed")

// BehindError: the watcher needs revisions from From on, which the ring no
// longer holds; the caller replays them from its history and calls
// Resume.
type BehindError struct{ From uint64 }

func (e *BehindError) Error() string {
	return fmt.Sprintf("watch: revision %d is no longer cached", e.From)
}

// Options bound a hub's memory.
type Options struct {
	// CacheBytes bounds the ring of recent changes. Default 8 MiB.
	CacheBytes int
	// BufferBytes bounds each watcher's queue. Default 1 MiB.
	BufferBytes int
	// MaxBatch bounds the changes one Next returns. Default 256.
	MaxBatch int
}

func (o Options) withDefaults() Options {
	if o.CacheBytes <= 0 {
		o.CacheBytes = 8 << 20
	}
	if o.BufferBytes <= 0 {
		o.BufferBytes = 1 << 20
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	return o
}

// Hub is the fan-out point. Publish, Advance and Reset are called by the
// apply goroutine; everything else by any goroutine.
type Hub struct {
	opts Options

	mu     sync.Mutex
	closed bool
	head   uint64 // the last revision applied (Advance)
	last   uint64 // the last revision published; may pass head within a batch
	// ring holds the changes (floor, head], ascending; ringStart is the
	// index of the oldest in ring (the slice is trimmed in steps).
	ring      []*Change
	ringStart int
	ringBytes int
	floor     uint64

	prefixes map[string][]*Watcher // live prefix watchers by prefix
	lens     []int                 // the distinct prefix lengths watched, ascending, with
	lenCount map[int]int           // how many prefixes have each
	ranges   []*Watcher            // live watchers over other ranges
	watchers int                   // open watchers, live or not
	queued   int                   // bytes in every watcher's queue

	touched []*Watcher // scratch for Publish
	dirty   []*Watcher // watchers to wake at the next Advance
}

// New returns a hub whose state machine was restored to (or starts at)
// revision head.
func New(head uint64, opts Options) *Hub {
	return &Hub{opts: opts.withDefaults(), head: head, floor: head, prefixes: map[string][]*Watcher{}, lenCount: map[int]int{}}
}

// Publish records the events a command made at revision (above every
// revision published before). The hub keeps events; the caller must not
// reuse the slice.
func (h *Hub) Publish(revision uint64, events []kv.Event) {
	if len(events) == 0 {
		return
	}
	c := NewChange(revision, events)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || revision <= max(h.head, h.last) {
		return
	}
	h.last = revision
	h.ring = append(h.ring, c)
	h.ringBytes += c.weight
	for h.ringBytes > h.opts.CacheBytes && len(h.ring)-h.ringStart > 1 {
		old := h.ring[h.ringStart]
		h.ring[h.ringStart] = nil
		h.ringStart++
		h.ringBytes -= old.weight
		h.floor = old.Revision
	}
	if h.ringStart > 1024 && h.ringStart > len(h.ring)/2 {
		h.ring = append(h.ring[:0], h.ring[h.ringStart:]...)
		clear(h.ring[len(h.ring) : len(h.ring)+h.ringStart])
		h.ringStart = 0
	}
	h.fanOut(c)
}

// fanOut appends c, filtered, to the queue of every live watcher whose
// range holds one of its keys. h.mu held.
func (h *Hub) fanOut(c *Change) {
	if len(h.prefixes) == 0 && len(h.ranges) == 0 {
		return
	}
	touched := h.touched[:0]
	for _, ev := range c.Events {
		key := ev.Key()
		add := func(w *Watcher) {
			if c.Revision < w.next {
				return // a watch that starts later
			}
			if w.cur != c {
				w.cur, w.curEvents = c, w.curEvents[:0]
				touched = append(touched, w)
			}
			w.curEvents = append(w.curEvents, ev)
		}
		for _, n := range h.lens {
			if n > len(key) {
				break
			}
			for _, w := range h.prefixes[key[:n]] {
				add(w)
			}
		}
		for _, w := range h.ranges {
			if w.contains(key) {
				add(w)
			}
		}
	}
	for _, w := range touched {
		wc := c
		if len(w.curEvents) != len(c.Events) {
			wc = NewChange(c.Revision, slices.Clone(w.curEvents))
		}
		w.cur, w.curEvents = nil, w.curEvents[:0]
		if len(w.queue) > 0 && w.queued+wc.weight > h.opts.BufferBytes {
			// Overflow: deliver what is queued, then go on from here
			// through the ring (or the caller's history).
			h.unindex(w)
			w.live, w.next = false, c.Revision
		} else {
			w.queue = append(w.queue, wc)
			w.queued += wc.weight
			h.queued += wc.weight
		}
		if !w.dirty {
			w.dirty = true
			h.dirty = append(h.dirty, w)
		}
	}
	clear(touched)
	h.touched = touched[:0]
}

// Advance records that everything up to revision is applied and wakes the
// watchers with new changes.
func (h *Hub) Advance(revision uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.head = max(h.head, revision)
	for _, w := range h.dirty {
		w.dirty = false
		w.wake()
	}
	clear(h.dirty)
	h.dirty = h.dirty[:0]
}

// Reset records that the state machine jumped to revision (a snapshot was
// installed): the changes in between are unknown here, so the ring starts
// over and every live watcher goes on through the caller's history.
func (h *Hub) Reset(revision uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if revision <= max(h.head, h.last) {
		return
	}
	clear(h.ring)
	h.ring, h.ringStart, h.ringBytes = h.ring[:0], 0, 0
	for _, w := range slices.Concat(h.ranges, slices.Concat(mapsValues(h.prefixes)...)) {
		if w.next <= revision {
			h.unindex(w)
			w.live, w.next = false, max(w.next, h.head+1, h.last+1)
			w.wake()
		}
	}
	h.head, h.last, h.floor = revision, revision, revision
}

func mapsValues(m map[string][]*Watcher) [][]*Watcher {
	out := make([][]*Watcher, 0, len(m))
	for _, ws := range m {
		out = append(out, ws)
	}
	return out
}

// Close ends every watch with ErrClosed.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, w := range h.ranges {
		w.wake()
	}
	for _, ws := range h.prefixes {
		for _, w := range ws {
			w.wake()
		}
	}
}

// Closed reports whether Close was called.
func (h *Hub) Closed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

// Head returns the last revision applied.
func (h *Hub) Head() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.head
}

// Top returns the last revision applied or published: a watch from Top()+1
// sees only what comes next.
func (h *Hub) Top() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return max(h.head, h.last)
}

// Stats describes the hub for metrics.
type Stats struct {
	Watchers   int    // open watchers
	CacheBytes int    // bytes in the ring
	Floor      uint64 // the ring holds the changes above it
	// QueuedBytes is the changes waiting in every watcher's queue, each
	// queue at most Options.BufferBytes or one change.
	QueuedBytes int
}

// Stats returns the hub's current numbers.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Stats{Watchers: h.watchers, CacheBytes: h.ringBytes, Floor: h.floor, QueuedBytes: h.queued}
}

// Watcher follows the changes to one key range. Its methods are for one
// goroutine at a time.
type Watcher struct {
	hub        *Hub
	start, end []byte // end nil: no upper bound
	prefix     string // the range as a prefix, if it is one
	isPrefix   bool
	notify     chan struct{}

	// Guarded by hub.mu.
	live      bool
	next      uint64 // not live: the next revision to read; live: the first revision to queue
	queue     []*Change
	queued    int
	dirty     bool
	cur       *Change // Publish's scratch: the change being filtered
	curEvents []kv.Event
	closed    bool
}

// Watch opens a watcher over start ≤ key < end (end nil: no bound) from
// revision from on (0: from the next revision applied).
func (h *Hub) Watch(start, end []byte, from uint64) (*Watcher, error) {
	w := &Watcher{hub: h, start: bytes.Clone(start), end: bytes.Clone(end), notify: make(chan struct{}, 1)}
	if end != nil && kv.PrefixEnd(start) != nil && bytes.Equal(kv.PrefixEnd(start), end) || end == nil && len(start) == 0 {
		w.prefix, w.isPrefix = string(start), true
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	h.watchers++
	if top := max(h.head, h.last); from == 0 || from > top {
		w.next = max(from, top+1)
		w.live = true
		h.index(w)
	} else {
		w.next = from
	}
	return w, nil
}

// Close ends the watcher. It is safe to call more than once.
func (w *Watcher) Close() {
	h := w.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if w.closed {
		return
	}
	w.closed = true
	h.watchers--
	if w.live {
		h.unindex(w)
	}
	h.queued -= w.queued
	w.queue, w.queued = nil, 0
}

func (w *Watcher) wake() {
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

func (w *Watcher) contains(key string) bool {
	return key >= string(w.start) && (w.end == nil || key < string(w.end))
}

// index adds a live watcher to the range index. h.mu held.
func (h *Hub) index(w *Watcher) {
	if !w.isPrefix {
		h.ranges = append(h.ranges, w)
		return
	}
	if len(h.prefixes[w.prefix]) == 0 {
		n := len(w.prefix)
		if h.lenCount[n] == 0 {
			i := sort.SearchInts(h.lens, n)
			h.lens = slices.Insert(h.lens, i, n)
		}
		h.lenCount[n]++
	}
	h.prefixes[w.prefix] = append(h.prefixes[w.prefix], w)
}

// unindex removes a watcher from the range index. h.mu held.
func (h *Hub) unindex(w *Watcher) {
	if !w.isPrefix {
		h.ranges = slices.DeleteFunc(h.ranges, func(x *Watcher) bool { return x == w })
		return
	}
	ws := slices.DeleteFunc(h.prefixes[w.prefix], func(x *Watcher) bool { return x == w })
	if len(ws) > 0 {
		h.prefixes[w.prefix] = ws
		return
	}
	delete(h.prefixes, w.prefix)
	n := len(w.prefix)
	if h.lenCount[n]--; h.lenCount[n] == 0 {
		delete(h.lenCount, n)
		i := sort.SearchInts(h.lens, n)
		h.lens = slices.Delete(h.lens, i, i+1)
	}
}

// Filter returns c's events in the watcher's range as a change (c itself
// if all are), or nil if none is.
func (w *Watcher) Filter(c *Change) *Change {
	var in []kv.Event
	for i, ev := range c.Events {
		if !w.contains(ev.Key()) {
			if in == nil {
				in = slices.Clone(c.Events[:i])
			}
			continue
		}
		if in != nil {
			in = append(in, ev)
		}
	}
	switch {
	case in == nil:
		return c
	case len(in) == 0:
		return nil
	}
	return NewChange(c.Revision, in)
}

// Next returns the watcher's next changes, in revision order, waiting
// until there are some. It returns (nil, nil) when tick fires first (the
// caller may send a progress notification), a *BehindError when the
// changes it needs are no longer cached, ErrClosed when the hub closes,
// and ctx's error when ctx ends.
func (w *Watcher) Next(ctx context.Context, tick <-chan time.Time) ([]*Change, error) {
	h := w.hub
	for {
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			return nil, ErrClosed
		}
		if len(w.queue) > 0 {
			q := w.queue
			h.queued -= w.queued
			w.queue, w.queued = nil, 0
			h.mu.Unlock()
			return q, nil
		}
		if !w.live {
			out, err := w.readRingLocked()
			h.mu.Unlock()
			if err != nil || len(out) > 0 {
				return out, err
			}
			continue
		}
		h.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick:
			return nil, nil
		case <-w.notify:
		}
	}
}

// readRingLocked reads the changes in range from w.next on from the ring,
// up to MaxBatch of them, and makes the watcher live once it has read to
// the head. h.mu held.
func (w *Watcher) readRingLocked() ([]*Change, error) {
	h := w.hub
	if w.next <= h.floor {
		return nil, &BehindError{From: w.next}
	}
	ring := h.ring[h.ringStart:]
	i, _ := slices.BinarySearchFunc(ring, w.next, func(c *Change, rev uint64) int {
		return cmpUint(c.Revision, rev)
	})
	var out []*Change
	for ; i < len(ring) && len(out) < h.opts.MaxBatch; i++ {
		if c := w.Filter(ring[i]); c != nil {
			out = append(out, c)
		}
		w.next = ring[i].Revision + 1
	}
	if i == len(ring) {
		w.next = max(w.next, h.head+1, h.last+1)
		w.live = true
		h.index(w)
	}
	return out, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Resume hands the watcher back after the caller delivered every change
// below next from its history. It reports whether the hub can go on from
// there (false: the ring has moved past next; replay further).
func (w *Watcher) Resume(next uint64) bool {
	h := w.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	w.next = max(w.next, next)
	return w.next > h.floor
}

// Position returns the revision through which Next has returned every
// change in the watcher's range, for a progress notification.
func (w *Watcher) Position() uint64 {
	h := w.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case len(w.queue) > 0:
		return w.queue[0].Revision - 1
	case w.live:
		return max(h.head, h.last, w.next-1)
	}
	return w.next - 1
}

// Head returns the hub's head: the caller replays up to it.
func (w *Watcher) Head() uint64 { return w.hub.Head() }
