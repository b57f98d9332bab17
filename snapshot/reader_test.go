package snapshot

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadAt(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{ChunkBytes: 10})
	data := payload(42, 95) // 9 full chunks and one of 5 bytes
	writeSnap(t, s, 8, 2, data, 0)
	r, err := s.Open(8, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	want := metaOf(8, 2)
	want.Size = 95
	if diff := cmp.Diff(want, r.Meta()); diff != "" {
		t.Errorf("Meta (-want +got):\n%s", diff)
	}
	tests := []struct {
		name    string
		off     int64
		n       int
		wantN   int
		wantErr error
	}{
		{"start", 0, 4, 4, nil},
		{"within a chunk", 3, 5, 5, nil},
		{"one whole chunk", 10, 10, 10, nil},
		{"across one boundary", 7, 6, 6, nil},
		{"across several boundaries", 5, 37, 37, nil},
		{"ending at a boundary", 12, 8, 8, nil},
		{"into the last chunk", 88, 7, 7, nil},
		{"exactly to the end", 80, 15, 15, nil},
		{"past the end", 90, 10, 5, io.EOF},
		{"everything", 0, 95, 95, nil},
		{"more than everything", 0, 200, 95, io.EOF},
		{"at the end", 95, 1, 0, io.EOF},
		{"beyond the end", 1000, 1, 0, io.EOF},
		{"empty", 50, 0, 0, nil},
		{"negative", -1, 1, 0, errNegativeOffset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := make([]byte, tt.n)
			n, err := r.ReadAt(p, tt.off)
			if n != tt.wantN || !errors.Is(err, tt.wantErr) {
				t.Fatalf("ReadAt(%d bytes at %d): got %d, %v, want %d, %v", tt.n, tt.off, n, err, tt.wantN, tt.wantErr)
			}
			if n > 0 && !slices.Equal(p[:n], data[tt.off:tt.off+int64(n)]) {
				t.Errorf("ReadAt(%d bytes at %d): wrong bytes", tt.n, tt.off)
			}
		})
	}
	// ReadAt and Read are independent.
	got, err := io.ReadAll(r)
	if err != nil || !slices.Equal(got, data) {
		t.Errorf("Read after ReadAt: got %d bytes, %v, want %d bytes", len(got), err, len(data))
	}
	if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("Read at EOF: got %d, %v, want 0, EOF", n, err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadAt(make([]byte, 1), 0); !errors.Is(err, ErrClosed) {
		t.Errorf("ReadAt after Close: got %v, want ErrClosed", err)
	}
	if _, err := r.Read(make([]byte, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close: got %v, want ErrClosed", err)
	}
}

// TestReadAtSection serves a snapshot the way InstallSnapshot does, in
// pieces not aligned with chunks, and reassembles it.
func TestReadAtSection(t *testing.T) {
	s := openStore(t, t.TempDir(), Options{ChunkBytes: 64})
	data := payload(5, 1000)
	writeSnap(t, s, 3, 1, data, 0)
	r, err := s.Open(3, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, piece := range []int{1, 7, 63, 64, 65, 999, 1000, 4096} {
		got, err := io.ReadAll(io.NewSectionReader(r, 0, int64(r.Meta().Size)))
		if err != nil || !slices.Equal(got, data) {
			t.Errorf("section reader: got %d bytes, %v", len(got), err)
		}
		var out []byte
		buf := make([]byte, piece)
		for off := int64(0); off < int64(len(data)); {
			n, err := r.ReadAt(buf, off)
			out = append(out, buf[:n]...)
			off += int64(n)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("piece %d: ReadAt at %d: %v", piece, off, err)
			}
		}
		if !slices.Equal(out, data) {
			t.Errorf("piece %d: reassembled %d bytes differ from the %d written", piece, len(out), len(data))
		}
	}
}

// damage describes a change to one file of a snapshot.
type damage struct {
	name   string
	file   string // chunk or manifest name
	change func(path string) error
}

var damages = []damage{
	{"flipped chunk byte", "chunk-000001", func(p string) error { return flipByte(p, 3) }},
	{"flipped last chunk byte", "chunk-000002", func(p string) error { return flipByte(p, -1) }},
	{"truncated chunk", "chunk-000001", func(p string) error { return os.Truncate(p, 5) }},
	{"empty chunk", "chunk-000000", func(p string) error { return os.Truncate(p, 0) }},
	{"appended to chunk", "chunk-000002", func(p string) error { return appendTo(p, []byte{0}) }},
	{"missing chunk", "chunk-000001", os.Remove},
	{"chunk is a directory", "chunk-000000", func(p string) error {
		if err := os.Remove(p); err != nil {
			return err
		}
		return os.Mkdir(p, 0o755)
	}},
	{"swapped chunks", "chunk-000000", func(p string) error {
		q := filepath.Join(filepath.Dir(p), "chunk-000001")
		a, _ := os.ReadFile(p)
		b, _ := os.ReadFile(q)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
		return os.WriteFile(q, a, 0o644)
	}},
	{"flipped manifest byte", manifestName, func(p string) error { return flipByte(p, 20) }},
	{"flipped manifest checksum", manifestName, func(p string) error { return flipByte(p, -1) }},
	{"truncated manifest", manifestName, func(p string) error { return os.Truncate(p, 30) }},
	{"appended to manifest", manifestName, func(p string) error { return appendTo(p, []byte("x")) }},
	{"missing manifest", manifestName, os.Remove},
}

func appendTo(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func TestCorruptionDetected(t *testing.T) {
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, Options{ChunkBytes: 10})
			data := payload(9, 25) // chunks of 10, 10, 5
			writeSnap(t, s, 8, 2, data, 0)
			path := filepath.Join(dir, subdir, dirName(2, 8), d.file)
			if err := d.change(path); err != nil {
				t.Fatal(err)
			}
			wantErr := func(op string, err error) {
				t.Helper()
				if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), path) {
					t.Errorf("%s: got %v, want ErrCorrupt naming %s", op, err, path)
				}
			}
			r, err := s.Open(8, 2)
			if d.file == manifestName {
				wantErr("Open", err)
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer r.Close()
			got, err := io.ReadAll(r)
			wantErr("Read", err)
			// Read returns only bytes of chunks before the damaged one.
			if !slices.Equal(got, data[:len(got)]) || len(got) >= len(data) {
				t.Errorf("Read returned %d bytes that are not a proper prefix of the snapshot", len(got))
			}
			if _, err := r.Read(make([]byte, 1)); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Read after an error: got %v, want the same ErrCorrupt", err)
			}
			_, err = r.ReadAt(make([]byte, len(data)), 0)
			wantErr("ReadAt", err)
		})
	}
}

