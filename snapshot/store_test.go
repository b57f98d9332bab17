package snapshot

import (
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/yggrdb/yggr/engine"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// members is a membership used by most tests.
var members = engine.NewMembership([]engine.NodeID{"n1", "n2", "n3"}, []engine.NodeID{"n4"})

// payload returns n deterministic pseudo-random bytes for seed.
func payload(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func metaOf(index, term uint64) engine.SnapshotMeta {
	return engine.SnapshotMeta{Index: index, Term: term, Membership: members.Clone()}
}

func openStore(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return s
}

// writeSnap creates and commits a snapshot holding data, written in pieces
// of piece bytes (all at once if piece is 0).
func writeSnap(t testing.TB, s *Store, index, term uint64, data []byte, piece int) engine.SnapshotMeta {
	t.Helper()
	w, err := s.Create(metaOf(index, term))
	if err != nil {
		t.Fatalf("Create(%d/%d): %v", term, index, err)
	}
	defer w.Abort()
	if piece == 0 {
		piece = max(len(data), 1)
	}
	for p := data; len(p) > 0; {
		k := min(piece, len(p))
		n, err := w.Write(p[:k])
		if err != nil || n != k {
			t.Fatalf("Write: got %d, %v, want %d, nil", n, err, k)
		}
		p = p[k:]
	}
	meta, err := w.Commit()
	if err != nil {
		t.Fatalf("Commit(%d/%d): %v", term, index, err)
	}
	return meta
}

// readSnap reads the whole snapshot index/term with Read.
func readSnap(s *Store, index, term uint64) ([]byte, error) {
	r, err := s.Open(index, term)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// dirEntries lists the names in dir/snapshots, sorted.
func dirEntries(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, subdir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

func indexes(metas []engine.SnapshotMeta) []uint64 {
	var out []uint64
	for _, m := range metas {
		out = append(out, m.Index)
	}
	return out
}

func TestOpenOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr bool
		want    Options
	}{
		{"defaults", Options{}, false, Options{ChunkBytes: DefaultChunkBytes, Retain: DefaultRetain, ReceiveSyncBytes: DefaultReceiveSyncBytes}},
		{"explicit", Options{ChunkBytes: 10, Retain: 5, ReceiveSyncBytes: 1}, false, Options{ChunkBytes: 10, Retain: 5, ReceiveSyncBytes: 1}},
		{"max chunk", Options{ChunkBytes: MaxChunkBytes}, false, Options{ChunkBytes: MaxChunkBytes, Retain: DefaultRetain, ReceiveSyncBytes: DefaultReceiveSyncBytes}},
		{"negative chunk", Options{ChunkBytes: -1}, true, Options{}},
		{"huge chunk", Options{ChunkBytes: MaxChunkBytes + 1}, true, Options{}},
		{"negative retain", Options{Retain: -1}, true, Options{}},
		{"negative sync bytes", Options{ReceiveSyncBytes: -1}, true, Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(t.TempDir(), tt.opts)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Open: got nil error, want one")
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			got := Options{ChunkBytes: s.opts.ChunkBytes, Retain: s.opts.Retain, ReceiveSyncBytes: s.opts.ReceiveSyncBytes}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
			if s.log == nil {
				t.Errorf("got nil logger, want a discarding one")
			}
		})
	}
}

func TestEmptyStore(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{})
	if m, ok := s.Latest(); ok {
		t.Errorf("Latest: got %v, true, want false", m)
	}
	if got := s.List(); len(got) != 0 {
		t.Errorf("List: got %v, want empty", got)
	}
	if _, err := s.Open(1, 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open(1,1): got %v, want ErrNotFound", err)
	}
	if got, want := s.Dir(), filepath.Join(dir, "snapshots"); got != want {
		t.Errorf("Dir: got %q, want %q", got, want)
	}
}

