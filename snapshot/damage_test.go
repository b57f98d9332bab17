package snapshot

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzDamagedSnapshot damages the files of a store holding one complete
// snapshot and one partial receive (bytes flipped or overwritten, files
// truncated, extended or deleted) and checks that nothing ever yields
// wrong data without an error: Open fails only with ErrCorrupt; a Reader
// either returns the original bytes or an error; a resumed receive,
// completed from the offset it reports, publishes exactly the original
// bytes. If v1, the store's manifest and progress record are in format
// version 1, as yggr v0.1 left them.
func FuzzDamagedSnapshot(f *testing.F) {
	const chunk = 16
	pristine := f.TempDir()
	s := openStore(f, pristine, Options{ChunkBytes: chunk})
	full := payload(1, 50) // chunks of 16, 16, 16, 2
	writeSnap(f, s, 10, 2, full, 0)
	recvMeta := metaOf(20, 3)
	recvMeta.Size = 60
	partial := payload(2, 60)
	rc, err := s.Receive(recvMeta)
	if err != nil {
		f.Fatal(err)
	}
	if err := rc.WriteAt(0, partial[:37], false); err != nil { // chunks of 16, 16, 5
		f.Fatal(err)
	}
	rc.Close()
	var files []string
	err = filepath.WalkDir(pristine, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(pristine, path)
			files = append(files, rel)
		}
		return err
	})
	if err != nil {
		f.Fatal(err)
	}
	slices.Sort(files)
	pristineV1 := f.TempDir()
	if err := os.CopyFS(pristineV1, os.DirFS(pristine)); err != nil {
		f.Fatal(err)
	}
	rewriteV1(f, pristineV1)

	for _, v1 := range []bool{false, true} {
		f.Add(v1, []byte{})
		// Two kinds of damage per file, every kind on every kind of file.
		for i := range files {
			f.Add(v1, []byte{byte(i), byte(i % 5), 3, 0x40})
			f.Add(v1, []byte{byte(i), byte(i+2) % 5, 17, 0x01})
		}
		f.Add(v1, []byte{0, 0, 1, 1, 1, 0, 2, 2, 5, 1, 0, 0})
	}
	f.Fuzz(func(t *testing.T, v1 bool, ops []byte) {
		dir := t.TempDir()
		src := pristine
		if v1 {
			src = pristineV1
		}
		if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
			t.Fatal(err)
		}
		for ; len(ops) >= 4; ops = ops[4:] {
			damageFile(t, filepath.Join(dir, files[int(ops[0])%len(files)]), ops[1], int(ops[2]), ops[3])
		}
		s, err := Open(dir, Options{ChunkBytes: chunk})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: got %v, want nil or ErrCorrupt", err)
			}
			return
		}
		for _, m := range s.List() {
			if m.Index != 10 || m.Term != 2 {
				t.Fatalf("List: got snapshot %v, want only 2/10", m)
			}
			checkReader(t, s, full)
		}
		rc, err := s.Receive(recvMeta)
		if err != nil {
			t.Fatalf("Receive: %v", err)
		}
		off := rc.Offset()
		if off > 37 {
			t.Fatalf("resumed Offset: got %d, want at most the 37 bytes received", off)
		}
		if err := rc.WriteAt(off, partial[off:], true); err != nil {
			t.Fatalf("completing the receive from %d: %v", off, err)
		}
		got, err := readSnap(s, 20, 3)
		if err != nil || !slices.Equal(got, partial) {
			t.Fatalf("received snapshot resumed at %d: got %d bytes, %v, want the original %d bytes", off, len(got), err, len(partial))
		}
	})
}

// damageFile changes the file at path: op selects flipping, overwriting,
// truncating, extending or deleting, at position pos with value v.
func damageFile(t *testing.T, path string, op byte, pos int, v byte) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	switch op % 5 {
	case 0:
		if len(b) > 0 {
			b[pos%len(b)] ^= v | 1
		}
	case 1:
		if len(b) > 0 {
			b[pos%len(b)] = v
		}
	case 2:
		b = b[:pos%(len(b)+1)]
	case 3:
		b = append(b, make([]byte, int(v%4)+1)...)
		b[len(b)-1] = v
	case 4:
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkReader reads snapshot 2/10 with Read and with ReadAt: every call
// returns original bytes, and fails if it cannot return them all.
func checkReader(t *testing.T, s *Store, want []byte) {
	t.Helper()
	r, err := s.Open(10, 2)
	if err != nil {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Store.Open: got %v, want nil or ErrCorrupt", err)
		}
		return
	}
	defer r.Close()
	if got := r.Meta().Size; got != uint64(len(want)) {
		t.Fatalf("Meta().Size: got %d, want %d", got, len(want))
	}
	got, err := io.ReadAll(r)
	if err == nil && !slices.Equal(got, want) {
		t.Fatalf("Read: got %x without error, want %x", got, want)
	}
	if err != nil && !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Read: got %v, want nil or ErrCorrupt", err)
	}
	for _, span := range [][2]int{{0, 50}, {5, 20}, {15, 2}, {31, 19}, {48, 10}} {
		p := make([]byte, span[1])
		n, err := r.ReadAt(p, int64(span[0]))
		if err != nil && err != io.EOF && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("ReadAt(%v): got %v, want nil, EOF or ErrCorrupt", span, err)
		}
		if !slices.Equal(p[:n], want[span[0]:span[0]+n]) {
			t.Fatalf("ReadAt(%v): got %x, want %x", span, p[:n], want[span[0]:span[0]+n])
		}
	}
}
