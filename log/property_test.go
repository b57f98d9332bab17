package log

import (
	"errors"
	"flag"
	"os"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/yggrdb/yggr/engine"
	"pgregory.net/rapid"
)

// logModel is what a Store must show: the entries (snap.Index, last], the
// hard state and the snapshot. log[i-1] is entry i (entries at or below the
// snapshot index are kept only to know their terms).
type logModel struct {
	log  []engine.Entry
	snap engine.SnapshotMeta
	hs   engine.HardState
	term uint64 // the term of new entries
	// gone: History may not read at or below it (compactions, resets).
	gone uint64
}

func (m *logModel) last() uint64 { return uint64(len(m.log)) }

func (m *logModel) state() State {
	var es []engine.Entry
	if m.last() > m.snap.Index {
		es = m.log[m.snap.Index:]
	}
	return State{HardState: m.hs, Snapshot: m.snap, Entries: es}
}

// batchFor draws a batch that follows the model's log (truncating a suffix
// above the snapshot sometimes) and applies it to the model.
func batchFor(rt *rapid.T, m *logModel, data *rapid.Generator[[]byte]) Batch {
	var b Batch
	if m.last() > m.snap.Index && rapid.IntRange(0, 3).Draw(rt, "truncate?") == 0 {
		b.TruncateFrom = rapid.Uint64Range(m.snap.Index+1, m.last()).Draw(rt, "truncateFrom")
		m.log = m.log[:b.TruncateFrom-1]
		m.term++
	}
	n := rapid.IntRange(0, 6).Draw(rt, "entries")
	for range n {
		e := engine.Entry{Term: m.term, Index: m.last() + 1, Data: data.Draw(rt, "data")}
		if len(e.Data) == 0 {
			e.Data = nil
		}
		b.Entries = append(b.Entries, e)
		m.log = append(m.log, e)
	}
	if rapid.Bool().Draw(rt, "hardState?") {
		hs := engine.HardState{Term: m.term, Commit: rapid.Uint64Range(0, m.last()).Draw(rt, "commit")}
		if rapid.Bool().Draw(rt, "vote?") {
			hs.Vote = "n2"
		}
		b.HardState, m.hs = &hs, hs
	}
	return b
}

