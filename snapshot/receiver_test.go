package snapshot

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/yggrdb/yggr/engine"
)

// sendPieces writes data[from:to] to rc in pieces whose sizes cycle
// through sizes, marking the piece that reaches len(data) done.
func sendPieces(t testing.TB, rc *Receiver, data []byte, from, to int, sizes []int) {
	t.Helper()
	off := from
	for i := 0; ; i++ {
		if off == to && to != len(data) {
			return
		}
		k := min(sizes[i%len(sizes)], to-off)
		done := off+k == len(data)
		if err := rc.WriteAt(uint64(off), data[off:off+k], done); err != nil {
			t.Fatalf("WriteAt(%d, %d bytes, %v): %v", off, k, done, err)
		}
		off += k
		if done {
			return
		}
		if got := rc.Offset(); got != uint64(off) {
			t.Fatalf("Offset after WriteAt: got %d, want %d", got, off)
		}
	}
}

func TestReceive(t *testing.T) {
	tests := []struct {
		name       string
		chunkBytes int
		size       int
		pieces     []int
		announce   bool
	}{
		{"empty", 8, 0, []int{1}, true},
		{"one piece", 8, 50, []int{1000}, true},
		{"odd pieces", 8, 100, []int{3, 7, 1, 13}, true},
		{"odd pieces, size unknown", 8, 100, []int{3, 7, 1, 13}, false},
		{"chunk-sized pieces", 16, 160, []int{16}, true},
		{"pieces straddling chunks", 16, 161, []int{17, 15, 33}, true},
		{"large pieces", 10, 1000, []int{333}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, Options{ChunkBytes: tt.chunkBytes})
			data := payload(uint64(tt.size)+1, tt.size)
			meta := metaOf(30, 5)
			if tt.announce {
				meta.Size = uint64(tt.size)
			}
			rc, err := s.Receive(meta)
			if err != nil {
				t.Fatal(err)
			}
			if got := rc.Offset(); got != 0 {
				t.Errorf("Offset of a new receive: got %d, want 0", got)
			}
			if _, ok := s.Latest(); ok {
				t.Errorf("Latest before done: got a snapshot, want none")
			}
			sendPieces(t, rc, data, 0, len(data), tt.pieces)
			want := metaOf(30, 5)
			want.Size = uint64(tt.size)
			if diff := cmp.Diff(want, rc.Meta()); diff != "" {
				t.Errorf("Receiver.Meta (-want +got):\n%s", diff)
			}
			latest, ok := s.Latest()
			if diff := cmp.Diff(want, latest); !ok || diff != "" {
				t.Errorf("Latest: ok %v (-want +got):\n%s", ok, diff)
			}
			got, err := readSnap(s, 30, 5)
			if err != nil || !slices.Equal(got, data) {
				t.Errorf("Read: got %d bytes, %v, want %d bytes", len(got), err, len(data))
			}
			if diff := cmp.Diff([]string{dirName(5, 30)}, dirEntries(t, dir)); diff != "" {
				t.Errorf("directory (-want +got):\n%s", diff)
			}
			files, err := os.ReadDir(filepath.Join(dir, subdir, dirName(5, 30)))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(files), int(chunkCount(uint64(tt.size), uint32(tt.chunkBytes)))+1; got != want {
				t.Errorf("published snapshot: got %d files, want %d (chunks and manifest)", got, want)
			}
			if err := rc.WriteAt(uint64(tt.size), []byte("x"), true); !errors.Is(err, ErrClosed) {
				t.Errorf("WriteAt after publication: got %v, want ErrClosed", err)
			}
			if err := rc.Close(); err != nil {
				t.Errorf("Close after publication: %v", err)
			}
			s2 := openStore(t, dir, Options{})
			got, err = readSnap(s2, 30, 5)
			if err != nil || !slices.Equal(got, data) {
				t.Errorf("Read after reopen: got %d bytes, %v, want %d bytes", len(got), err, len(data))
			}
		})
	}
}