func TestRetain(t *testing.T) {
	tests := []struct {
		retain int
		want   []uint64
	}{
		{1, []uint64{50}},
		{2, []uint64{40, 50}},
		{3, []uint64{30, 40, 50}},
		{10, []uint64{10, 20, 30, 40, 50}},
	}
	for _, tt := range tests {
		t.Run("", func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, Options{ChunkBytes: 16, Retain: tt.retain})
			for i := uint64(1); i <= 5; i++ {
				writeSnap(t, s, i*10, 2, payload(i, 40), 0)
			}
			if diff := cmp.Diff(tt.want, indexes(s.List())); diff != "" {
				t.Errorf("List (-want +got):\n%s", diff)
			}
			var wantDirs []string
			for _, i := range tt.want {
				wantDirs = append(wantDirs, dirName(2, i))
			}
			if diff := cmp.Diff(wantDirs, dirEntries(t, dir)); diff != "" {
				t.Errorf("directory (-want +got):\n%s", diff)
			}
			latest, ok := s.Latest()
			if !ok || latest.Index != 50 || latest.Size != 40 {
				t.Errorf("Latest: got %v size %d, %v, want 2/50 size 40", latest, latest.Size, ok)
			}
			// Reopening with a smaller Retain deletes the excess.
			s2 := openStore(t, dir, Options{Retain: 1})
			if diff := cmp.Diff([]uint64{50}, indexes(s2.List())); diff != "" {
				t.Errorf("List after reopen with Retain 1 (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{dirName(2, 50)}, dirEntries(t, dir)); diff != "" {
				t.Errorf("directory after reopen (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRetainKeepsSnapshotsBeingRead(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{ChunkBytes: 8, Retain: 1})
	data1 := payload(1, 30)
	writeSnap(t, s, 1, 1, data1, 0)
	r, err := s.Open(1, 1)
	if err != nil {
		t.Fatal(err)
	}
	writeSnap(t, s, 2, 1, payload(2, 30), 0)
	writeSnap(t, s, 3, 1, payload(3, 30), 0)
	if diff := cmp.Diff([]uint64{1, 3}, indexes(s.List())); diff != "" {
		t.Errorf("List while 1 is read (-want +got):\n%s", diff)
	}
	got, err := io.ReadAll(r)
	if err != nil || !slices.Equal(got, data1) {
		t.Errorf("reading a snapshot beyond Retain: got %d bytes, %v, want the original %d bytes", len(got), err, len(data1))
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uint64{3}, indexes(s.List())); diff != "" {
		t.Errorf("List after Close (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{dirName(1, 3)}, dirEntries(t, dir)); diff != "" {
		t.Errorf("directory after Close (-want +got):\n%s", diff)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
}

func TestOpenRemovesLeftovers(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{ChunkBytes: 8})
	data := payload(7, 20)
	writeSnap(t, s, 5, 2, data, 0)
	root := filepath.Join(dir, subdir)

	// An interrupted Writer: a temp dir with some chunks.
	w, err := s.Create(metaOf(6, 2))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(payload(8, 20)); err != nil {
		t.Fatal(err)
	}
	// An interrupted delete, a receive without progress, an unknown file.
	mkdirs := []string{"tmp-del-" + dirName(1, 1), recvPrefix + dirName(2, 9)}
	for _, d := range mkdirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, d, "chunk-000000"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "README"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}

	s2 := openStore(t, dir, Options{})
	want := []string{dirName(2, 5), "README"}
	slices.Sort(want)
	if diff := cmp.Diff(want, dirEntries(t, dir)); diff != "" {
		t.Errorf("directory after Open (-want +got):\n%s", diff)
	}
	got, err := readSnap(s2, 5, 2)
	if err != nil || !slices.Equal(got, data) {
		t.Errorf("surviving snapshot: got %d bytes, %v, want %d bytes", len(got), err, len(data))
	}
	// The abandoned Writer can still be aborted without harm.
	if err := w.Abort(); err != nil {
		t.Errorf("Abort of a writer whose dir is gone: %v", err)
	}
}

// TestInterruptedReplacement covers a crash while a snapshot was being
// replaced by an equal one: old-X is restored if X is missing, deleted
// otherwise.
func TestInterruptedReplacement(t *testing.T) {
	tests := []struct {
		name     string
		keepOrig bool
	}{
		{"new one published", true},
		{"new one missing", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, Options{ChunkBytes: 8})
			data := payload(3, 25)
			writeSnap(t, s, 9, 4, data, 0)
			root := filepath.Join(dir, subdir)
			name := dirName(4, 9)
			if tt.keepOrig {
				if err := os.CopyFS(filepath.Join(root, oldPrefix+name), os.DirFS(filepath.Join(root, name))); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Rename(filepath.Join(root, name), filepath.Join(root, oldPrefix+name)); err != nil {
				t.Fatal(err)
			}
			s2 := openStore(t, dir, Options{})
			if diff := cmp.Diff([]string{name}, dirEntries(t, dir)); diff != "" {
				t.Errorf("directory after Open (-want +got):\n%s", diff)
			}
			got, err := readSnap(s2, 9, 4)
			if err != nil || !slices.Equal(got, data) {
				t.Errorf("snapshot: got %d bytes, %v, want %d bytes", len(got), err, len(data))
			}
		})
	}
}

func TestReplaceEqualSnapshot(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{ChunkBytes: 8})
	first, second := payload(1, 30), payload(2, 50)
	writeSnap(t, s, 9, 4, first, 0)
	r, err := s.Open(9, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	meta := writeSnap(t, s, 9, 4, second, 0)
	if meta.Size != 50 {
		t.Errorf("Commit: got size %d, want 50", meta.Size)
	}
	if diff := cmp.Diff([]uint64{9}, indexes(s.List())); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	got, err := readSnap(s, 9, 4)
	if err != nil || !slices.Equal(got, second) {
		t.Errorf("new reader: got %d bytes, %v, want the replacement's %d bytes", len(got), err, len(second))
	}
	// The reader opened before keeps reading the snapshot it opened.
	got, err = io.ReadAll(r)
	if err != nil || !slices.Equal(got, first) {
		t.Errorf("old reader: got %d bytes, %v, want the original %d bytes", len(got), err, len(first))
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{dirName(4, 9)}, dirEntries(t, dir)); diff != "" {
		t.Errorf("directory after the old reader closed (-want +got):\n%s", diff)
	}
}

func TestOpenCorruptManifestFails(t *testing.T) {
	tests := []struct {
		name   string
		damage func(path string) error
	}{
		{"flipped", func(p string) error { return flipByte(p, 5) }},
		{"truncated", func(p string) error { return os.Truncate(p, 10) }},
		{"empty", func(p string) error { return os.Truncate(p, 0) }},
		{"missing", os.Remove},
		{"wrong snapshot", func(p string) error {
			m := &manifest{Index: 1, Term: 1, ChunkBytes: 8}
			return os.WriteFile(p, m.encode(), 0o644)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, Options{ChunkBytes: 8})
			writeSnap(t, s, 9, 4, payload(1, 30), 0)
			path := filepath.Join(dir, subdir, dirName(4, 9), manifestName)
			if err := tt.damage(path); err != nil {
				t.Fatal(err)
			}
			_, err := Open(dir, Options{})
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Errorf("Open: got %v, want ErrCorrupt naming %s", err, path)
			}
			// The Store opened before detects it on Open of the snapshot.
			_, err = s.Open(9, 4)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Errorf("Store.Open: got %v, want ErrCorrupt naming %s", err, path)
			}
		})
	}
}

