package snapshot

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/diskfault"
	"github.com/yggrdb/yggr/internal/record"
)

// Receiver writes a snapshot arriving from the leader (InstallSnapshot) at
// consecutive byte offsets, in pieces of any size. WriteAt writes the bytes
// into the store's chunk files without waiting for the disk; once
// Options.ReceiveSyncBytes were written since the last sync (and when the
// snapshot is done, or the Receiver closed), it fsyncs the chunk files it
// wrote and replaces the progress record (offset and per-chunk CRC-32C)
// atomically. The progress record only ever claims durable bytes, so a
// restarted process resumes from the last sync and loses at most about
// ReceiveSyncBytes. A Receiver is safe for concurrent use, though calls
// are serialized.
type Receiver struct {
	s    *Store
	name string // directory name under Store.dir: recv-<term>-<index>

	mu         sync.Mutex
	meta       engine.SnapshotMeta // as announced; Size set on publication if it was 0
	dir        string
	chunkBytes uint32
	offset     uint64   // bytes received and verified (written, maybe not yet durable)
	crcs       []uint32 // ceil(offset/chunkBytes) CRCs; the last may cover a partial chunk
	// synced and syncedCRCs are what the progress record holds: the
	// durable prefix, synced ≤ offset.
	synced     uint64
	syncedCRCs []uint32
	// dirty are the chunk files written since the last sync, open, by
	// chunk number; created says one of them is new in the directory.
	dirty   map[int]*os.File
	created bool
	closed  bool
}

