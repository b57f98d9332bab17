package snapshot

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/yggrdb/yggr/engine"
)

// Names inside the snapshots directory.
const (
	subdir       = "snapshots"
	manifestName = "manifest"
	progressName = "progress"
	chunkPrefix  = "chunk-"
	tmpPrefix    = "tmp-"  // Writer temp dirs and dirs being deleted: always garbage on Open
	oldPrefix    = "old-"  // a snapshot moved aside while an equal one replaces it
	recvPrefix   = "recv-" // a partial receive (resumable)

	// DefaultChunkBytes is the chunk size when Options.ChunkBytes is zero.
	DefaultChunkBytes = 1 << 20
	// DefaultRetain is the number of complete snapshots kept when
	// Options.Retain is zero.
	DefaultRetain = 2
	// DefaultReceiveSyncBytes is how many bytes a Receiver takes between
	// syncs when Options.ReceiveSyncBytes is zero.
	DefaultReceiveSyncBytes = 8 << 20
)

// Options configure a Store. The zero value is usable.
type Options struct {
	// ChunkBytes is the size of each chunk file of new snapshots (existing
	// snapshots keep theirs). Zero means DefaultChunkBytes; at most
	// MaxChunkBytes.
	ChunkBytes int
	// Retain is the number of complete snapshots kept; older ones are
	// deleted once no Reader uses them. Zero means DefaultRetain.
	Retain int
	// History is how far below the newest snapshot the retained ones must
	// reach, in log indexes: besides the newest Retain, the Store keeps
	// the newest snapshot at or below Latest().Index−History (and every
	// newer one), so that a state can be rebuilt from any index in that
	// window (the history a watch replays). Zero means Retain alone.
	History uint64
	// ReceiveSyncBytes is how many bytes a Receiver writes between
	// syncs: it makes its chunk files and progress record durable once at
	// least this many bytes were written since the last sync, and when the
	// snapshot is done or the Receiver closed. A crash loses at most about
	// this much of a partial receive. Zero means DefaultReceiveSyncBytes.
	ReceiveSyncBytes int
	// WriteBytesPerSec caps the rate at which a Writer (a snapshot this
	// store takes of the local state, Create) writes its chunk files, in
	// bytes per second averaged over the snapshot, with bursts of one
	// chunk. Zero means no cap. It covers Create only: a Receiver (a
	// snapshot a leader sends to catch this node up) and a Reader (this
	// node sending one) are not paced, because catch-up waits for them
	// while a local snapshot only competes with the writes being served:
	// the cap leaves the device to the log's fsyncs, at the price of a
	// longer snapshot (size / rate).
	WriteBytesPerSec int64
	// Logger receives cleanup and recovery events. Nil discards them.
	Logger *slog.Logger
}

// Store is the set of snapshots under one directory. Its methods are safe
// for concurrent use; the Writers, Readers and Receivers it hands out are
// each meant for one goroutine at a time (Reader.ReadAt excepted).
type Store struct {
	dir  string // dir/snapshots
	opts Options
	log  *slog.Logger

	// recvMu serializes Receive calls. Lock order: recvMu, then a
	// Receiver's or Reader's mu, then mu.
	recvMu sync.Mutex

	mu    sync.Mutex
	snaps []*entry  // published snapshots, oldest first by (index, term)
	recv  *Receiver // the receiver Receive handed out last, until closed
}

// entry is one published snapshot.
type entry struct {
	meta    engine.SnapshotMeta // Size set
	name    string              // current directory name under Store.dir
	readers int                 // open Readers; an entry with readers is never deleted
	doomed  bool                // replaced: delete the directory when readers drops to 0
}

