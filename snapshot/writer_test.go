package snapshot

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/yggrdb/yggr/engine"
)

func TestWriteRead(t *testing.T) {
	tests := []struct {
		name       string
		chunkBytes int
		size       int
		piece      int
		wantChunks int
	}{
		{"empty", 8, 0, 0, 0},
		{"one byte", 8, 1, 0, 1},
		{"exactly one chunk", 8, 8, 0, 1},
		{"one chunk and a byte", 8, 9, 0, 2},
		{"many chunks in one write", 8, 100, 0, 13},
		{"byte by byte", 8, 37, 1, 5},
		{"odd pieces", 10, 1000, 7, 100},
		{"pieces larger than chunks", 10, 1001, 33, 101},
		{"default chunk size", 0, 3 << 20, 100 << 10, 3},
		{"aligned chunks and a tail", 2 * directAlign, 3*2*directAlign + 100, 1000, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, Options{ChunkBytes: tt.chunkBytes})
			data := payload(uint64(tt.size), tt.size)
			meta := writeSnap(t, s, 17, 3, data, tt.piece)
			want := engine.SnapshotMeta{Index: 17, Term: 3, Membership: members, Size: uint64(tt.size)}
			if diff := cmp.Diff(want, meta); diff != "" {
				t.Errorf("Commit meta (-want +got):\n%s", diff)
			}
			latest, ok := s.Latest()
			if diff := cmp.Diff(want, latest); !ok || diff != "" {
				t.Errorf("Latest: ok %v (-want +got):\n%s", ok, diff)
			}
			files, err := os.ReadDir(filepath.Join(dir, subdir, dirName(3, 17)))
			if err != nil {
				t.Fatal(err)
			}
			if got := len(files); got != tt.wantChunks+1 {
				t.Errorf("got %d files, want %d chunks and a manifest", got, tt.wantChunks)
			}
			got, err := readSnap(s, 17, 3)
			if err != nil || !slices.Equal(got, data) {
				t.Errorf("Read: got %d bytes, %v, want %d bytes", len(got), err, len(data))
			}
			// Reopened, the store finds it again.
			s2 := openStore(t, dir, Options{ChunkBytes: 4})
			latest, ok = s2.Latest()
			if diff := cmp.Diff(want, latest); !ok || diff != "" {
				t.Errorf("Latest after reopen: ok %v (-want +got):\n%s", ok, diff)
			}
			got, err = readSnap(s2, 17, 3)
			if err != nil || !slices.Equal(got, data) {
				t.Errorf("Read after reopen: got %d bytes, %v, want %d bytes", len(got), err, len(data))
			}
		})
	}
}

func TestWriterLifecycle(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{ChunkBytes: 8})

	w, err := s.Create(metaOf(4, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(payload(1, 20)); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Latest(); ok {
		t.Errorf("Latest before Commit: got a snapshot, want none")
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if got := dirEntries(t, dir); len(got) != 0 {
		t.Errorf("directory after Abort: got %v, want empty", got)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Abort: got %v, want ErrClosed", err)
	}
	if _, err := w.Commit(); !errors.Is(err, ErrClosed) {
		t.Errorf("Commit after Abort: got %v, want ErrClosed", err)
	}
	if err := w.Abort(); err != nil {
		t.Errorf("second Abort: got %v, want nil", err)
	}

	w, err = s.Create(metaOf(5, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Commit: got %v, want ErrClosed", err)
	}
	if _, err := w.Commit(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Commit: got %v, want ErrClosed", err)
	}
	if err := w.Abort(); err != nil {
		t.Errorf("Abort after Commit: got %v, want nil", err)
	}
	if diff := cmp.Diff([]uint64{5}, indexes(s.List())); diff != "" {
		t.Errorf("Abort after Commit must keep the snapshot (-want +got):\n%s", diff)
	}
}

func TestCreateRejectsBadMembership(t *testing.T) {
	tests := []engine.Membership{
		{Voters: []engine.NodeID{"b", "a"}},
		{Voters: []engine.NodeID{"a"}, Learners: []engine.NodeID{"a"}},
		{Voters: []engine.NodeID{"bad id"}},
	}
	s := openStore(t, t.TempDir(), Options{})
	for _, m := range tests {
		if _, err := s.Create(engine.SnapshotMeta{Index: 1, Term: 1, Membership: m}); err == nil {
			t.Errorf("Create with membership %v: got nil error, want one", m)
		}
		if _, err := s.Receive(engine.SnapshotMeta{Index: 1, Term: 1, Membership: m}); err == nil {
			t.Errorf("Receive with membership %v: got nil error, want one", m)
		}
	}
}

// TestConcurrentWriters commits several snapshots from goroutines at once
// while readers read the latest.
func TestConcurrentWriters(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{ChunkBytes: 16, Retain: 3})
	const n = 6
	errc := make(chan error, n)
	for i := range uint64(n) {
		// Owned by the test; ends after one commit, reported on errc.
		go func() {
			w, err := s.Create(metaOf(i+1, 1))
			if err != nil {
				errc <- err
				return
			}
			if _, err := w.Write(payload(i+1, 100)); err != nil {
				errc <- err
				return
			}
			_, err = w.Commit()
			if err == nil {
				if m, ok := s.Latest(); ok {
					var got []byte
					if got, err = readSnap(s, m.Index, m.Term); err == nil && !slices.Equal(got, payload(m.Index, 100)) {
						err = errors.New("latest snapshot has wrong content")
					}
					if errors.Is(err, ErrNotFound) {
						err = nil // pruned between Latest and Open
					}
				}
			}
			errc <- err
		}()
	}
	for range n {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
	if diff := cmp.Diff([]uint64{4, 5, 6}, indexes(s.List())); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
}