// Receive returns a Receiver for the snapshot meta (meta.Size, if not zero,
// is the size the sender announced and is enforced). If a partial receive
// of the same index and term (and membership) is on disk, it resumes it
// after re-verifying its bytes: Offset tells where. Otherwise it starts a
// new one. Any other partial receive is discarded, and a Receiver handed
// out earlier is closed.
func (s *Store) Receive(meta engine.SnapshotMeta) (*Receiver, error) {
	if err := validateMembership(meta.Membership); err != nil {
		return nil, err
	}
	meta.Membership = meta.Membership.Clone()
	s.recvMu.Lock()
	defer s.recvMu.Unlock()
	name := recvPrefix + dirName(meta.Term, meta.Index)
	s.mu.Lock()
	old := s.recv
	s.recv = nil
	s.mu.Unlock()
	if old != nil {
		if old.name == name {
			old.Close() // durable, to resume below
		} else {
			old.abandon()
		}
	}
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	exists, removed := false, false
	for _, de := range ents {
		switch {
		case de.Name() == name:
			exists = true
		case strings.HasPrefix(de.Name(), recvPrefix):
			s.removeAll(de.Name(), "partial receive of another snapshot")
			removed = true
		}
	}
	if removed {
		if err := syncDir(s.dir); err != nil {
			return nil, err
		}
	}
	r := &Receiver{s: s, name: name, meta: meta, dir: filepath.Join(s.dir, name), chunkBytes: uint32(s.opts.ChunkBytes)}
	resumed := false
	if exists {
		if resumed, err = r.resume(); err != nil {
			return nil, err
		}
	}
	if !resumed {
		if err := r.start(); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	s.recv = r
	s.mu.Unlock()
	return r, nil
}

// start discards anything in r.dir and begins an empty receive.
func (r *Receiver) start() error {
	r.dropDirty()
	r.offset, r.crcs, r.chunkBytes = 0, nil, uint32(r.s.opts.ChunkBytes)
	r.synced, r.syncedCRCs, r.created = 0, nil, false
	if err := os.RemoveAll(r.dir); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := os.Mkdir(r.dir, 0o755); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := r.saveProgress(r.offset, r.crcs); err != nil {
		return err
	}
	return syncDir(r.s.dir)
}

func (r *Receiver) saveProgress(offset uint64, crcs []uint32) error {
	p := &progress{
		Index:      r.meta.Index,
		Term:       r.meta.Term,
		Membership: r.meta.Membership,
		Size:       r.meta.Size,
		ChunkBytes: r.chunkBytes,
		Offset:     offset,
		CRCs:       crcs,
	}
	return writeFileAtomic(r.dir, progressName, p.encode())
}

// resume loads the durable progress in r.dir and re-verifies the received
// bytes against it, keeping the longest verified prefix. It reports false
// if the partial receive cannot be used (the caller starts over).
func (r *Receiver) resume() (bool, error) {
	log := r.s.log.With("path", r.dir, "term", r.meta.Term, "index", r.meta.Index)
	f, err := os.Open(filepath.Join(r.dir, progressName))
	if err != nil {
		log.Warn("snapshot: discarding partial receive without progress record", "err", err)
		return false, nil
	}
	b, err := readMetaFile(f)
	f.Close()
	if err == nil {
		var p *progress
		if p, err = decodeProgress(b); err == nil {
			// decodeProgress checked the frame: b[0] is its version.
			return r.resumeFrom(p, b[0])
		}
	}
	log.Warn("snapshot: discarding partial receive with damaged progress record", "err", err)
	return false, nil
}

// resumeFrom resumes from the progress record p, read in format version
// version; a record of an older version is rewritten in the current one.
func (r *Receiver) resumeFrom(p *progress, version byte) (bool, error) {
	log := r.s.log.With("path", r.dir, "term", r.meta.Term, "index", r.meta.Index)
	if p.Index != r.meta.Index || p.Term != r.meta.Term || !p.Membership.Equal(r.meta.Membership) {
		log.Warn("snapshot: discarding partial receive of different metadata")
		return false, nil
	}
	if r.meta.Size == 0 {
		r.meta.Size = p.Size
	}
	if (p.Size != 0 && p.Size != r.meta.Size) || (r.meta.Size != 0 && p.Offset > r.meta.Size) {
		log.Warn("snapshot: discarding partial receive of a different size", "size", p.Size, "announced", r.meta.Size)
		return false, nil
	}
	r.chunkBytes = p.ChunkBytes
	cb := uint64(p.ChunkBytes)
	// Keep the chunks whose recorded prefix still verifies.
	buf := make([]byte, min(cb, p.Offset))
	good := 0
	for i, crc := range p.CRCs {
		want := chunkLen(p.Offset, p.ChunkBytes, i)
		ok, err := prefixMatches(filepath.Join(r.dir, chunkName(i)), buf[:want], crc)
		if err != nil {
			return false, err
		}
		if !ok {
			log.Warn("snapshot: partial receive damaged; resuming before it", "chunk", chunkName(i))
			break
		}
		good++
	}
	r.offset, r.crcs = p.Offset, p.CRCs[:good]
	if good < len(p.CRCs) {
		r.offset = uint64(good) * cb
	}
	// Drop what the progress record does not cover.
	ents, err := os.ReadDir(r.dir)
	if err != nil {
		return false, fmt.Errorf("snapshot: %w", err)
	}
	for _, de := range ents {
		name := de.Name()
		path := filepath.Join(r.dir, name)
		i, isChunk := parseChunkName(name)
		switch {
		case name == progressName:
		case isChunk && i < len(r.crcs):
			want := int64(chunkLen(r.offset, r.chunkBytes, i))
			if st, err := os.Stat(path); err == nil && st.Size() > want {
				if err := os.Truncate(path, want); err != nil {
					return false, fmt.Errorf("snapshot: %w", err)
				}
			}
		default:
			if err := os.RemoveAll(path); err != nil {
				return false, fmt.Errorf("snapshot: %w", err)
			}
		}
	}
	if r.offset != p.Offset || version != formatVersion {
		if err := r.saveProgress(r.offset, r.crcs); err != nil {
			return false, err
		}
	}
	r.synced, r.syncedCRCs = r.offset, slices.Clone(r.crcs)
	log.Info("snapshot: resuming partial receive", "offset", r.offset)
	return true, nil
}

// prefixMatches reports whether the file at path begins with len(buf)
// bytes whose CRC-32C is crc. A missing or short file does not match.
func prefixMatches(path string, buf []byte, crc uint32) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("snapshot: %w", err)
	}
	defer f.Close()
	n, _ := f.ReadAt(buf, 0)
	return n == len(buf) && record.Checksum(buf) == crc, nil
}

func parseChunkName(name string) (int, bool) {
	digits, ok := strings.CutPrefix(name, chunkPrefix)
	if !ok || len(digits) < 6 {
		return 0, false
	}
	i, err := strconv.Atoi(digits)
	if err != nil || i < 0 || chunkName(i) != name {
		return 0, false
	}
	return i, true
}

// Meta returns the snapshot's metadata as announced; once the snapshot is
// published, Size is its actual size.
func (r *Receiver) Meta() engine.SnapshotMeta {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.meta
	m.Membership = m.Membership.Clone()
	return m
}

// Offset returns the next byte offset expected: the bytes received and
// verified so far, durable or not. A resumed receive starts at the offset
// of its last sync.
func (r *Receiver) Offset() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.offset
}

