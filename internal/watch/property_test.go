package watch

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/yggrdb/yggr/internal/kv"
	"pgregory.net/rapid"
)

// propKeys are the keys the property tests write: prefixes of each other,
// and 0xff bytes (whose prefixes have no PrefixEnd).
var propKeys = []string{"a", "aa", "ab", "abc", "a\xff", "a\xff\x01", "b", "ba", "c", "\xff", "\xff\x00", "\xff\xff"}

// propRange draws a watch range: a prefix (indexed by prefix) or any
// range (listed).
func propRange(t *rapid.T) (start, end string, hasEnd bool) {
	if rapid.Bool().Draw(t, "prefix") {
		p := rapid.SampledFrom([]string{"", "a", "ab", "a\xff", "b", "\xff", "\xff\xff"}).Draw(t, "p")
		e := kv.PrefixEnd([]byte(p))
		return p, string(e), e != nil
	}
	bounds := append([]string{""}, propKeys...)
	start = rapid.SampledFrom(bounds).Draw(t, "start")
	if !rapid.Bool().Draw(t, "hasEnd") {
		return start, "", false
	}
	end = rapid.SampledFrom(propKeys).Draw(t, "end")
	switch {
	case end == start:
		end = start + "\x00"
	case end < start:
		start, end = end, start
	}
	return start, end, true
}

// propOps draws one command: 1 to 3 puts and deletes.
func propOps(t *rapid.T, rev uint64) []string {
	n := rapid.IntRange(1, 3).Draw(t, "ops")
	ops := make([]string, n)
	for i := range ops {
		k := rapid.SampledFrom(propKeys).Draw(t, "key")
		if rapid.IntRange(0, 3).Draw(t, "del") == 0 {
			ops[i] = "-" + k
		} else {
			ops[i] = fmt.Sprintf("%s=%d%s", k, rev, strings.Repeat("v", rapid.IntRange(0, 200).Draw(t, "vlen")))
		}
	}
	return ops
}

type propWatcher struct {
	w          *Watcher
	start, end string
	hasEnd     bool
	from       uint64
	got        []*Change
	closed     bool
}

// The hub, with the caller's replay from its log on BehindError, yields
// to every watcher exactly the log filtered naively to its range, from its
// starting revision: across random bounds on cache, buffer and batch,
// random interleavings of publishes, advances, snapshot resets, reads,
// opens and closes.
func TestHubMatchesNaiveFilter(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		opts := Options{
			CacheBytes:  rapid.IntRange(1, 4000).Draw(t, "cache"),
			BufferBytes: rapid.IntRange(1, 2000).Draw(t, "buffer"),
			MaxBatch:    rapid.IntRange(1, 4).Draw(t, "batch"),
		}
		src := newSource()
		h := New(0, opts)
		var ws []*propWatcher
		advance := func() { h.Advance(src.rev) }
		for range rapid.IntRange(1, 80).Draw(t, "steps") {
			switch rapid.IntRange(0, 9).Draw(t, "action") {
			case 0, 1: // open
				start, end, hasEnd := propRange(t)
				from := uint64(0)
				if rapid.Bool().Draw(t, "fromPast") {
					from = rapid.Uint64Range(1, src.rev+3).Draw(t, "from")
				}
				var e []byte
				if hasEnd {
					e = []byte(end)
				}
				pw := &propWatcher{start: start, end: end, hasEnd: hasEnd, from: from}
				if from == 0 {
					pw.from = h.Top() + 1
				}
				w, err := h.Watch([]byte(start), e, from)
				if err != nil {
					t.Fatal(err)
				}
				pw.w = w
				ws = append(ws, pw)
			case 2, 3, 4: // one command, sometimes ending the batch
				src.publish(h, propOps(t, src.rev+1)...)
				if rapid.Bool().Draw(t, "advance") {
					advance()
				}
			case 5:
				advance()
			case 6: // a snapshot installed: commands the hub never sees
				advance()
				for range rapid.IntRange(1, 3).Draw(t, "skipped") {
					src.apply(propOps(t, src.rev+1)...)
				}
				h.Reset(src.rev)
			case 7, 8: // a watcher reads all it can
				if len(ws) > 0 {
					pw := ws[rapid.IntRange(0, len(ws)-1).Draw(t, "reader")]
					if !pw.closed {
						pw.got = append(pw.got, drain(t, pw.w, src.all, advance)...)
					}
				}
			case 9:
				if len(ws) > 0 {
					pw := ws[rapid.IntRange(0, len(ws)-1).Draw(t, "closer")]
					pw.w.Close()
					pw.closed = true
				}
			}
		}
		advance()
		if s := h.Stats(); s.CacheBytes > opts.CacheBytes && len(h.ring)-h.ringStart > 1 {
			t.Fatalf("ring holds %d bytes in %d changes, over its bound %d", s.CacheBytes, len(h.ring)-h.ringStart, opts.CacheBytes)
		}
		queued := 0
		for _, pw := range ws {
			if !pw.closed {
				queued += pw.w.queued
			}
		}
		if s := h.Stats(); s.QueuedBytes != queued {
			t.Fatalf("Stats counts %d bytes queued, the open watchers hold %d", s.QueuedBytes, queued)
		}
		open := 0
		for i, pw := range ws {
			if !pw.closed {
				open++
				if pw.w.queued > opts.BufferBytes && len(pw.w.queue) > 1 {
					t.Fatalf("watcher %d queues %d bytes in %d changes, over its bound %d", i, pw.w.queued, len(pw.w.queue), opts.BufferBytes)
				}
				pw.got = append(pw.got, drain(t, pw.w, src.all, advance)...)
			}
			got, want := render(pw.got), src.want(pw.start, pw.end, pw.hasEnd, pw.from)
			if pw.closed && !strings.HasPrefix(want, got) || !pw.closed && got != want {
				t.Fatalf("watcher %d over [%q, %q) (end %v) from %d (closed %v) yielded\n%swant\n%s", i, pw.start, pw.end, pw.hasEnd, pw.from, pw.closed, got, want)
			}
		}
		if s := h.Stats(); s.Watchers != open || s.QueuedBytes != 0 {
			t.Fatalf("Stats counts %d watchers (%d are open) and %d bytes queued after draining", s.Watchers, open, s.QueuedBytes)
		}
	})
}

