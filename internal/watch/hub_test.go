package watch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// all is every change of src, for replay.
func (s *source) all() []*Change { return s.log }

func mustWatch(t *testing.T, h *Hub, start, end string, from uint64) *Watcher {
	t.Helper()
	var e []byte
	if end != "" {
		e = []byte(end)
	}
	w, err := h.Watch([]byte(start), e, from)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return w
}

func checkDrain(t *testing.T, w *Watcher, src *source, start, end string, from uint64) {
	t.Helper()
	got := render(drain(t, w, src.all, nil))
	if want := src.want(start, end, end != "", from); got != want {
		t.Fatalf("watch [%q, %q) from %d yielded\n%swant\n%s", start, end, from, got, want)
	}
}

func TestRingEvictsByBytes(t *testing.T) {
	src := newSource()
	value := strings.Repeat("v", 100)
	for i := range 10 {
		src.apply(fmt.Sprintf("k%d=%s", i, value)) // equal weights
	}
	one := src.log[0].weight
	bound := 4*one + one/2
	h := New(0, Options{CacheBytes: bound})
	for _, c := range src.log {
		h.Publish(c.Revision, c.Events)
		h.Advance(c.Revision)
	}
	s := h.Stats()
	if s.Floor != 6 || s.CacheBytes != 4*one {
		t.Fatalf("after 10 changes the ring holds (%d, 10] in %d bytes; want (6, 10] in %d bytes (bound %d)", s.Floor, s.CacheBytes, 4*one, bound)
	}
	// From the floor, the watcher is behind; from floor+1 the ring serves it.
	w := mustWatch(t, h, "k", "", 6)
	_, err := w.Next(context.Background(), nil)
	var behind *BehindError
	if !errors.As(err, &behind) || behind.From != 6 {
		t.Fatalf("watch from the floor: %v, want BehindError from 6", err)
	}
	if !strings.Contains(err.Error(), "6") {
		t.Errorf("BehindError text %q does not name the revision", err)
	}
	checkDrain(t, mustWatch(t, h, "k", "", 7), src, "k", "", 7)
}

// A change larger than the whole cache stays in the ring, alone.
func TestRingKeepsOneOversizedChange(t *testing.T) {
	src := newSource()
	h := New(0, Options{CacheBytes: 10})
	src.commit(h, "a=1")
	src.commit(h, "b="+strings.Repeat("x", 100))
	if s := h.Stats(); s.Floor != 1 || s.CacheBytes != src.log[1].weight {
		t.Fatalf("stats %+v: want the ring to hold revision 2 alone", s)
	}
	checkDrain(t, mustWatch(t, h, "", "", 2), src, "", "", 2)
}

// The ring's backing array is trimmed as it slides; reads stay right.
func TestRingSlides(t *testing.T) {
	src := newSource()
	h := New(0, Options{CacheBytes: 3000})
	for i := range 5000 {
		src.commit(h, fmt.Sprintf("k%d=%d", i%7, i))
	}
	if len(h.ring) > 4096 {
		t.Fatalf("the ring's slice holds %d entries for %d live", len(h.ring), len(h.ring)-h.ringStart)
	}
	floor := h.Stats().Floor
	checkDrain(t, mustWatch(t, h, "k3", "k4", floor+1), src, "k3", "k4", floor+1)
	checkDrain(t, mustWatch(t, h, "k", "", 4000), src, "k", "", 4000)
}

func TestPublishIgnoresOldAndEmpty(t *testing.T) {
	src := newSource()
	h := New(5, Options{})
	if h.Head() != 5 || h.Top() != 5 || h.Stats().Floor != 5 {
		t.Fatalf("New(5): head %d top %d floor %d", h.Head(), h.Top(), h.Stats().Floor)
	}
	src.rev = 5
	w := mustWatch(t, h, "", "", 0)
	src.publish(h, "a=1") // 6
	if h.Top() != 6 || h.Head() != 5 {
		t.Fatalf("after Publish(6): top %d head %d, want 6 and 5", h.Top(), h.Head())
	}
	h.Advance(6)
	h.Advance(3) // never backwards
	if h.Head() != 6 {
		t.Fatalf("head %d after Advance(3), want 6", h.Head())
	}
	_, evs := newSource().apply("zzz=old")
	h.Publish(6, evs) // not above the last: ignored
	h.Publish(4, evs)
	h.Publish(9, nil) // no events: ignored
	if h.Top() != 6 {
		t.Fatalf("top %d after ignored publishes, want 6", h.Top())
	}
	checkDrain(t, w, src, "", "", 6)
}