// Open opens (creating if needed) the store in filepath.Join(dir,
// "snapshots"). It removes the leftovers of interrupted writes, receives
// without durable progress, and deletions; finishes or undoes an
// interrupted replacement; keeps the newest Options.Retain complete
// snapshots and deletes older ones. A retained snapshot whose manifest is
// damaged is an error wrapping ErrCorrupt that names the file. Partial
// receives with durable progress are kept for Receive to resume.
func Open(dir string, opts Options) (*Store, error) {
	if opts.ChunkBytes < 0 || opts.ChunkBytes > MaxChunkBytes {
		return nil, fmt.Errorf("snapshot: ChunkBytes %d out of range [0, %d]", opts.ChunkBytes, MaxChunkBytes)
	}
	if opts.ChunkBytes == 0 {
		opts.ChunkBytes = DefaultChunkBytes
	}
	if opts.Retain < 0 {
		return nil, fmt.Errorf("snapshot: Retain %d is negative", opts.Retain)
	}
	if opts.Retain == 0 {
		opts.Retain = DefaultRetain
	}
	if opts.ReceiveSyncBytes < 0 {
		return nil, fmt.Errorf("snapshot: ReceiveSyncBytes %d is negative", opts.ReceiveSyncBytes)
	}
	if opts.ReceiveSyncBytes == 0 {
		opts.ReceiveSyncBytes = DefaultReceiveSyncBytes
	}
	if opts.WriteBytesPerSec < 0 {
		return nil, fmt.Errorf("snapshot: WriteBytesPerSec %d is negative", opts.WriteBytesPerSec)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{dir: filepath.Join(dir, subdir), opts: opts, log: opts.Logger}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if err := s.recover(); err != nil {
		return nil, err
	}
	return s, nil
}

// recover cleans the directory and loads the retained snapshots.
func (s *Store) recover() error {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	type named struct {
		name        string
		index, term uint64
	}
	var complete []named
	var olds []string
	present := map[string]bool{}
	for _, de := range ents {
		name := de.Name()
		switch {
		case strings.HasPrefix(name, tmpPrefix):
			s.removeAll(name, "leftover of an interrupted write or delete")
		case strings.HasPrefix(name, oldPrefix):
			olds = append(olds, name)
		case strings.HasPrefix(name, recvPrefix):
			if _, err := os.Stat(filepath.Join(s.dir, name, progressName)); err != nil {
				s.removeAll(name, "partial receive without durable progress")
			}
		default:
			term, index, ok := parseDirName(name)
			if !ok || !de.IsDir() {
				s.log.Warn("snapshot: ignoring unknown entry", "path", filepath.Join(s.dir, name))
				continue
			}
			complete = append(complete, named{name, index, term})
			present[name] = true
		}
	}
	// An old-X is a complete snapshot moved aside while a new X replaced
	// it: if the new X made it, old-X is garbage; otherwise put it back.
	for _, name := range olds {
		orig := strings.TrimPrefix(name, oldPrefix)
		term, index, ok := parseDirName(orig)
		switch {
		case !ok:
			s.removeAll(name, "unrecognized leftover of a replacement")
		case present[orig]:
			s.removeAll(name, "snapshot replaced by an equal one")
		default:
			if err := os.Rename(filepath.Join(s.dir, name), filepath.Join(s.dir, orig)); err != nil {
				return fmt.Errorf("snapshot: restore interrupted replacement: %w", err)
			}
			s.log.Info("snapshot: restored snapshot moved aside by an interrupted replacement", "term", term, "index", index)
			complete = append(complete, named{orig, index, term})
			present[orig] = true
		}
	}
	if err := syncDir(s.dir); err != nil {
		return err
	}
	// Newest first.
	slices.SortFunc(complete, func(a, b named) int {
		return cmp.Or(cmp.Compare(b.index, a.index), cmp.Compare(b.term, a.term))
	})
	indexes := make([]uint64, len(complete)) // oldest first
	for i, n := range complete {
		indexes[len(complete)-1-i] = n.index
	}
	keep := len(complete) - s.opts.deletable(indexes)
	for i, n := range complete {
		if i >= keep {
			if err := s.removeDurably(n.name); err != nil {
				s.log.Warn("snapshot: cannot delete old snapshot", "path", filepath.Join(s.dir, n.name), "err", err)
			}
			continue
		}
		path := filepath.Join(s.dir, n.name)
		root, err := os.OpenRoot(path)
		if err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
		m, err := readManifest(root, path)
		root.Close()
		if err != nil {
			return err
		}
		if m.Index != n.index || m.Term != n.term {
			return fmt.Errorf("%w: %s: manifest says %d/%d, directory name says %d/%d",
				ErrCorrupt, filepath.Join(path, manifestName), m.Term, m.Index, n.term, n.index)
		}
		s.snaps = append(s.snaps, &entry{meta: m.meta(), name: n.name})
		s.removeStrayProgress(n.name)
	}
	slices.Reverse(s.snaps)
	return nil
}

// Latest returns the newest complete snapshot (greatest index, then term),
// with Size set, or false if there is none.
func (s *Store) Latest() (engine.SnapshotMeta, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.snaps) == 0 {
		return engine.SnapshotMeta{}, false
	}
	e := s.snaps[len(s.snaps)-1]
	m := e.meta
	m.Membership = m.Membership.Clone()
	return m, true
}

