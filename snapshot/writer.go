package snapshot

import (
	"crypto/sha256"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"unsafe"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/diskfault"
	"github.com/yggrdb/yggr/internal/record"
)

// Writer writes a new local snapshot. It cuts the byte stream into chunk
// files in a temporary directory that only Commit publishes; nothing of it
// is visible to Latest, List or Open before. A Writer is not safe for
// concurrent use.
type Writer struct {
	s          *Store
	meta       engine.SnapshotMeta
	dir        string // temporary directory
	chunkBytes int
	buf        []byte // the chunk being filled; len(buf) < chunkBytes
	crcs       []uint32
	hash       hash.Hash
	size       uint64
	err        error // sticky: the first failure, or ErrClosed after Commit/Abort
	// direct: buf is aligned for O_DIRECT and full chunks are written with
	// it (see openDirect); cleared when the file system refuses it.
	direct bool
	pace   *pacer          // Options.WriteBytesPerSec; nil: no cap
	uncap  <-chan struct{} // UncapOn's channel: lifts the cap once closed
}

// UncapOn lifts the Writer's bandwidth cap (Options.WriteBytesPerSec) once
// uncap is closed: a Write waiting for the cap goes on at once, and the
// rest of the snapshot is written at the disk's speed. The cap protects
// the latency of the writes a node serves while it snapshots; a node
// passes its stop channel, so that Close neither waits out the cap
// (about 4 s for 1M keys at the default 40 MiB/s) nor throws the snapshot
// away, which would leave the next Open to replay the log it covers.
// Call it before the first Write.
func (w *Writer) UncapOn(uncap <-chan struct{}) { w.uncap = uncap }

// directIO lets tests write through the page cache; see openDirect.
var directIO = true

// Create starts a snapshot of meta.Index, meta.Term and meta.Membership
// (meta.Size is ignored: Commit sets it). If a complete snapshot with the
// same index and term exists, Commit replaces it.
func (s *Store) Create(meta engine.SnapshotMeta) (*Writer, error) {
	if err := validateMembership(meta.Membership); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(s.dir, tmpPrefix+dirName(meta.Term, meta.Index)+"-")
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	meta.Membership = meta.Membership.Clone()
	meta.Size = 0
	w := &Writer{
		s:          s,
		meta:       meta,
		dir:        dir,
		chunkBytes: s.opts.ChunkBytes,
		hash:       sha256.New(),
		pace:       newPacer(s.opts.WriteBytesPerSec, s.opts.ChunkBytes),
	}
	if directIO && w.chunkBytes%directAlign == 0 {
		w.buf, w.direct = alignedBuf(w.chunkBytes), true
	} else {
		w.buf = make([]byte, 0, min(s.opts.ChunkBytes, 64<<10))
	}
	return w, nil
}

// alignedBuf returns an empty slice of capacity n whose first byte is
// aligned to directAlign.
func alignedBuf(n int) []byte {
	b := make([]byte, n+directAlign)
	off := int(uintptr(unsafe.Pointer(&b[0])) & (directAlign - 1))
	if off != 0 {
		off = directAlign - off
	}
	return b[off : off : off+n]
}

// Write appends p to the snapshot. Each full chunk is written to its file
// and fsynced. After a failure every later call returns the same error.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n := 0
	for len(p) > 0 {
		k := min(len(p), w.chunkBytes-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		n += k
		if len(w.buf) == w.chunkBytes {
			if err := w.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// flush waits for the pacer, writes the buffered chunk to its file and
// fsyncs it. A full chunk
// of a direct Writer is written with O_DIRECT; if the file system refuses
// it (EINVAL at open or write), the chunk is written again through the page
// cache and so are the later ones. Either way the chunk is durable when
// flush returns: fsync covers the file's size and blocks.
func (w *Writer) flush() error {
	if !w.pace.take(len(w.buf), w.uncap) {
		w.pace = nil // uncapped (UncapOn)
	}
	i := len(w.crcs)
	path := filepath.Join(w.dir, chunkName(i))
	err := diskfault.Check(diskfault.SnapshotWrite, path)
	if err == nil && w.direct && len(w.buf) == w.chunkBytes {
		var refused bool
		refused, err = writeChunkDirect(path, w.buf)
		if refused {
			w.direct = false
			err = writeChunk(path, w.buf)
		}
	} else if err == nil {
		err = writeChunk(path, w.buf)
	}
	if err != nil {
		w.err = fmt.Errorf("snapshot: write %s: %w", path, err)
		return w.err
	}
	w.crcs = append(w.crcs, record.Checksum(w.buf))
	w.hash.Write(w.buf)
	w.size += uint64(len(w.buf))
	w.buf = w.buf[:0]
	return nil
}

// writeChunk creates path, writes b through the page cache and fsyncs it.
func writeChunk(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	return writeSyncClose(f, path, b)
}

// writeSyncClose writes b to f, fsyncs and closes it.
func writeSyncClose(f *os.File, path string, b []byte) error {
	_, err := f.Write(b)
	if err == nil {
		err = diskfault.Check(diskfault.SnapshotSync, path)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Commit writes the last chunk and the manifest, fsyncs them, renames the
// temporary directory into place and fsyncs the parent, then deletes
// snapshots beyond Options.Retain. It returns the snapshot's metadata with
// Size set. On failure the snapshot is discarded. Commit or Abort may be
// called once; after that Write and Commit return ErrClosed.
func (w *Writer) Commit() (engine.SnapshotMeta, error) {
	if w.err != nil {
		return engine.SnapshotMeta{}, w.err
	}
	if err := w.commit(); err != nil {
		w.discard()
		w.err = err
		return engine.SnapshotMeta{}, err
	}
	w.err = errClosedf("snapshot writer committed")
	w.dir, w.buf = "", nil
	meta := w.meta
	meta.Size = w.size
	return meta, nil
}

func (w *Writer) commit() error {
	if len(w.buf) > 0 {
		if err := w.flush(); err != nil {
			return err
		}
	}
	m := &manifest{
		Index:      w.meta.Index,
		Term:       w.meta.Term,
		Membership: w.meta.Membership,
		Size:       w.size,
		ChunkBytes: uint32(w.chunkBytes),
		CRCs:       w.crcs,
	}
	w.hash.Sum(m.SHA256[:0])
	if err := writeFileSync(filepath.Join(w.dir, manifestName), m.encode()); err != nil {
		return err
	}
	if err := syncDir(w.dir); err != nil {
		return err
	}
	return w.s.publish(w.dir, m)
}

// Abort discards the snapshot. It is a no-op after Commit or Abort, so
// `defer w.Abort()` is safe.
func (w *Writer) Abort() error {
	if w.err != nil && w.dir == "" {
		return nil
	}
	w.discard()
	w.err = errClosedf("snapshot writer aborted")
	return nil
}

// discard deletes the temporary directory (Open would delete it too).
func (w *Writer) discard() {
	if w.dir == "" {
		return
	}
	if err := os.RemoveAll(w.dir); err != nil {
		w.s.log.Warn("snapshot: cannot delete temporary directory", "path", w.dir, "err", err)
	}
	w.dir = ""
	w.buf = nil
}