// A watch from beyond the head waits for its revision: nothing before it.
func TestWatchFromFuture(t *testing.T) {
	src := newSource()
	h := New(0, Options{})
	src.commit(h, "a=1")
	w := mustWatch(t, h, "", "", 4)
	if p := w.Position(); p != 3 {
		t.Errorf("position of a watch from 4: %d, want 3", p)
	}
	for i := range 5 {
		src.commit(h, fmt.Sprintf("a=%d", i+2))
	}
	checkDrain(t, w, src, "", "", 4)
}

// From the past, a watcher reads the ring, then goes live without a gap or
// a repeat, even when changes come between its reads.
func TestWatchFromPastThenLive(t *testing.T) {
	src := newSource()
	h := New(0, Options{MaxBatch: 2})
	for i := range 5 {
		src.commit(h, fmt.Sprintf("a/%d=x", i))
	}
	w := mustWatch(t, h, "a/", "a0", 2)
	cs, err := w.Next(context.Background(), nil)
	if err != nil || len(cs) != 2 || cs[0].Revision != 2 || cs[1].Revision != 3 {
		t.Fatalf("first Next from 2 with MaxBatch 2: %s, %v", render(cs), err)
	}
	if w.live {
		t.Fatal("live after reading part of the ring")
	}
	src.commit(h, "a/5=x")
	src.commit(h, "b=x")
	rest := drain(t, w, src.all, nil)
	if !w.live {
		t.Fatal("not live after reading the whole ring")
	}
	src.commit(h, "a/6=x")
	rest = append(rest, drain(t, w, src.all, nil)...)
	if got, want := render(append(cs, rest...)), src.want("a/", "a0", true, 2); got != want {
		t.Fatalf("yielded\n%swant\n%s", got, want)
	}
}

// A watcher whose queue is full leaves the live index at the first change
// that does not fit: it gets what was queued, then the rest from the ring,
// and when the ring has moved on, a BehindError from exactly that change.
func TestQueueOverflow(t *testing.T) {
	src := newSource()
	for i := range 10 {
		src.apply(fmt.Sprintf("k%d=0123456789", i)) // equal weights
	}
	one := src.log[0].weight
	h := New(0, Options{BufferBytes: 3 * one, CacheBytes: 5 * one})
	w := mustWatch(t, h, "", "", 0)
	for _, c := range src.log {
		h.Publish(c.Revision, c.Events)
		h.Advance(c.Revision)
	}
	if w.live || w.queued != 3*one || len(w.queue) != 3 {
		t.Fatalf("after 10 changes: live %v, %d queued in %d bytes; want 3 queued in %d bytes, not live", w.live, len(w.queue), w.queued, 3*one)
	}
	if w.next != 4 {
		t.Fatalf("the overflowing watcher goes on from %d, want 4", w.next)
	}
	cs, err := w.Next(context.Background(), nil)
	if err != nil || len(cs) != 3 || cs[2].Revision != 3 {
		t.Fatalf("first Next: %s, %v; want the 3 queued", render(cs), err)
	}
	if p := w.Position(); p != 3 {
		t.Fatalf("position after the queue: %d, want 3", p)
	}
	_, err = w.Next(context.Background(), nil)
	var behind *BehindError
	if !errors.As(err, &behind) || behind.From != 4 {
		t.Fatalf("second Next: %v, want BehindError from 4 (the ring holds (5, 10])", err)
	}
	if w.Resume(4) {
		t.Fatal("Resume(4) took the watcher back; the ring starts at 6")
	}
	rest := replayLog(t, w, src.all, 4, nil)
	rest = append(rest, drain(t, w, src.all, nil)...)
	if got, want := render(append(cs, rest...)), src.want("", "", false, 1); got != want {
		t.Fatalf("yielded\n%swant\n%s", got, want)
	}
	// Live again: new changes are queued.
	src.commit(h, "k=new")
	if !w.live || len(w.queue) != 1 {
		t.Fatalf("after catching up: live %v, %d queued", w.live, len(w.queue))
	}
}