// durableOffset returns the offset the progress record holds: what a
// crash keeps.
func (r *Receiver) durableOffset() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.synced
}

// WriteAt appends data at offset off, which must equal Offset() (else an
// error wrapping ErrOffsetMismatch, and nothing is written). The bytes
// become durable at the next sync: once ReceiveSyncBytes were written
// since the last one, or when the snapshot is done or the Receiver closed;
// a crash before loses them. Data beyond a non-zero announced size is
// refused with an error wrapping ErrCorrupt. If done, the snapshot ends
// here: the chunk files are synced, every chunk is re-read and verified,
// the manifest is written and the snapshot is published atomically like
// Writer.Commit, after which the Receiver is closed. If that verification
// fails (an error wrapping ErrCorrupt), the partial receive is discarded
// and Offset is 0 again. A failed write or sync leaves Offset at the last
// durable offset.
func (r *Receiver) WriteAt(off uint64, data []byte, done bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errClosedf("snapshot receiver closed")
	}
	if off != r.offset {
		return fmt.Errorf("%w: write at %d, expected %d", ErrOffsetMismatch, off, r.offset)
	}
	end := off + uint64(len(data))
	if r.meta.Size != 0 && (end > r.meta.Size || end < off) {
		return fmt.Errorf("%w: %s: %d bytes at offset %d exceed the announced size %d",
			ErrCorrupt, r.dir, len(data), off, r.meta.Size)
	}
	if err := r.append(data); err != nil {
		r.rollback()
		return err
	}
	if !done {
		if r.offset-r.synced < uint64(r.s.opts.ReceiveSyncBytes) {
			return nil
		}
		if err := r.sync(); err != nil {
			r.rollback()
			return err
		}
		return nil
	}
	if err := r.finish(); err != nil {
		if rerr := r.start(); rerr != nil {
			r.closeLocked()
			return errors.Join(err, rerr)
		}
		return err
	}
	return nil
}

// append writes data at r.offset into the chunk files, without syncing,
// and advances r.offset.
func (r *Receiver) append(data []byte) error {
	cb := uint64(r.chunkBytes)
	for len(data) > 0 {
		i := int(r.offset / cb)
		within := r.offset % cb
		k := min(cb-within, uint64(len(data)))
		f, err := r.chunkFile(i, within)
		if err != nil {
			return err
		}
		err = diskfault.Check(diskfault.SnapshotWrite, f.Name())
		if err == nil {
			_, err = f.WriteAt(data[:k], int64(within))
		}
		if err != nil {
			return fmt.Errorf("snapshot: write %s: %w", f.Name(), err)
		}
		if within == 0 {
			r.crcs = append(r.crcs, record.Checksum(data[:k]))
		} else {
			r.crcs[i] = record.UpdateChecksum(r.crcs[i], data[:k])
		}
		r.offset += k
		data = data[k:]
	}
	return nil
}

