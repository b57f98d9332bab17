package snapshot

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/record"
)

// Reader reads one complete snapshot. Every chunk is verified against its
// CRC-32C before any of its bytes are returned, and Read verifies the
// SHA-256 of the whole snapshot before it returns io.EOF. While a Reader is
// open its snapshot is not deleted, even if it falls beyond Retain or is
// replaced by an equal one. Read and ReadAt may be used together; ReadAt
// is safe for concurrent use.
type Reader struct {
	s    *Store
	e    *entry
	root *os.Root // the snapshot directory, pinned even if it is renamed
	path string   // its path when opened, for error messages
	m    *manifest

	mu     sync.Mutex
	closed bool
	err    error // sticky error of Read
	// Sequential Read state: rbuf holds the verified chunk rnext-1, of
	// which rbuf[rpos:] is not returned yet; hash covers chunks < rnext.
	rnext int
	rbuf  []byte
	rpos  int
	hash  hash.Hash
	cidx  int    // ReadAt cache: index of the chunk in cbuf, or -1
	cbuf  []byte // ReadAt cache
}

// Open opens the complete snapshot index/term for reading and verifies its
// manifest. It returns an error wrapping ErrNotFound if there is no such
// snapshot and ErrCorrupt if its manifest is damaged or does not match.
func (s *Store) Open(index, term uint64) (*Reader, error) {
	e, err := s.acquire(index, term)
	if err != nil {
		return nil, err
	}
	r, err := s.openEntry(e)
	if err != nil {
		s.release(e)
		return nil, err
	}
	return r, nil
}

func (s *Store) openEntry(e *entry) (*Reader, error) {
	s.mu.Lock()
	path := filepath.Join(s.dir, e.name)
	root, err := os.OpenRoot(path)
	s.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	m, err := readManifest(root, path)
	if err != nil {
		root.Close()
		return nil, err
	}
	if m.Index != e.meta.Index || m.Term != e.meta.Term {
		root.Close()
		return nil, fmt.Errorf("%w: %s: manifest says %d/%d, want %s",
			ErrCorrupt, filepath.Join(path, manifestName), m.Term, m.Index, e.meta)
	}
	return &Reader{s: s, e: e, root: root, path: path, m: m, hash: sha256.New(), cidx: -1}, nil
}

// Meta returns the snapshot's metadata, with Size set.
func (r *Reader) Meta() engine.SnapshotMeta { return r.m.meta() }

// Read reads the next bytes of the snapshot. At the end it verifies the
// whole-snapshot SHA-256 and returns io.EOF, or an error wrapping
// ErrCorrupt. A damaged chunk is an error wrapping ErrCorrupt naming the
// file, returned before any of that chunk's bytes. Errors are sticky.
func (r *Reader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, errClosedf("snapshot reader closed")
	}
	if r.err != nil {
		return 0, r.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	for r.rpos == len(r.rbuf) {
		if r.rnext == len(r.m.CRCs) {
			var sum [sha256.Size]byte
			if !bytes.Equal(r.hash.Sum(sum[:0]), r.m.SHA256[:]) {
				r.err = fmt.Errorf("%w: %s: whole-snapshot SHA-256 mismatch", ErrCorrupt, r.path)
			} else {
				r.err = io.EOF
			}
			return 0, r.err
		}
		if r.rbuf == nil {
			r.rbuf = make([]byte, r.m.bufBytes())
		}
		b, err := r.loadChunk(r.rnext, r.rbuf)
		if err != nil {
			r.err = err
			return 0, err
		}
		r.hash.Write(b)
		r.rbuf, r.rpos = b, 0
		r.rnext++
	}
	n := copy(p, r.rbuf[r.rpos:])
	r.rpos += n
	return n, nil
}

// ReadAt reads len(p) bytes at offset off, verifying every chunk it
// touches (but not the whole-snapshot hash: use Read for that). Like
// io.ReaderAt, it returns io.EOF with n < len(p) at the end of the
// snapshot.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, errClosedf("snapshot reader closed")
	}
	if off < 0 {
		return 0, errNegativeOffset
	}
	n := 0
	cb := uint64(r.m.ChunkBytes)
	for n < len(p) {
		pos := uint64(off) + uint64(n)
		if pos >= r.m.Size {
			return n, io.EOF
		}
		i := int(pos / cb)
		if r.cidx != i {
			if r.cbuf == nil {
				r.cbuf = make([]byte, r.m.bufBytes())
			}
			b, err := r.loadChunk(i, r.cbuf[:cap(r.cbuf)])
			if err != nil {
				r.cidx = -1
				return n, err
			}
			r.cbuf, r.cidx = b, i
		}
		n += copy(p[n:], r.cbuf[pos-uint64(i)*cb:])
	}
	return n, nil
}

// loadChunk reads chunk i into buf (of at least ChunkBytes) and verifies
// its size and CRC-32C, returning the chunk's bytes.
func (r *Reader) loadChunk(i int, buf []byte) ([]byte, error) {
	return loadChunk(r.root, r.path, i, r.m.chunkLen(i), r.m.CRCs[i], buf)
}

// loadChunk reads the chunk file i of the directory root (at path), which
// must hold exactly want bytes with CRC-32C crc.
func loadChunk(root *os.Root, path string, i, want int, crc uint32, buf []byte) ([]byte, error) {
	name := filepath.Join(path, chunkName(i))
	f, err := root.Open(chunkName(i))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, name, err)
	}
	if st.Size() != int64(want) {
		return nil, fmt.Errorf("%w: %s: size %d, want %d", ErrCorrupt, name, st.Size(), want)
	}
	b := buf[:want]
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, name, err)
	}
	if got := record.Checksum(b); got != crc {
		return nil, fmt.Errorf("%w: %s: checksum mismatch (computed %08x, manifest %08x)", ErrCorrupt, name, got, crc)
	}
	return b, nil
}

// Close releases the snapshot; a snapshot beyond Retain or replaced is
// deleted when its last Reader closes. Close is idempotent.
func (r *Reader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	r.rbuf, r.cbuf = nil, nil
	err := r.root.Close()
	r.s.release(r.e)
	return err
}