// A single change larger than the buffer is still queued when the queue is
// empty: the bound is the buffer or one change.
func TestQueueTakesOneOversizedChange(t *testing.T) {
	src := newSource()
	h := New(0, Options{BufferBytes: 1})
	w := mustWatch(t, h, "", "", 0)
	src.commit(h, "a="+strings.Repeat("x", 100))
	src.commit(h, "b=1")
	if w.live || len(w.queue) != 1 || w.next != 2 {
		t.Fatalf("live %v with %d queued, next %d; want the first change queued, then overflow at 2", w.live, len(w.queue), w.next)
	}
	checkDrain(t, w, src, "", "", 1)
}

func TestResume(t *testing.T) {
	src := newSource()
	h := New(0, Options{CacheBytes: 1})
	for i := range 5 {
		src.commit(h, fmt.Sprintf("k=%d", i))
	}
	if f := h.Stats().Floor; f != 4 {
		t.Fatalf("floor %d, want 4 (the ring keeps its last change)", f)
	}
	w := mustWatch(t, h, "", "", 2)
	if w.Resume(3) || w.Resume(4) {
		t.Fatal("Resume at or below the floor (4) succeeded")
	}
	if !w.Resume(5) {
		t.Fatal("Resume above the floor failed")
	}
	if w.Resume(2); w.next != 5 {
		t.Fatalf("Resume(2) moved the watcher back to %d", w.next)
	}
	src.commit(h, "k=5")
	checkDrain(t, w, src, "", "", 5)
}

// Reset (a snapshot installed) empties the ring: live watchers get what
// was queued, then a BehindError from the first revision they have not
// seen; watchers that start after the snapshot stay live.
func TestReset(t *testing.T) {
	src := newSource()
	h := New(0, Options{})
	early := mustWatch(t, h, "", "", 0)
	late := mustWatch(t, h, "", "", 8)
	src.commit(h, "a=1")
	src.commit(h, "a=2")
	src.apply("a=3") // 3..5 reach the state machine through the snapshot
	src.apply("b=1")
	src.apply("-a")
	h.Reset(5)
	if s := h.Stats(); s.Floor != 5 || s.CacheBytes != 0 || h.Head() != 5 || h.Top() != 5 {
		t.Fatalf("after Reset(5): %+v head %d top %d", s, h.Head(), h.Top())
	}
	h.Reset(4) // not above the head: ignored
	if h.Head() != 5 {
		t.Fatalf("Reset(4) moved the head to %d", h.Head())
	}
	if early.live || early.next != 3 || !late.live {
		t.Fatalf("after Reset: early live %v next %d, late live %v", early.live, early.next, late.live)
	}
	for i := range 4 {
		src.commit(h, fmt.Sprintf("c=%d", i)) // 6..9
	}
	cs, err := early.Next(context.Background(), nil)
	if err != nil || len(cs) != 2 {
		t.Fatalf("early watcher's first Next: %s, %v; want its 2 queued changes", render(cs), err)
	}
	_, err = early.Next(context.Background(), nil)
	var behind *BehindError
	if !errors.As(err, &behind) || behind.From != 3 {
		t.Fatalf("early watcher after the queue: %v, want BehindError from 3", err)
	}
	rest := append(replayLog(t, early, src.all, 3, nil), drain(t, early, src.all, nil)...)
	if got, want := render(append(cs, rest...)), src.want("", "", false, 1); got != want {
		t.Fatalf("early watcher yielded\n%swant\n%s", got, want)
	}
	checkDrain(t, late, src, "", "", 8)
}

// Reset wakes a live watcher waiting in Next, which then goes on from the
// caller's history.
func TestResetWakesWaiters(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newSource()
		h := New(0, Options{})
		w := mustWatch(t, h, "", "", 0)
		errc := make(chan error, 1)
		go func() {
			_, err := w.Next(context.Background(), nil)
			errc <- err
		}()
		synctest.Wait() // Next is parked
		src.apply("a=1")
		h.Reset(1)
		synctest.Wait()
		select {
		case err := <-errc:
			var behind *BehindError
			if !errors.As(err, &behind) || behind.From != 1 {
				t.Fatalf("Next after Reset: %v, want BehindError from 1", err)
			}
		default:
			t.Fatal("Reset did not wake the watcher")
		}
	})
}