// chunkFile returns chunk file i, open for writing at off. Opening it
// truncates it to off, dropping what a failed attempt or a crash left
// beyond the bytes received.
func (r *Receiver) chunkFile(i int, off uint64) (*os.File, error) {
	if f := r.dirty[i]; f != nil {
		return f, nil
	}
	path := filepath.Join(r.dir, chunkName(i))
	f, err := os.OpenFile(path, os.O_WRONLY, 0o644)
	if errors.Is(err, fs.ErrNotExist) {
		f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
		r.created = r.created || err == nil
	}
	if err == nil {
		if err = f.Truncate(int64(off)); err != nil {
			f.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if r.dirty == nil {
		r.dirty = map[int]*os.File{}
	}
	r.dirty[i] = f
	return f, nil
}

// syncFiles fsyncs and closes the chunk files written since the last sync,
// and fsyncs the directory if one of them is new.
func (r *Receiver) syncFiles() error {
	var err error
	for i, f := range r.dirty {
		serr := diskfault.Check(diskfault.SnapshotSync, f.Name())
		if serr == nil {
			serr = f.Sync()
		}
		if serr != nil && err == nil {
			err = fmt.Errorf("snapshot: sync %s: %w", f.Name(), serr)
		}
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("snapshot: %w", cerr)
		}
		delete(r.dirty, i)
	}
	if err != nil {
		return err
	}
	if r.created {
		if err := syncDir(r.dir); err != nil {
			return err
		}
		r.created = false
	}
	return nil
}

// sync makes the bytes received durable and records them in the progress
// record.
func (r *Receiver) sync() error {
	if err := r.syncFiles(); err != nil {
		return err
	}
	if r.synced == r.offset {
		return nil
	}
	if err := r.saveProgress(r.offset, r.crcs); err != nil {
		return err
	}
	r.synced, r.syncedCRCs = r.offset, slices.Clone(r.crcs)
	return nil
}

// rollback forgets the bytes written since the last sync after a failed
// write or sync: the next write starts at the durable offset, and opening
// the chunk file there truncates what the failure left.
func (r *Receiver) rollback() {
	r.dropDirty()
	r.offset, r.crcs = r.synced, slices.Clone(r.syncedCRCs)
}

// dropDirty closes the chunk files written since the last sync without
// syncing them. A file it created stays counted in created: its directory
// entry is not durable yet.
func (r *Receiver) dropDirty() {
	for i, f := range r.dirty {
		f.Close()
		delete(r.dirty, i)
	}
}

// finish verifies the received snapshot and publishes it.
func (r *Receiver) finish() error {
	if r.meta.Size != 0 && r.offset != r.meta.Size {
		return fmt.Errorf("%w: %s: done at offset %d, announced size %d", ErrCorrupt, r.dir, r.offset, r.meta.Size)
	}
	// The manifest will vouch for every chunk: make them durable first.
	// The progress record may stay behind: a crash before the
	// publication resumes from it.
	if err := r.syncFiles(); err != nil {
		return err
	}
	m := &manifest{
		Index:      r.meta.Index,
		Term:       r.meta.Term,
		Membership: r.meta.Membership,
		Size:       r.offset,
		ChunkBytes: r.chunkBytes,
		CRCs:       r.crcs,
	}
	root, err := os.OpenRoot(r.dir)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer root.Close()
	h := sha256.New()
	buf := make([]byte, m.bufBytes())
	for i, crc := range m.CRCs {
		b, err := loadChunk(root, r.dir, i, m.chunkLen(i), crc, buf)
		if err != nil {
			return err
		}
		h.Write(b)
	}
	h.Sum(m.SHA256[:0])
	if err := r.removeStrays(len(m.CRCs)); err != nil {
		return err
	}
	if err := writeFileSync(filepath.Join(r.dir, manifestName), m.encode()); err != nil {
		return err
	}
	if err := syncDir(r.dir); err != nil {
		return err
	}
	// The progress record stays until the rename: a crash before it
	// leaves a partial receive that resumes at the last sync (resuming
	// removes the manifest of an unpublished receive).
	if err := diskfault.Check(diskfault.SnapshotInstall, r.dir); err != nil {
		return fmt.Errorf("snapshot: install %s: %w", r.dir, err)
	}
	if err := r.s.publish(r.dir, m); err != nil {
		return err
	}
	r.meta.Size = m.Size
	r.closeLocked()
	r.s.removeStrayProgress(dirName(m.Term, m.Index))
	return nil
}

// Reset discards the bytes received so far and starts the same snapshot
// over at offset 0, durably: for a sender that restarts its transfer from
// the beginning (engine.WriteSnapshotChunk at Offset 0) instead of resuming
// at Offset().
func (r *Receiver) Reset() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errClosedf("snapshot receiver closed")
	}
	if err := r.start(); err != nil {
		r.closeLocked()
		return err
	}
	return nil
}

// removeStrays deletes what failed attempts may have left in r.dir besides
// the first count chunks and the progress record.
func (r *Receiver) removeStrays(count int) error {
	ents, err := os.ReadDir(r.dir)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	for _, de := range ents {
		if i, ok := parseChunkName(de.Name()); (ok && i < count) || de.Name() == progressName {
			continue
		}
		if err := os.RemoveAll(filepath.Join(r.dir, de.Name())); err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
	}
	return nil
}

// Close makes the bytes received so far durable, as a sync does, and
// stops using the Receiver. The partial receive stays on disk for a later
// Receive of the same snapshot to resume. Close is idempotent; it reports
// a failure to sync (the partial receive then resumes from the previous
// sync).
func (r *Receiver) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	err := r.sync()
	r.closeLocked()
	return err
}

// abandon closes the Receiver without syncing: its partial receive is
// about to be discarded.
func (r *Receiver) abandon() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closeLocked()
}

func (r *Receiver) closeLocked() {
	r.dropDirty()
	r.closed = true
	r.s.mu.Lock()
	if r.s.recv == r {
		r.s.recv = nil
	}
	r.s.mu.Unlock()
}