// TestWholeHashMismatch damages the manifest's SHA-256 consistently (with a
// valid manifest checksum): the chunk CRCs pass, Read must still fail at
// the end.
func TestWholeHashMismatch(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{ChunkBytes: 10})
	writeSnap(t, s, 8, 2, payload(9, 25), 0)
	path := filepath.Join(dir, subdir, dirName(2, 8), manifestName)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := decodeManifest(b)
	if err != nil {
		t.Fatal(err)
	}
	m.SHA256[0] ^= 1
	if err := os.WriteFile(path, m.encode(), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = readSnap(s, 8, 2)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("Read: got %v, want ErrCorrupt about the SHA-256", err)
	}
}

// Read loads chunks ahead on a goroutine (prefetcher): bytes come back in
// order whatever the buffer sizes, interleaved ReadAt calls see the same
// bytes, and Close in the middle of a snapshot stops the goroutine and
// releases the snapshot.
func TestReadAhead(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{ChunkBytes: 10})
	data := payload(4, 253) // 26 chunks, the last of 3 bytes
	writeSnap(t, s, 8, 2, data, 0)

	r, err := s.Open(8, 2)
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	for size := 1; ; size = size%13 + 1 {
		buf := make([]byte, size)
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Read after %d bytes: %v", len(got), err)
		}
		if len(got) > len(data) {
			t.Fatalf("Read returned %d bytes of a %d-byte snapshot", len(got), len(data))
		}
		off := (len(got) * 7) % len(data)
		at := make([]byte, min(17, len(data)-off))
		if _, err := r.ReadAt(at, int64(off)); err != nil && err != io.EOF {
			t.Fatalf("ReadAt(%d): %v", off, err)
		}
		if !slices.Equal(at, data[off:off+len(at)]) {
			t.Fatalf("ReadAt(%d) returned other bytes", off)
		}
	}
	if !slices.Equal(got, data) {
		t.Fatalf("Read returned %d bytes, not the snapshot's %d", len(got), len(data))
	}
	if _, err := r.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("Read after the end: %v, want io.EOF", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	// Close after one byte: the goroutine has loaded what it may and
	// waits for a buffer; Close must stop it.
	r, err = s.Open(8, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	pf := r.pf
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-pf.done:
	default:
		t.Error("Close returned before the prefetch goroutine ended")
	}
	if _, err := r.Read(make([]byte, 1)); err == nil {
		t.Error("Read after Close succeeded")
	}
	// The snapshot is released.
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.snaps {
		if e.readers != 0 {
			t.Errorf("snapshot %s has %d readers after Close", e.name, e.readers)
		}
	}
}

// The prefetcher asks the kernel to read every chunk ahead (advise); the
// advice is a hint, so a failing advise changes nothing but the speed.
func TestReadAheadAdviceFails(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, Options{ChunkBytes: 10})
	data := payload(5, 195) // 20 chunks
	writeSnap(t, s, 8, 2, data, 0)
	var advised []string
	advise = func(f *os.File) error {
		advised = append(advised, filepath.Base(f.Name()))
		return errors.New("fadvise: not supported")
	}
	defer func() { advise = adviseWillNeed }()
	got, err := readSnap(s, 8, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, data) {
		t.Fatalf("Read returned %d bytes, not the snapshot's %d", len(got), len(data))
	}
	slices.Sort(advised)
	var want []string
	for i := range 20 {
		want = append(want, chunkName(i))
	}
	if diff := cmp.Diff(want, advised); diff != "" {
		t.Errorf("chunks advised (-want +got):\n%s", diff)
	}
}