func TestNextTickAndContext(t *testing.T) {
	src := newSource()
	h := New(0, Options{})
	w := mustWatch(t, h, "", "", 0)
	tick := make(chan time.Time, 1)
	tick <- time.Now()
	cs, err := w.Next(context.Background(), tick)
	if cs != nil || err != nil {
		t.Fatalf("Next on a tick: %v, %v; want nil, nil", cs, err)
	}
	// Queued changes come before the tick.
	src.commit(h, "a=1")
	tick <- time.Now()
	if cs, err := w.Next(context.Background(), tick); err != nil || len(cs) != 1 {
		t.Fatalf("Next with a change and a tick: %s, %v; want the change", render(cs), err)
	}
	<-tick
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := w.Next(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next with a cancelled ctx: %v", err)
	}
}

// A parked Next wakes at the Advance after a change in its range: not at
// the Publish, and not for a change out of its range.
func TestNextWakesAtAdvance(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newSource()
		h := New(0, Options{})
		w := mustWatch(t, h, "a", "b", 0)
		got := make(chan []*Change, 1)
		go func() {
			cs, _ := w.Next(context.Background(), nil)
			got <- cs
		}()
		synctest.Wait()
		src.commit(h, "z=1")  // out of range
		src.commit(h, "")     // an undecodable command: no event
		src.publish(h, "a=2") // in range, not yet advanced
		synctest.Wait()
		select {
		case cs := <-got:
			t.Fatalf("Next returned %s before the Advance", render(cs))
		default:
		}
		h.Advance(src.rev)
		synctest.Wait()
		select {
		case cs := <-got:
			if want := fmt.Sprintf("%d:a=2@%d\n", src.rev, src.rev); render(cs) != want {
				t.Fatalf("woken Next: %q, want %q", render(cs), want)
			}
		default:
			t.Fatal("Advance did not wake the watcher")
		}
	})
}

func TestPosition(t *testing.T) {
	src := newSource()
	h := New(0, Options{})
	w := mustWatch(t, h, "a", "b", 0)
	src.commit(h, "z=1") // out of range: the position still moves
	if p := w.Position(); p != 1 {
		t.Fatalf("position %d, want 1", p)
	}
	src.commit(h, "a=1")
	src.commit(h, "z=2")
	if p := w.Position(); p != 1 {
		t.Fatalf("position with revision 2 queued: %d, want 1", p)
	}
	drain(t, w, src.all, nil)
	if p := w.Position(); p != 3 {
		t.Fatalf("position after draining: %d, want 3", p)
	}
	past := mustWatch(t, h, "a", "b", 2)
	if p := past.Position(); p != 1 {
		t.Fatalf("position of a watch from 2 before it reads: %d, want 1", p)
	}
}

func TestClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		src := newSource()
		h := New(0, Options{})
		a := mustWatch(t, h, "a", "b", 0)
		r := mustWatch(t, h, "a", "c", 0)
		p := mustWatch(t, h, "", "", 5)
		if n := h.Stats().Watchers; n != 3 {
			t.Fatalf("%d watchers, want 3", n)
		}
		a.Close()
		a.Close()
		if n := h.Stats().Watchers; n != 2 {
			t.Fatalf("%d watchers after closing one twice, want 2", n)
		}
		if len(h.prefixes) != 1 || fmt.Sprint(h.lens) != "[0]" || len(h.ranges) != 1 {
			t.Fatalf("index after Close: prefixes %v lens %v ranges %d", h.prefixes, h.lens, len(h.ranges))
		}
		src.commit(h, "a=1")
		if len(a.queue) != 0 {
			t.Fatal("a closed watcher got a change")
		}
		if cs, err := r.Next(context.Background(), nil); err != nil || len(cs) != 1 {
			t.Fatalf("Next: %s, %v", render(cs), err)
		}
		errc := make(chan error, 1)
		go func() {
			_, err := r.Next(context.Background(), nil)
			errc <- err
		}()
		synctest.Wait()
		h.Close()
		synctest.Wait()
		select {
		case err := <-errc:
			if !errors.Is(err, ErrClosed) {
				t.Fatalf("Next on a closed hub: %v", err)
			}
		default:
			t.Fatal("Close did not end a waiting Next")
		}
		if _, err := p.Next(context.Background(), nil); !errors.Is(err, ErrClosed) {
			t.Fatalf("Next on a closed hub: %v", err)
		}
		if _, err := h.Watch(nil, nil, 0); !errors.Is(err, ErrClosed) {
			t.Fatalf("Watch on a closed hub: %v", err)
		}
		src.commit(h, "a=2") // ignored
		if h.last != 1 || h.Stats().CacheBytes != src.log[0].weight {
			t.Fatalf("a closed hub took a change: last %d, %+v", h.last, h.Stats())
		}
	})
}