// Concurrently: an apply goroutine publishes (with snapshot resets) while
// watchers read, fall behind, replay from the log, and close and resume
// from their position; each ends with exactly its part of the log. Run
// with -race.
func TestHubConcurrent(t *testing.T) {
	var mu sync.Mutex // guards src
	src := newSource()
	log := func() []*Change {
		mu.Lock()
		defer mu.Unlock()
		return src.log[:len(src.log):len(src.log)]
	}
	h := New(0, Options{CacheBytes: 8 << 10, BufferBytes: 2 << 10, MaxBatch: 16})
	ranges := [][2]string{{"", ""}, {"a", "b"}, {"ab", "ac"}, {"a", "c"}, {"b", ""}, {"\xff", ""}}
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		got        []*Change
		start, end string
		err        error
	}
	results := make(chan result, len(ranges))
	for i, r := range ranges {
		go func() {
			rng := rand.New(rand.NewPCG(uint64(i), 1))
			var end []byte
			if r[1] != "" {
				end = []byte(r[1])
			}
			res := result{start: r[0], end: r[1]}
			var gt goTB
			defer func() {
				if res.err == nil {
					res.err = gt.err
				}
				results <- res
			}()
			w, err := h.Watch([]byte(r[0]), end, 1)
			if err != nil {
				res.err = err
				return
			}
			for n := 0; ; n++ {
				if rng.IntN(20) == 0 { // disconnect and resume
					pos := w.Position()
					w.Close()
					if w, err = h.Watch([]byte(r[0]), end, pos+1); err != nil {
						res.err = err
						return
					}
				}
				cs, err := w.Next(ctx, nil)
				if be, ok := err.(*BehindError); ok {
					res.got = append(res.got, replayLog(&gt, w, log, be.From, nil)...)
					continue
				}
				if err != nil { // the publisher is done
					res.got = append(res.got, drain(&gt, w, log, nil)...)
					w.Close()
					return
				}
				res.got = append(res.got, cs...)
				if rng.IntN(4) == 0 {
					for range rng.IntN(2000) { // a slow consumer
						_ = rng.Uint64()
					}
				}
			}
		}()
	}
	rng := rand.New(rand.NewPCG(7, 7))
	keys := []string{"a", "aa", "ab", "abc", "b", "ba", "\xff", "\xff\x01"}
	for range 3000 {
		mu.Lock()
		var ops []string
		for range 1 + rng.IntN(3) {
			k := keys[rng.IntN(len(keys))]
			if rng.IntN(4) == 0 {
				ops = append(ops, "-"+k)
			} else {
				ops = append(ops, fmt.Sprintf("%s=%d", k, src.rev+1))
			}
		}
		rev, evs := src.apply(ops...)
		reset := rng.IntN(200) == 0
		mu.Unlock()
		if reset { // after a batch, as the apply goroutine does
			h.Advance(rev - 1)
			h.Reset(rev)
			continue
		}
		h.Publish(rev, evs)
		if rng.IntN(3) == 0 {
			h.Advance(rev)
		}
	}
	mu.Lock()
	h.Advance(src.rev)
	mu.Unlock()
	cancel()
	for range ranges {
		res := <-results
		if res.err != nil {
			t.Fatal(res.err)
		}
		if got, want := render(res.got), src.want(res.start, res.end, res.end != "", 1); got != want {
			t.Fatalf("watcher over [%q, %q) yielded %d changes, want %d:\n%s", res.start, res.end, len(res.got), strings.Count(want, "\n"), firstDiff(got, want))
		}
	}
	if s := h.Stats(); s.Watchers != 0 {
		t.Fatalf("%d watchers left open", s.Watchers)
	}
}

// firstDiff shows where two renderings part.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := range min(len(g), len(w)) {
		if g[i] != w[i] {
			return fmt.Sprintf("line %d: got %q, want %q", i, g[i], w[i])
		}
	}
	return fmt.Sprintf("one is a prefix of the other (%d vs %d lines)", len(g), len(w))
}

// goTB is a tb for a goroutine other than the test's: Fatal records the
// error and ends the goroutine (its deferred calls run).
type goTB struct{ err error }

func (*goTB) Helper() {}

func (g *goTB) Fatal(args ...any) {
	g.err = errors.New(fmt.Sprint(args...))
	runtime.Goexit()
}

func (g *goTB) Fatalf(format string, args ...any) {
	g.err = fmt.Errorf(format, args...)
	runtime.Goexit()
}