// flipByte inverts the byte at off (from the end if negative).
func flipByte(path string, off int64) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if off < 0 {
		off += int64(len(b))
	}
	b[off] ^= 0xff
	return os.WriteFile(path, b, 0o644)
}

func TestParseDirName(t *testing.T) {
	tests := []struct {
		name        string
		term, index uint64
		ok          bool
	}{
		{dirName(3, 17), 3, 17, true},
		{dirName(0, 0), 0, 0, true},
		{dirName(^uint64(0), ^uint64(0)), ^uint64(0), ^uint64(0), true},
		{"3-17", 0, 0, false},
		{"00000000000000000003_00000000000000000017", 0, 0, false},
		{"0000000000000000000a-00000000000000000017", 0, 0, false},
		{"+0000000000000000003-00000000000000000017", 0, 0, false},
		{"99999999999999999999-00000000000000000017", 0, 0, false},
		{"", 0, 0, false},
	}
	for _, tt := range tests {
		term, index, ok := parseDirName(tt.name)
		if term != tt.term || index != tt.index || ok != tt.ok {
			t.Errorf("parseDirName(%q): got %d, %d, %v, want %d, %d, %v", tt.name, term, index, ok, tt.term, tt.index, tt.ok)
		}
	}
}

// TestHistory: besides the newest Retain snapshots the Store keeps the
// newest one at or below Latest−History and every newer one, as it writes
// and as it reopens.
func TestHistory(t *testing.T) {
	dir := t.TempDir()
	opts := Options{ChunkBytes: 16, Retain: 2, History: 35}
	s := openStore(t, dir, opts)
	for i := uint64(1); i <= 10; i++ {
		writeSnap(t, s, i*10, 2, payload(i, 40), 0)
	}
	// Latest 100, floor 65: the base is 60.
	want := []uint64{60, 70, 80, 90, 100}
	if diff := cmp.Diff(want, indexes(s.List())); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	s2 := openStore(t, dir, opts)
	if diff := cmp.Diff(want, indexes(s2.List())); diff != "" {
		t.Errorf("List after reopen with the same options (-want +got):\n%s", diff)
	}
	s3 := openStore(t, dir, Options{Retain: 2})
	if diff := cmp.Diff([]uint64{90, 100}, indexes(s3.List())); diff != "" {
		t.Errorf("List after reopen without History (-want +got):\n%s", diff)
	}
}

func TestDeletable(t *testing.T) {
	for _, tt := range []struct {
		retain  int
		history uint64
		indexes []uint64
		want    int
	}{
		{2, 0, nil, 0},
		{2, 0, []uint64{10, 20, 30}, 1},
		{2, 100, []uint64{10}, 0},
		{1, 100, []uint64{10, 20, 30}, 0},   // the window reaches below every snapshot
		{1, 20, []uint64{10, 20, 30}, 0},    // floor 10: base 10
		{1, 19, []uint64{10, 20, 30}, 0},    // floor 11: base 10
		{1, 1, []uint64{10, 20, 30}, 1},     // floor 29: base 20
		{3, 1, []uint64{10, 20, 30, 40}, 1}, // Retain keeps more than the window needs
		{1, 15, []uint64{5, 10, 20, 30}, 1}, // floor 15: base 10
		{2, 25, []uint64{5, 10, 20, 40}, 1}, // floor 15: base 10
		{2, 40, []uint64{5, 10, 20, 40}, 0}, // floor 0: nothing at or below, keep all
		{1, 0, []uint64{5, 10, 20, 40, 41}, 4},
	} {
		o := Options{Retain: tt.retain, History: tt.history}
		if got := o.deletable(tt.indexes); got != tt.want {
			t.Errorf("Retain %d History %d deletable(%v) = %d, want %d", tt.retain, tt.history, tt.indexes, got, tt.want)
		}
	}
}
