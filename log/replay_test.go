package log

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/yggrdb/yggr/engine"
)

// Replay hands over the entries Load returns, in order, in pieces of at
// most maxBytes (or one entry), from Badger's runs and from memory alike;
// LoadMeta is Load without the entries.
func TestReplayReadsWhatLoadReturns(t *testing.T) {
	dir := t.TempDir()
	s := openDisk(t, dir, Options{CheckpointBytes: 2 << 10, maxRunBytes: 512})
	for lo := uint64(1); lo <= 300; lo += 20 {
		mustWrite(t, s, Batch{Entries: ents(1, lo, lo+19), HardState: &engine.HardState{Term: 1, Commit: lo}})
	}
	s.Close()
	s = openDisk(t, dir, Options{CheckpointBytes: 2 << 10, maxRunBytes: 512})
	mustWrite(t, s, Batch{Entries: ents(2, 301, 310)}) // some in memory, not checkpointed
	want := mustLoad(t, s)
	meta, err := s.LoadMeta()
	if err != nil {
		t.Fatal(err)
	}
	wantMeta := want
	wantMeta.Entries = nil
	if d := cmp.Diff(wantMeta, meta); d != "" {
		t.Fatalf("LoadMeta (-Load without entries +got):\n%s", d)
	}
	for _, lo := range []uint64{1, 150, 310} {
		const maxBytes = 600
		var got []engine.Entry
		pieces := 0
		err := s.Replay(lo, maxBytes, func(es []engine.Entry) error {
			pieces++
			var w uint64
			for _, e := range es {
				w += entryWeight(e)
			}
			if len(es) > 1 && w > maxBytes {
				t.Errorf("a piece of %d entries weighs %d > %d", len(es), w, maxBytes)
			}
			for _, e := range es { // lent until fn returns
				e.Data = slices.Clone(e.Data)
				got = append(got, e)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Replay(%d): %v", lo, err)
		}
		if d := cmp.Diff(want.Entries[lo-1:], got); d != "" {
			t.Fatalf("Replay(%d) (-Load +got):\n%s", lo, d)
		}
		if lo == 1 && pieces < 10 {
			t.Errorf("Replay(1) took %d pieces: maxBytes is not honoured", pieces)
		}
	}
	// The pieces reuse their buffers (once the first has sized them):
	// what fn kept of a piece without copying it holds a later piece's
	// bytes by the end.
	type keptData struct{ kept, copied []byte }
	var kept []keptData
	if err := s.Replay(1, 600, func(es []engine.Entry) error {
		kept = append(kept, keptData{es[0].Data, slices.Clone(es[0].Data)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	overwritten := 0
	for _, k := range kept {
		if !bytes.Equal(k.kept, k.copied) {
			overwritten++
		}
	}
	if overwritten < len(kept)/2 {
		t.Errorf("of %d pieces, %d had their Data overwritten by a later piece: the pieces did not reuse their buffers", len(kept), overwritten)
	}
	// fn's error stops the replay and is returned.
	stop := errors.New("stop")
	calls := 0
	if err := s.Replay(1, 600, func([]engine.Entry) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("Replay with a failing fn: %v after %d calls, want stop after 1", err, calls)
	}
	if err := s.Replay(0, 600, func([]engine.Entry) error { return nil }); !errors.Is(err, ErrCompacted) {
		t.Fatalf("Replay(0): %v, want ErrCompacted", err)
	}
}
