package watch

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"github.com/yggrdb/yggr/internal/kv"
)

// source is a state machine with its log, feeding a hub as the apply
// goroutine does; its log is the history a caller replays on BehindError.
type source struct {
	store *kv.Store
	rec   []kv.Event
	rev   uint64
	log   []*Change // every change with events, ascending
}

func newSource() *source {
	s := &source{store: kv.New()}
	s.store.Record(&s.rec)
	return s
}

// apply applies ops as one command at the next revision: "k=v" puts,
// "-k" deletes; more than one op makes a transaction. It returns the
// revision and the command's events (nil if it changed nothing).
func (s *source) apply(ops ...string) (uint64, []kv.Event) {
	s.rev++
	var cmd []byte
	var reqs []kv.Request
	for _, op := range ops {
		if k, ok := strings.CutPrefix(op, "-"); ok {
			reqs = append(reqs, kv.Request{Op: kv.OpDelete, Key: []byte(k)})
		} else {
			k, v, _ := strings.Cut(op, "=")
			reqs = append(reqs, kv.Request{Op: kv.OpPut, Key: []byte(k), Value: []byte(v)})
		}
	}
	switch {
	case len(reqs) == 1 && reqs[0].Op == kv.OpPut:
		cmd = kv.EncodePut(reqs[0].Key, reqs[0].Value)
	case len(reqs) == 1:
		cmd = kv.EncodeDelete(reqs[0].Key)
	default:
		cmd = kv.EncodeTxn(kv.Txn{Then: reqs})
	}
	s.store.Apply(s.rev, cmd)
	evs := s.rec
	s.rec = nil
	if len(evs) > 0 {
		s.log = append(s.log, NewChange(s.rev, evs))
	}
	return s.rev, evs
}

// publish applies ops and publishes them to h without advancing.
func (s *source) publish(h *Hub, ops ...string) uint64 {
	rev, evs := s.apply(ops...)
	h.Publish(rev, evs)
	return rev
}

// commit applies ops, publishes them and advances h: one batch.
func (s *source) commit(h *Hub, ops ...string) uint64 {
	rev := s.publish(h, ops...)
	h.Advance(rev)
	return rev
}

// want is what a watcher over [start, end) from revision from must yield:
// the log naively filtered.
func (s *source) want(start, end string, hasEnd bool, from uint64) string {
	var out []*Change
	for _, c := range s.log {
		if c.Revision < from {
			continue
		}
		var in []kv.Event
		for _, ev := range c.Events {
			if k := ev.Key(); k >= start && (!hasEnd || k < end) {
				in = append(in, ev)
			}
		}
		if len(in) > 0 {
			out = append(out, &Change{Revision: c.Revision, Events: in})
		}
	}
	return render(out)
}

// render writes changes as "rev:k=v,-k" lines.
func render(cs []*Change) string {
	var b strings.Builder
	for _, c := range cs {
		fmt.Fprintf(&b, "%d:", c.Revision)
		for i, ev := range c.Events {
			if i > 0 {
				b.WriteString(",")
			}
			if ev.IsDelete() {
				fmt.Fprintf(&b, "-%s", ev.Key())
			} else {
				it := ev.Item(c.Revision)
				fmt.Fprintf(&b, "%s=%s@%d", it.Key, it.Value, it.ModIndex)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// tb is what the helpers need of a *testing.T or a *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// replayLog is the caller's side of a BehindError, as yggr's replay does
// it: deliver the changes in w's range from revision from on out of log,
// up to the hub's head, until Resume takes the watcher back. When the ring
// has moved past the head (a batch published, not yet advanced), it calls
// wait, as yggr's replay waits for the applied index; nil yields the
// processor to the publisher.
func replayLog(t tb, w *Watcher, log func() []*Change, from uint64, wait func()) []*Change {
	t.Helper()
	var out []*Change
	next := from
	for range 100000 {
		if w.Resume(next) {
			return out
		}
		head := w.Head()
		if next > head {
			if wait == nil {
				runtime.Gosched()
			} else {
				wait()
			}
			continue
		}
		for _, c := range log() {
			if c.Revision >= next && c.Revision <= head {
				if f := w.Filter(c); f != nil {
					out = append(out, f)
				}
			}
		}
		next = max(next, head+1)
	}
	t.Fatalf("replay from %d never caught up", from)
	return nil
}

// drain reads w until it has nothing more to give without waiting,
// replaying from log on BehindError (wait: see replayLog). It checks that each BehindError
// names the revision after the last one delivered.
func drain(t tb, w *Watcher, log func() []*Change, wait func()) []*Change {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out []*Change
	for range 100000 {
		cs, err := w.Next(ctx, nil)
		var behind *BehindError
		switch {
		case errors.As(err, &behind):
			if pos := w.Position(); behind.From != pos+1 {
				t.Fatalf("BehindError from %d, but the watcher's position is %d", behind.From, pos)
			}
			if len(out) > 0 && behind.From <= out[len(out)-1].Revision {
				t.Fatalf("BehindError from %d after revision %d was delivered", behind.From, out[len(out)-1].Revision)
			}
			out = append(out, replayLog(t, w, log, behind.From, wait)...)
		case errors.Is(err, context.Canceled):
			return out
		case err != nil:
			t.Fatalf("Next: %v", err)
		case cs == nil:
			t.Fatal("Next returned neither changes nor an error without a tick")
		default:
			out = append(out, cs...)
		}
	}
	t.Fatal("drain never ended")
	return nil
}