// TestPropertyStore runs random sequences of writes (with truncations),
// snapshots, resets, compactions, checkpoints, checkpoints cut by a
// simulated crash after any number of their Badger mutations, and reopens,
// on a store with tiny segments and runs, and checks after every step that
// the store shows exactly the model's log.
//
// It runs YGGR_LOG_PROPERTY_CHECKS cases (default 25: every case opens
// Badger several times) unless -rapid.checks or RAPID_CHECKS says
// otherwise; scripts/soak.sh runs more.
func TestPropertyStore(t *testing.T) {
	if _, ok := os.LookupEnv("RAPID_CHECKS"); !ok {
		explicit := false
		flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "rapid.checks" })
		if !explicit {
			n := 25
			if v, err := strconv.Atoi(os.Getenv("YGGR_LOG_PROPERTY_CHECKS")); err == nil && v > 0 {
				n = v
			}
			if err := flag.Set("rapid.checks", strconv.Itoa(n)); err != nil {
				t.Fatal(err)
			}
		}
	}
	rapid.Check(t, func(rt *rapid.T) {
		dir, err := os.MkdirTemp("", "yggr-log-property-")
		if err != nil {
			rt.Fatal(err)
		}
		defer os.RemoveAll(dir)
		var crashAt atomic.Int64 // mutations to commit before a simulated crash; -1: none
		crashAt.Store(-1)
		opts := Options{
			NoSync:          true,
			GCInterval:      -1,
			CheckpointBytes: 1 << 40, // checkpoints only when the test asks (and after ResetTo)
			memTableSize:    1 << 20, // opens faster
			maxRunBytes:     rapid.IntRange(1, 200).Draw(rt, "maxRunBytes"),
			segmentBytes:    int64(rapid.IntRange(1, 4).Draw(rt, "segmentKiB")) << 10,
			crashCheckpoint: func(ms []mutation) int {
				k := crashAt.Swap(-1)
				return int(min(k, int64(len(ms))))
			},
		}
		s, err := Open(dir, opts)
		if err != nil {
			rt.Fatal(err)
		}
		defer func() {
			if s != nil {
				s.Close()
			}
		}()
		m := &logModel{term: 1}
		reopen := func() {
			if err := s.Close(); err != nil && !errors.Is(err, ErrClosed) {
				rt.Fatalf("Close: %v", err)
			}
			if s, err = Open(dir, opts); err != nil {
				rt.Fatalf("reopen: %v", err)
			}
		}
		data := rapid.SliceOfN(rapid.Byte(), 0, 40)
		rt.Repeat(map[string]func(*rapid.T){
			"write": func(rt *rapid.T) {
				// One to three batches in one Write (group commit); a later
				// one may truncate what an earlier one appended.
				var bs []Batch
				for range rapid.IntRange(1, 3).Draw(rt, "batches") {
					bs = append(bs, batchFor(rt, m, data))
				}
				if err := s.Write(bs...); err != nil {
					rt.Fatalf("Write: %v", err)
				}
			},
			"snapshot": func(rt *rapid.T) {
				if m.last() <= m.snap.Index {
					rt.Skip("no entry above the snapshot")
				}
				i := rapid.Uint64Range(m.snap.Index+1, m.last()).Draw(rt, "index")
				meta := engine.SnapshotMeta{Index: i, Term: m.log[i-1].Term, Size: i * 10,
					Membership: engine.NewMembership([]engine.NodeID{"n1", "n2"}, []engine.NodeID{"n3"})}
				if err := s.SetSnapshot(meta); err != nil {
					rt.Fatalf("SetSnapshot(%v): %v", meta, err)
				}
				m.snap = meta
			},
			"reset": func(rt *rapid.T) {
				i := rapid.Uint64Range(max(m.snap.Index, 1), m.last()+3).Draw(rt, "index")
				keep := rapid.Bool().Draw(rt, "keep")
				meta := engine.SnapshotMeta{Index: i, Membership: engine.NewMembership([]engine.NodeID{"n1"}, nil)}
				if i <= m.last() {
					meta.Term = m.log[i-1].Term
					if i == m.snap.Index {
						meta.Term = m.snap.Term
					}
				} else {
					m.term++
					meta.Term = m.term
				}
				if err := s.ResetTo(meta, keep); err != nil {
					rt.Fatalf("ResetTo(%v, %v): %v", meta, keep, err)
				}
				m.gone = max(m.gone, i)
				if !keep || m.last() <= i {
					for uint64(len(m.log)) < i {
						m.log = append(m.log, engine.Entry{Index: uint64(len(m.log)) + 1, Term: meta.Term})
					}
					m.log = m.log[:i]
					m.log[i-1].Term = meta.Term
				}
				m.snap = meta
			},
			"compact": func(rt *rapid.T) {
				i := rapid.Uint64Range(0, m.snap.Index).Draw(rt, "index")
				if err := s.Compact(i); err != nil {
					rt.Fatalf("Compact: %v", err)
				}
				m.gone = max(m.gone, i)
			},
			"checkpoint": func(rt *rapid.T) {
				if err := s.Checkpoint(); err != nil {
					rt.Fatalf("Checkpoint: %v", err)
				}
			},
			"crash during a checkpoint": func(rt *rapid.T) {
				crashAt.Store(int64(rapid.IntRange(0, 40).Draw(rt, "mutations")))
				err := s.Checkpoint()
				if err != nil && !errors.Is(err, errSimulatedCrash) {
					rt.Fatalf("Checkpoint: %v", err)
				}
				crashAt.Store(-1)
				reopen()
			},
			"reopen": func(rt *rapid.T) { reopen() },
			"": func(rt *rapid.T) {
				want := m.state()
				got, err := s.Load()
				if err != nil {
					rt.Fatalf("Load: %v", err)
				}
				if diff := cmp.Diff(want, got, cmpEntries); diff != "" {
					rt.Fatalf("Load (-model +store):\n%s", diff)
				}
				if s.FirstIndex() != m.snap.Index+1 || s.LastIndex() != m.last() {
					rt.Fatalf("FirstIndex, LastIndex = %d, %d; want %d, %d", s.FirstIndex(), s.LastIndex(), m.snap.Index+1, m.last())
				}
				for i := m.snap.Index; i <= m.last(); i++ {
					want := m.snap.Term
					if i > m.snap.Index {
						want = m.log[i-1].Term
					}
					if got, err := s.Term(i); err != nil || got != want {
						rt.Fatalf("Term(%d) = %d, %v; want %d", i, got, err, want)
					}
				}
				hf := s.HistoryFloor()
				if hf > m.snap.Index || hf < m.gone {
					rt.Fatalf("HistoryFloor = %d, want between %d (compacted) and %d (the snapshot)", hf, m.gone, m.snap.Index)
				}
				if lo := hf + 1; lo <= m.last() {
					es, err := s.History(lo, m.last()+1, 1<<20)
					if err != nil || len(es) == 0 {
						rt.Fatalf("History(%d, %d) = %d entries, %v", lo, m.last()+1, len(es), err)
					}
					if diff := cmp.Diff(m.log[lo-1:lo-1+uint64(len(es))], es, cmpEntries); diff != "" {
						rt.Fatalf("History (-model +store):\n%s", diff)
					}
				}
				if lo := m.snap.Index + 1; lo <= m.last() {
					es, err := s.Entries(lo, m.last()+1, 100)
					if err != nil || len(es) == 0 {
						rt.Fatalf("Entries(%d, %d, 100) = %d entries, %v", lo, m.last()+1, len(es), err)
					}
					if diff := cmp.Diff(m.log[lo-1:lo-1+uint64(len(es))], es, cmpEntries); diff != "" {
						rt.Fatalf("Entries (-model +store):\n%s", diff)
					}
				}
			},
		})
	})
}
