package snapshot

import (
	"bytes"
	"crypto/sha256"
	"fmt"
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
// is safe for concurrent use. From its first call, Read loads and verifies
// up to readAhead chunks ahead on a goroutine of its own (readAhead+1
// chunk buffers), which Close stops.
type Reader struct {
	s    *Store
	e    *entry
	root *os.Root // the snapshot directory, pinned even if it is renamed
	path string   // its path when opened, for error messages
	m    *manifest

	mu     sync.Mutex
	closed bool
	err    error // sticky error of Read
	// Sequential Read state: rbuf holds the verified chunk last taken
	// from pf, of which rbuf[rpos:] is not returned yet.
	pf   *prefetcher // started by the first Read
	rbuf []byte
	rpos int
	cidx int    // ReadAt cache: index of the chunk in cbuf, or -1
	cbuf []byte // ReadAt cache
}

// readAhead is how many chunks a sequential Read may have loaded and
// verified ahead of the one it returns bytes from.
const readAhead = 2

// adviseAhead is how many chunks ahead of the one it loads the prefetcher
// asks the kernel to read (adviseWillNeed): the device then has several
// reads queued instead of one 1 MiB read at a time. Cold reads of 40 files
// of 1 MiB written with O_DIRECT, on the 2-core VM under load: 200–400 ms
// one after another, 30–190 ms after advising them all.
const adviseAhead = 8

// advise is adviseWillNeed, replaced by tests.
var advise = adviseWillNeed

// adviseChunk asks the kernel to read chunk i of root into the page
// cache. It is a hint: a failure changes nothing but the speed, and
// loadChunk reports a missing or damaged chunk when it gets there.
func adviseChunk(root *os.Root, i int) {
	f, err := root.Open(chunkName(i))
	if err != nil {
		return
	}
	_ = advise(f) // a hint; see above
	f.Close()
}

// prefetcher loads, verifies and hashes a snapshot's chunks in order on a
// goroutine of its own, so that reading the files (from the device: chunks
// are written with O_DIRECT, so a snapshot is not in the page cache), their
// CRC-32C and the SHA-256 run beside the consumer of Read (restoring a
// state machine) instead of between its steps. Measured in the commit that
// added it (issue 15).
type prefetcher struct {
	out  chan chunkResult // chunks in order, then the final result
	free chan []byte      // buffers handed back by Read
	stop chan struct{}    // closed by Close
	done chan struct{}    // closed when the goroutine ends
}

// chunkResult is a verified chunk (err nil) or the end of the stream: err
// is io.EOF if the whole-snapshot SHA-256 matched, else the error.
type chunkResult struct {
	b   []byte
	err error
}

// startPrefetch starts the prefetcher's goroutine with readAhead+1
// buffers (fewer for a snapshot of fewer chunks).
func (r *Reader) startPrefetch() *prefetcher {
	n := min(readAhead+1, len(r.m.CRCs))
	p := &prefetcher{
		out:  make(chan chunkResult, n+1),
		free: make(chan []byte, n),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	for range n {
		p.free <- make([]byte, r.m.bufBytes())
	}
	root, path, m := r.root, r.path, r.m
	// The prefetch goroutine: owned by the Reader, whose Close stops it
	// and waits for it; it ends after the last chunk, at the first error,
	// or when stop closes.
	go func() {
		defer close(p.done)
		h := sha256.New()
		for i := range min(adviseAhead, len(m.CRCs)) {
			adviseChunk(root, i)
		}
		for i := range m.CRCs {
			if j := i + adviseAhead; j < len(m.CRCs) {
				adviseChunk(root, j)
			}
			var buf []byte
			select {
			case buf = <-p.free:
			case <-p.stop:
				return
			}
			b, err := loadChunk(root, path, i, m.chunkLen(i), m.CRCs[i], buf[:cap(buf)])
			if err != nil {
				p.out <- chunkResult{err: err} // out has room: see below
				return
			}
			h.Write(b)
			// out holds one slot per buffer plus one for the end, so
			// this never blocks.
			p.out <- chunkResult{b: b}
		}
		var sum [sha256.Size]byte
		end := io.EOF
		if !bytes.Equal(h.Sum(sum[:0]), m.SHA256[:]) {
			end = fmt.Errorf("%w: %s: whole-snapshot SHA-256 mismatch", ErrCorrupt, path)
		}
		p.out <- chunkResult{err: end}
	}()
	return p
}

// halt stops the goroutine and waits for it to end.
func (p *prefetcher) halt() {
	close(p.stop)
	<-p.done
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
	return &Reader{s: s, e: e, root: root, path: path, m: m, cidx: -1}, nil
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
	if r.pf == nil {
		r.pf = r.startPrefetch()
	}
	for r.rpos == len(r.rbuf) {
		if r.rbuf != nil {
			r.pf.free <- r.rbuf // free has room for every buffer
			r.rbuf = nil
		}
		c := <-r.pf.out
		if c.err != nil {
			r.err = c.err
			return 0, c.err
		}
		r.rbuf, r.rpos = c.b, 0
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
	if r.pf != nil {
		r.pf.halt()
	}
	r.rbuf, r.cbuf = nil, nil
	err := r.root.Close()
	r.s.release(r.e)
	return err
}