// TestReceiveResume interrupts a receive several times, closing and
// reopening the Store, and resumes it each time from the durable offset.
func TestReceiveResume(t *testing.T) {
	tests := []struct {
		name   string
		stops  []int // offsets at which the process "restarts"
		pieces []int
	}{
		{"at chunk boundaries", []int{16, 64, 160}, []int{16}},
		{"inside chunks", []int{5, 37, 38, 170}, []int{3, 11, 2}},
		{"immediately", []int{0, 0, 1}, []int{7}},
	}
	for _, tt := range tests {
		for _, announce := range []bool{true, false} {
			t.Run(tt.name, func(t *testing.T) {
				dir := t.TempDir()
				data := payload(77, 200)
				meta := metaOf(12, 3)
				if announce {
					meta.Size = uint64(len(data))
				}
				from := 0
				for _, stop := range tt.stops {
					s := openStore(t, dir, Options{ChunkBytes: 16})
					rc, err := s.Receive(meta)
					if err != nil {
						t.Fatal(err)
					}
					if got := rc.Offset(); got != uint64(from) {
						t.Fatalf("resumed Offset: got %d, want %d", got, from)
					}
					sendPieces(t, rc, data, from, stop, tt.pieces)
					from = stop
					if err := rc.Close(); err != nil {
						t.Fatal(err)
					}
					if _, ok := s.Latest(); ok {
						t.Fatalf("Latest with a partial receive: got a snapshot, want none")
					}
				}
				// Resume with a store configured for other chunk sizes: the
				// receive keeps its own.
				s := openStore(t, dir, Options{ChunkBytes: 1000})
				rc, err := s.Receive(meta)
				if err != nil {
					t.Fatal(err)
				}
				if got := rc.Offset(); got != uint64(from) {
					t.Fatalf("final resumed Offset: got %d, want %d", got, from)
				}
				sendPieces(t, rc, data, from, len(data), tt.pieces)
				got, err := readSnap(s, 12, 3)
				if err != nil || !slices.Equal(got, data) {
					t.Errorf("Read: got %d bytes, %v, want %d bytes", len(got), err, len(data))
				}
			})
		}
	}
}

func TestReceiveOffsetMismatch(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{ChunkBytes: 8})
	rc, err := s.Receive(metaOf(2, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if err := rc.WriteAt(0, []byte("hello"), false); err != nil {
		t.Fatal(err)
	}
	recvDir := filepath.Join(dir, subdir, recvPrefix+dirName(1, 2))
	before, err := os.ReadFile(filepath.Join(recvDir, "chunk-000000"))
	if err != nil {
		t.Fatal(err)
	}
	for _, off := range []uint64{0, 4, 6, 100} {
		err := rc.WriteAt(off, []byte("world"), true)
		if !errors.Is(err, ErrOffsetMismatch) {
			t.Errorf("WriteAt(%d): got %v, want ErrOffsetMismatch", off, err)
		}
	}
	if got := rc.Offset(); got != 5 {
		t.Errorf("Offset after mismatches: got %d, want 5", got)
	}
	after, err := os.ReadFile(filepath.Join(recvDir, "chunk-000000"))
	if err != nil || !slices.Equal(before, after) {
		t.Errorf("chunk after mismatched writes: got %q, %v, want %q", after, err, before)
	}
	if err := rc.WriteAt(5, []byte(" world"), true); err != nil {
		t.Fatal(err)
	}
	if got, err := readSnap(s, 2, 1); err != nil || string(got) != "hello world" {
		t.Errorf("Read: got %q, %v, want %q", got, err, "hello world")
	}
}

func TestReceiveAnnouncedSize(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{ChunkBytes: 8})
	meta := metaOf(2, 1)
	meta.Size = 10
	rc, err := s.Receive(meta)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if err := rc.WriteAt(0, make([]byte, 11), false); !errors.Is(err, ErrCorrupt) {
		t.Errorf("WriteAt beyond the announced size: got %v, want ErrCorrupt", err)
	}
	if got := rc.Offset(); got != 0 {
		t.Errorf("Offset after a refused write: got %d, want 0", got)
	}
	if err := rc.WriteAt(0, make([]byte, 9), true); !errors.Is(err, ErrCorrupt) {
		t.Errorf("done before the announced size: got %v, want ErrCorrupt", err)
	}
	if got := rc.Offset(); got != 0 {
		t.Errorf("Offset after a failed done: got %d, want 0 (start over)", got)
	}
	if _, ok := s.Latest(); ok {
		t.Errorf("Latest: got a snapshot, want none")
	}
	if err := rc.WriteAt(0, payload(1, 10), true); err != nil {
		t.Errorf("WriteAt after starting over: %v", err)
	}
}