// List returns the complete snapshots, oldest first. It may hold more than
// Options.Retain snapshots while Readers keep older ones alive.
func (s *Store) List() []engine.SnapshotMeta {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]engine.SnapshotMeta, len(s.snaps))
	for i, e := range s.snaps {
		out[i] = e.meta
		out[i].Membership = e.meta.Membership.Clone()
	}
	return out
}

// Dir returns the directory holding the snapshots.
func (s *Store) Dir() string { return s.dir }

// dirName is the directory name of the snapshot term/index: zero-padded
// decimal so that names sort by term, then index.
func dirName(term, index uint64) string { return fmt.Sprintf("%020d-%020d", term, index) }

func parseDirName(name string) (term, index uint64, ok bool) {
	t, i, found := strings.Cut(name, "-")
	if !found || len(t) != 20 || len(i) != 20 {
		return 0, 0, false
	}
	term, err1 := strconv.ParseUint(t, 10, 64)
	index, err2 := strconv.ParseUint(i, 10, 64)
	if err1 != nil || err2 != nil || dirName(term, index) != name {
		return 0, 0, false
	}
	return term, index, true
}

func chunkName(i int) string { return fmt.Sprintf("%s%06d", chunkPrefix, i) }

// findLocked returns the published entry for index/term, or nil.
func (s *Store) findLocked(index, term uint64) *entry {
	for _, e := range s.snaps {
		if e.meta.Index == index && e.meta.Term == term {
			return e
		}
	}
	return nil
}

// publish atomically moves the fully written and fsynced directory src
// (with its manifest m) into place, replacing an equal snapshot if there
// is one, then deletes snapshots beyond Retain.
func (s *Store) publish(src string, m *manifest) error {
	name := dirName(m.Term, m.Index)
	dst := filepath.Join(s.dir, name)
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.findLocked(m.Index, m.Term)
	if old != nil {
		// Move the equal snapshot aside under a name that Open restores
		// if the rename of src below does not become durable.
		if err := os.Rename(dst, filepath.Join(s.dir, oldPrefix+name)); err != nil {
			return fmt.Errorf("snapshot: replace %s: %w", m.meta(), err)
		}
		if err := syncDir(s.dir); err != nil {
			return err
		}
	}
	if err := os.Rename(src, dst); err != nil {
		err = fmt.Errorf("snapshot: publish %s: %w", m.meta(), err)
		if old != nil {
			if rerr := os.Rename(filepath.Join(s.dir, oldPrefix+name), dst); rerr != nil {
				s.log.Error("snapshot: cannot restore replaced snapshot", "path", dst, "err", rerr)
			}
		}
		return err
	}
	if err := syncDir(s.dir); err != nil {
		return err
	}
	if old != nil {
		s.snaps = slices.DeleteFunc(s.snaps, func(e *entry) bool { return e == old })
		old.name = oldPrefix + name
		if old.readers > 0 {
			// Readers hold the directory open; rename it to a name that
			// is garbage on Open and delete it when they close.
			if err := s.renameToTmp(old); err != nil {
				s.log.Warn("snapshot: cannot move replaced snapshot", "path", filepath.Join(s.dir, old.name), "err", err)
			}
			old.doomed = true
		} else {
			s.removeAll(old.name, "snapshot replaced by an equal one")
		}
	}
	e := &entry{meta: m.meta(), name: name}
	i, _ := slices.BinarySearchFunc(s.snaps, e, func(a, b *entry) int {
		return cmp.Or(cmp.Compare(a.meta.Index, b.meta.Index), cmp.Compare(a.meta.Term, b.meta.Term))
	})
	s.snaps = slices.Insert(s.snaps, i, e)
	s.pruneLocked()
	return nil
}