func TestFilter(t *testing.T) {
	src := newSource()
	src.apply("a=1", "b=1", "c=1", "-b")
	c := src.log[0]
	h := New(0, Options{})
	for _, tc := range []struct {
		start, end string
		want       string
		same       bool
	}{
		{"", "", "1:a=1@1,b=1@1,c=1@1,-b\n", true},
		{"a", "d", "1:a=1@1,b=1@1,c=1@1,-b\n", true},
		{"b", "c", "1:b=1@1,-b\n", false},
		{"c", "", "1:c=1@1\n", false},
		{"d", "", "", false},
	} {
		w := mustWatch(t, h, tc.start, tc.end, 0)
		f := w.Filter(c)
		var got string
		if f != nil {
			got = render([]*Change{f})
		}
		if got != tc.want || (f == c) != tc.same {
			t.Errorf("Filter [%q, %q): %q (same %v), want %q (same %v)", tc.start, tc.end, got, f == c, tc.want, tc.same)
		}
		if f != nil && f != c {
			if w := NewChange(f.Revision, f.Events).weight; f.weight != w {
				t.Errorf("filtered change weighs %d, want %d", f.weight, w)
			}
		}
	}
}

// The prefix index: a watch whose range is a prefix is indexed by it, and
// the lengths probed are those watched, kept sorted and counted.
func TestPrefixIndex(t *testing.T) {
	h := New(0, Options{})
	for _, tc := range []struct {
		start, end string
		prefix     bool
	}{
		{"", "", true},
		{"a", "b", true},
		{"a\xff", "b", true},
		{"ab", "ac", true},
		{"\xff", "", false}, // no prefix end: a range
		{"a", "c", false},
		{"a", "", false},
		{"", "b", false},
	} {
		w := mustWatch(t, h, tc.start, tc.end, 0)
		if w.isPrefix != tc.prefix {
			t.Errorf("[%q, %q): isPrefix %v, want %v", tc.start, tc.end, w.isPrefix, tc.prefix)
		}
	}
	extra := mustWatch(t, h, "ab", "ac", 0)
	if fmt.Sprint(h.lens) != "[0 1 2]" || h.lenCount[2] != 2 || len(h.prefixes["ab"]) != 2 || len(h.ranges) != 4 {
		t.Fatalf("index: lens %v counts %v, %d watchers on ab, %d ranges", h.lens, h.lenCount, len(h.prefixes["ab"]), len(h.ranges))
	}
	extra.Close()
	if h.lenCount[2] != 2 || len(h.prefixes["ab"]) != 1 {
		t.Fatalf("after closing one of two on ab: counts %v, %d on ab", h.lenCount, len(h.prefixes["ab"]))
	}
}

func TestOptionsDefaults(t *testing.T) {
	o := Options{}.withDefaults()
	if o.CacheBytes != 8<<20 || o.BufferBytes != 1<<20 || o.MaxBatch != 256 {
		t.Fatalf("defaults %+v", o)
	}
	o = Options{CacheBytes: 1, BufferBytes: 2, MaxBatch: 3}.withDefaults()
	if o.CacheBytes != 1 || o.BufferBytes != 2 || o.MaxBatch != 3 {
		t.Fatalf("explicit options changed: %+v", o)
	}
}