func TestReceiveDiscardsOtherReceives(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{ChunkBytes: 8})
	a, err := s.Receive(metaOf(2, 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.WriteAt(0, payload(1, 20), false); err != nil {
		t.Fatal(err)
	}
	b, err := s.Receive(metaOf(3, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.WriteAt(20, []byte("x"), false); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteAt on a superseded receiver: got %v, want ErrClosed", err)
	}
	if diff := cmp.Diff([]string{recvPrefix + dirName(1, 3)}, dirEntries(t, dir)); diff != "" {
		t.Errorf("directory (-want +got):\n%s", diff)
	}
	// Coming back to the first snapshot starts it over.
	a2, err := s.Receive(metaOf(2, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()
	if got := a2.Offset(); got != 0 {
		t.Errorf("Offset of a discarded receive: got %d, want 0", got)
	}
}

// TestReceiveSameSnapshotTwice: a Receive of a snapshot while a receiver
// of the same snapshot is open takes over its progress.
func TestReceiveSameSnapshotTwice(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{ChunkBytes: 8})
	a, err := s.Receive(metaOf(2, 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.WriteAt(0, payload(1, 13), false); err != nil {
		t.Fatal(err)
	}
	b, err := s.Receive(metaOf(2, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got := b.Offset(); got != 13 {
		t.Errorf("Offset: got %d, want 13", got)
	}
	if err := a.WriteAt(13, []byte("x"), false); !errors.Is(err, ErrClosed) {
		t.Errorf("WriteAt on the superseded receiver: got %v, want ErrClosed", err)
	}
}

func TestReceiveReplacesEqualSnapshot(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{ChunkBytes: 8})
	writeSnap(t, s, 2, 1, payload(1, 30), 0)
	rc, err := s.Receive(metaOf(2, 1))
	if err != nil {
		t.Fatal(err)
	}
	data := payload(2, 45)
	sendPieces(t, rc, data, 0, len(data), []int{10})
	got, err := readSnap(s, 2, 1)
	if err != nil || !slices.Equal(got, data) {
		t.Errorf("Read: got %d bytes, %v, want the received %d bytes", len(got), err, len(data))
	}
	if diff := cmp.Diff([]string{dirName(1, 2)}, dirEntries(t, dir)); diff != "" {
		t.Errorf("directory (-want +got):\n%s", diff)
	}
}

// TestReceiveResumeDamaged damages a partial receive on disk (as a crash or
// a bad disk would) and checks where Receive resumes: never after a byte
// that does not verify.
func TestReceiveResumeDamaged(t *testing.T) {
	const cb = 10
	data := payload(4, 100)
	tests := []struct {
		name       string
		damage     func(dir string) error
		wantOffset uint64
	}{
		{"undamaged", func(string) error { return nil }, 45},
		{"flipped byte in chunk 1", func(d string) error { return flipByte(filepath.Join(d, "chunk-000001"), 2) }, 10},
		{"flipped byte in the partial chunk", func(d string) error { return flipByte(filepath.Join(d, "chunk-000004"), 0) }, 40},
		{"truncated partial chunk", func(d string) error { return os.Truncate(filepath.Join(d, "chunk-000004"), 2) }, 40},
		{"missing chunk 2", func(d string) error { return os.Remove(filepath.Join(d, "chunk-000002")) }, 20},
		{"unrecorded bytes after the offset", func(d string) error {
			return appendTo(filepath.Join(d, "chunk-000004"), data[45:50])
		}, 45},
		{"unrecorded chunk after the offset", func(d string) error {
			return os.WriteFile(filepath.Join(d, "chunk-000005"), data[50:60], 0o644)
		}, 45},
		{"leftover progress.tmp", func(d string) error {
			return os.WriteFile(filepath.Join(d, "progress.tmp"), []byte("junk"), 0o644)
		}, 45},
		{"crashed before publication", func(d string) error {
			return os.WriteFile(filepath.Join(d, manifestName), goldenManifest.encode(), 0o644)
		}, 45},
		{"flipped progress byte", func(d string) error { return flipByte(filepath.Join(d, progressName), 10) }, 0},
		{"truncated progress", func(d string) error { return os.Truncate(filepath.Join(d, progressName), 7) }, 0},
		{"missing progress", func(d string) error { return os.Remove(filepath.Join(d, progressName)) }, 0},
		{"progress in version 1", func(d string) error {
			return changeRecord(filepath.Join(d, progressName), func(b []byte) ([]byte, error) {
				p, err := decodeProgress(b)
				if err != nil {
					return nil, err
				}
				return progressV1(p), nil
			})
		}, 45},
		{"progress of version 3", func(d string) error {
			return changeRecord(filepath.Join(d, progressName), func(b []byte) ([]byte, error) { return withVersion(b, 3), nil })
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			meta := metaOf(12, 3)
			meta.Size = uint64(len(data))
			s := openStore(t, dir, Options{ChunkBytes: cb})
			rc, err := s.Receive(meta)
			if err != nil {
				t.Fatal(err)
			}
			sendPieces(t, rc, data, 0, 45, []int{7})
			rc.Close()
			if err := tt.damage(filepath.Join(dir, subdir, recvPrefix+dirName(3, 12))); err != nil {
				t.Fatal(err)
			}
			s = openStore(t, dir, Options{ChunkBytes: cb})
			rc, err = s.Receive(meta)
			if err != nil {
				t.Fatal(err)
			}
			if got := rc.Offset(); got != tt.wantOffset {
				t.Fatalf("resumed Offset: got %d, want %d", got, tt.wantOffset)
			}
			sendPieces(t, rc, data, int(tt.wantOffset), len(data), []int{13})
			got, err := readSnap(s, 12, 3)
			if err != nil || !slices.Equal(got, data) {
				t.Errorf("Read: got %d bytes, %v, want %d bytes", len(got), err, len(data))
			}
		})
	}
}

func TestReceiveResumeOtherMetadata(t *testing.T) {
	tests := []struct {
		name   string
		change func(m *engine.SnapshotMeta)
		want   uint64
	}{
		{"same", func(*engine.SnapshotMeta) {}, 15},
		{"size now announced", func(m *engine.SnapshotMeta) { m.Size = 50 }, 15},
		{"other membership", func(m *engine.SnapshotMeta) { m.Membership = engine.NewMembership([]engine.NodeID{"n1"}, nil) }, 0},
		{"announced size too small", func(m *engine.SnapshotMeta) { m.Size = 10 }, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, Options{ChunkBytes: 8})
			meta := metaOf(12, 3)
			rc, err := s.Receive(meta)
			if err != nil {
				t.Fatal(err)
			}
			if err := rc.WriteAt(0, payload(1, 15), false); err != nil {
				t.Fatal(err)
			}
			rc.Close()
			tt.change(&meta)
			rc, err = openStore(t, dir, Options{}).Receive(meta)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if got := rc.Offset(); got != tt.want {
				t.Errorf("Offset: got %d, want %d", got, tt.want)
			}
		})
	}
}

// TestReceiveDoneVerifies damages a chunk that was already acknowledged:
// the final verification catches it, publishes nothing and starts over.
func TestReceiveDoneVerifies(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{ChunkBytes: 8})
	rc, err := s.Receive(metaOf(2, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data := payload(3, 30)
	if err := rc.WriteAt(0, data[:20], false); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, subdir, recvPrefix+dirName(1, 2), "chunk-000001")
	if err := flipByte(path, 1); err != nil {
		t.Fatal(err)
	}
	err = rc.WriteAt(20, data[20:], true)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
		t.Errorf("done: got %v, want ErrCorrupt naming %s", err, path)
	}
	if _, ok := s.Latest(); ok {
		t.Errorf("Latest: got a snapshot, want none")
	}
	if got := rc.Offset(); got != 0 {
		t.Errorf("Offset after a failed verification: got %d, want 0", got)
	}
	sendPieces(t, rc, data, 0, len(data), []int{30})
	if got, err := readSnap(s, 2, 1); err != nil || !slices.Equal(got, data) {
		t.Errorf("Read after starting over: got %d bytes, %v", len(got), err)
	}
}

func TestOpenKeepsResumableReceive(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{ChunkBytes: 8})
	rc, err := s.Receive(metaOf(2, 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.WriteAt(0, payload(1, 12), false); err != nil {
		t.Fatal(err)
	}
	openStore(t, dir, Options{})
	if diff := cmp.Diff([]string{recvPrefix + dirName(1, 2)}, dirEntries(t, dir)); diff != "" {
		t.Errorf("directory after Open (-want +got):\n%s", diff)
	}
}

// TestOpenRemovesStrayProgress: a received snapshot whose rename became
// durable before its progress record was deleted loses the record on Open.
func TestOpenRemovesStrayProgress(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{ChunkBytes: 8})
	data := payload(1, 20)
	writeSnap(t, s, 2, 1, data, 0)
	snapDir := filepath.Join(dir, subdir, dirName(1, 2))
	if err := os.WriteFile(filepath.Join(snapDir, progressName), goldenProgress.encode(), 0o644); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, Options{})
	if _, err := os.Stat(filepath.Join(snapDir, progressName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("progress record after Open: got %v, want it deleted", err)
	}
	if got, err := readSnap(s, 2, 1); err != nil || !slices.Equal(got, data) {
		t.Errorf("Read: got %d bytes, %v", len(got), err)
	}
}

func TestReceiverReset(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{ChunkBytes: 8})
	rc, err := s.Receive(metaOf(2, 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.WriteAt(0, payload(1, 20), false); err != nil {
		t.Fatal(err)
	}
	if err := rc.Reset(); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	if got := rc.Offset(); got != 0 {
		t.Errorf("Offset after Reset: got %d, want 0", got)
	}
	rc.Close()
	if err := rc.Reset(); !errors.Is(err, ErrClosed) {
		t.Errorf("Reset after Close: got %v, want ErrClosed", err)
	}
	// The reset is durable.
	s = openStore(t, dir, Options{})
	rc, err = s.Receive(metaOf(2, 1))
	if err != nil {
		t.Fatal(err)
	}
	if got := rc.Offset(); got != 0 {
		t.Errorf("Offset after Reset and reopen: got %d, want 0", got)
	}
	data := payload(2, 11)
	sendPieces(t, rc, data, 0, len(data), []int{4})
	if got, err := readSnap(s, 2, 1); err != nil || !slices.Equal(got, data) {
		t.Errorf("Read: got %d bytes, %v, want %d bytes", len(got), err, len(data))
	}
}

// A Receiver syncs once ReceiveSyncBytes were written since its last sync,
// and its progress record claims exactly the bytes synced: a crash that
// loses every write since (here: a copy of the directory whose unsynced
// bytes are replaced by garbage, as a power loss may leave them) resumes
// at the last sync, from bytes that complete into the right snapshot.
func TestReceiveSyncs(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{ChunkBytes: 8, ReceiveSyncBytes: 20})
	data := payload(5, 100)
	meta := metaOf(40, 2)
	meta.Size = uint64(len(data))
	rc, err := s.Receive(meta)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	recvDir := filepath.Join(dir, subdir, recvPrefix+dirName(2, 40))
	// Pieces of 7 bytes: the sync is due at 21 (21 ≥ 20), then at 42.
	for _, step := range []struct{ off, durable uint64 }{
		{7, 0}, {14, 0}, {21, 21}, {28, 21}, {35, 21}, {42, 42}, {49, 42},
	} {
		off := step.off - 7
		if err := rc.WriteAt(off, data[off:step.off], false); err != nil {
			t.Fatal(err)
		}
		if got := rc.durableOffset(); got != step.durable {
			t.Errorf("after %d bytes: durable offset %d, want %d", step.off, got, step.durable)
		}
		b, err := os.ReadFile(filepath.Join(recvDir, progressName))
		if err != nil {
			t.Fatal(err)
		}
		p, err := decodeProgress(b)
		if err != nil {
			t.Fatal(err)
		}
		if p.Offset != step.durable {
			t.Errorf("after %d bytes: progress record claims %d, want the durable %d", step.off, p.Offset, step.durable)
		}
	}
	// The crash: bytes 42.. were never synced.
	cp := t.TempDir()
	if err := os.CopyFS(cp, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	cpRecv := filepath.Join(cp, subdir, recvPrefix+dirName(2, 40))
	for i := 42 / 8; i < 7; i++ {
		path := filepath.Join(cpRecv, chunkName(i))
		if i > 42/8 {
			os.Remove(path) // the directory entry was never synced
			continue
		}
		garbage := slices.Repeat([]byte{0xee}, 8)
		if err := os.WriteFile(path, append(slices.Clone(data[40:42]), garbage...), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := openStore(t, cp, Options{ChunkBytes: 8})
	crc, err := c.Receive(meta)
	if err != nil {
		t.Fatal(err)
	}
	if got := crc.Offset(); got != 42 {
		t.Fatalf("resumed after losing the unsynced bytes at %d, want the last sync 42", got)
	}
	sendPieces(t, crc, data, 42, len(data), []int{13})
	if got, err := readSnap(c, 40, 2); err != nil || !slices.Equal(got, data) {
		t.Errorf("Read of the resumed receive: got %d bytes, %v, want the %d bytes sent", len(got), err, len(data))
	}
	// The original goes on without a crash: done syncs everything before
	// it publishes.
	sendPieces(t, rc, data, 49, len(data), []int{30})
	s2 := openStore(t, dir, Options{})
	if got, err := readSnap(s2, 40, 2); err != nil || !slices.Equal(got, data) {
		t.Errorf("Read after reopen: got %d bytes, %v, want the %d bytes sent", len(got), err, len(data))
	}
}

// Close syncs what was received: a reopened store resumes at the offset
// received, not at the last periodic sync.
func TestReceiveCloseSyncs(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{ChunkBytes: 8, ReceiveSyncBytes: 1000})
	data := payload(6, 50)
	rc, err := s.Receive(metaOf(41, 2))
	if err != nil {
		t.Fatal(err)
	}
	sendPieces(t, rc, data, 0, 30, []int{9})
	if got := rc.durableOffset(); got != 0 {
		t.Fatalf("durable offset before Close: got %d, want 0 (no sync due)", got)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := rc.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	s = openStore(t, dir, Options{})
	rc, err = s.Receive(metaOf(41, 2))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if got := rc.Offset(); got != 30 {
		t.Fatalf("resumed at %d after Close, want 30", got)
	}
}