// deletable returns how many of the oldest snapshots (indexes, oldest
// first) may be deleted: all but the newest Retain, and none of those that
// the History window needs.
func (o Options) deletable(indexes []uint64) int {
	n := max(len(indexes)-o.Retain, 0)
	if o.History == 0 || n == 0 {
		return n
	}
	newest := indexes[len(indexes)-1]
	if newest < o.History {
		return 0 // the window reaches below every snapshot
	}
	// The newest snapshot at or below the window's floor is its base.
	base := 0
	for i, idx := range indexes {
		if idx <= newest-o.History {
			base = i
		}
	}
	return min(n, base)
}

// pruneLocked deletes the snapshots older than the newest Retain ones (and
// than the History window's base) that no Reader uses.
func (s *Store) pruneLocked() {
	indexes := make([]uint64, len(s.snaps))
	for i, e := range s.snaps {
		indexes[i] = e.meta.Index
	}
	excess := s.opts.deletable(indexes)
	if excess <= 0 {
		return
	}
	kept := s.snaps[:0:0]
	for i, e := range s.snaps {
		if i >= excess || e.readers > 0 {
			kept = append(kept, e)
			continue
		}
		if err := s.removeDurably(e.name); err != nil {
			s.log.Warn("snapshot: cannot delete old snapshot", "path", filepath.Join(s.dir, e.name), "err", err)
			kept = append(kept, e)
			continue
		}
		s.log.Info("snapshot: deleted old snapshot", "term", e.meta.Term, "index", e.meta.Index)
	}
	s.snaps = kept
}

// acquire pins the published snapshot index/term for a Reader.
func (s *Store) acquire(index, term uint64) (*entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.findLocked(index, term)
	if e == nil {
		return nil, fmt.Errorf("%w: %d/%d", ErrNotFound, term, index)
	}
	e.readers++
	return e, nil
}

// release unpins e, deleting it if it was replaced or is beyond Retain.
func (s *Store) release(e *entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e.readers--
	if e.readers > 0 {
		return
	}
	if e.doomed {
		s.removeAll(e.name, "replaced snapshot no longer read")
		return
	}
	s.pruneLocked()
}

// removeDurably deletes the directory name so that a crash midway leaves
// nothing that looks like a complete snapshot: it is first renamed to a
// temporary name (which Open deletes) and the rename is made durable.
func (s *Store) removeDurably(name string) error {
	tmp := tmpPrefix + "del-" + name
	if err := os.RemoveAll(filepath.Join(s.dir, tmp)); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := os.Rename(filepath.Join(s.dir, name), filepath.Join(s.dir, tmp)); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		return err
	}
	s.removeAll(tmp, "")
	return nil
}

// renameToTmp moves a doomed entry's directory to a temporary name.
func (s *Store) renameToTmp(e *entry) error {
	tmp := tmpPrefix + "del-" + e.name
	if err := os.RemoveAll(filepath.Join(s.dir, tmp)); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(s.dir, e.name), filepath.Join(s.dir, tmp)); err != nil {
		return err
	}
	e.name = tmp
	return nil
}

// removeStrayProgress deletes the progress record that a published
// receive carries until its rename is durable. Readers ignore it, so a
// failure is only logged.
func (s *Store) removeStrayProgress(name string) {
	path := filepath.Join(s.dir, name, progressName)
	err := os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err == nil {
		err = syncDir(filepath.Join(s.dir, name))
	}
	if err != nil {
		s.log.Warn("snapshot: cannot delete progress record of a published receive", "path", path, "err", err)
	}
}

// removeAll deletes the directory name, logging why (if why is set) and
// any failure: a leftover is deleted again on the next Open.
func (s *Store) removeAll(name, why string) {
	path := filepath.Join(s.dir, name)
	if err := os.RemoveAll(path); err != nil {
		s.log.Warn("snapshot: cannot delete", "path", path, "err", err)
		return
	}
	if why != "" {
		s.log.Info("snapshot: deleted "+why, "path", path)
	}
}

// errClosedf wraps ErrClosed.
func errClosedf(what string) error { return fmt.Errorf("%w: %s", ErrClosed, what) }

var errNegativeOffset = errors.New("snapshot: negative offset")
