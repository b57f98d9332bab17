package log

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
	"github.com/yggrdb/yggr/engine"
)

// Errors returned by Store. Corruption errors wrap ErrCorrupt and name the
// record (for entries, the index) and the store directory.
var (
	ErrCompacted        = errors.New("log: requested index is compacted")
	ErrUnavailable      = errors.New("log: requested index is unavailable")
	ErrCorrupt          = errors.New("log: corrupt record")
	ErrIdentityMismatch = errors.New("log: store belongs to another cluster or node")
	// ErrNoIdentity: Open was told its caller holds no record of the
	// store's identity (Options.FirstOpen), and the store, which exists,
	// holds none either: nothing says whose store it is.
	ErrNoIdentity = errors.New("log: store has no identity record")
	ErrClosed     = errors.New("log: store is closed")
	// ErrFormat reports a directory written by a format this code cannot
	// read (a newer yggr); the message says which.
	ErrFormat = errors.New("log: unsupported format")
	// ErrStaleSnapshot: SetSnapshot or ResetTo was given a snapshot older
	// than the one recorded (a snapshot installed from the leader overtook
	// a local one being written). Nothing was written; the store is fine.
	ErrStaleSnapshot = errors.New("log: snapshot older than the recorded one")
	// ErrSnapshotAhead: SetSnapshot was given a snapshot beyond the last
	// durable entry (a node applies committed entries before its own copy
	// of them is durable, so a snapshot of the state machine may be taken
	// before the write that holds its last entry finished). Nothing was
	// written; the store is fine, and the same snapshot is accepted once
	// that write is in (internal/node holds it until then).
	ErrSnapshotAhead = errors.New("log: snapshot beyond the last durable entry")
)

// Options configure Open. The zero value is usable.
type Options struct {
	// Logger receives Badger's warnings and errors (its info and debug
	// messages are dropped) and the Store's own notes. Nil discards them.
	Logger *slog.Logger
	// InMemory keeps everything in memory, for tests; the directory is
	// ignored and nothing survives Close. Entries are limited to about
	// 1 MiB in this mode.
	InMemory bool
	// ClusterID and NodeID name the cluster and node the caller opens the
	// store as, each at most MaxIdentityLen bytes. The store does not
	// record them: its owner does, in one place (yggr keeps them in
	// dir/yggr.json, see identity.go in the root package). A store created
	// by an earlier release holds an identity record of its own ('i',
	// format.go); Open checks it against these, empty values included,
	// and fails with ErrIdentityMismatch naming both when they differ.
	ClusterID string
	NodeID    string
	// FirstOpen says the caller holds no record of the store's identity
	// yet (the first open of the directory). An existing store that holds
	// no identity record either is then refused with ErrNoIdentity: its
	// owner's record was lost, and nothing could say whose store it is.
	// A new store, or one with an earlier release's record, opens.
	FirstOpen bool
	// NoSync skips the sync after each write: a crash of the machine (not
	// just the process) may then lose acknowledged writes. For benchmarks
	// and tests only.
	NoSync bool
	// OnFail, if set, is called once when the store turns unusable after a
	// failed write, checkpoint or compaction (see Caveats in doc.go), with
	// the error that every later call returns. It runs on the goroutine
	// that failed, with no lock of the store held. A checkpoint runs on
	// the Store's own goroutine, so OnFail is how a runtime learns of its
	// failure before its next write.
	OnFail func(err error)
	// GCInterval is the period of the value-log garbage collection run by
	// the Store. Zero means 10 minutes; negative disables the periodic run
	// (Compact still triggers one).
	GCInterval time.Duration
	// CheckpointBytes is how many bytes of write-ahead log records wait
	// before the checkpoint goroutine moves them into Badger. Zero means
	// 8 MiB.
	CheckpointBytes int64

	// memTableSize overrides the Badger memtable size (tests use a small
	// one to reach the one-transaction limit cheaply); zero is the default.
	memTableSize int64
	// maxRunBytes overrides the size of a run (tests use a small one to get
	// many runs); zero is the default.
	maxRunBytes int
	// valueLogFileSize overrides Badger's value-log file size (tests use
	// a small one to fill several files cheaply); zero is the default.
	valueLogFileSize int64
	// segmentBytes overrides the size of a write-ahead log segment (tests
	// use a small one to switch segments often); zero is the default.
	segmentBytes int64
	// freeBytes, if set, replaces FreeBytes (tests fake a full disk).
	freeBytes func(path string) (uint64, error)
	// crashCheckpoint, if set, is called with a checkpoint's mutations and
	// returns how many of them to commit before the checkpoint fails as if
	// the process had crashed (-1: commit them all, no crash). Tests only.
	crashCheckpoint func(ms []mutation) int
}

// Badger tuning for a tiny database; see doc.go.
const (
	memTableSize     = 1 << 20
	memTableSizeMem  = 8 << 20 // in memory: every run lives in the memtables
	valueThreshold   = 1 << 10
	valueLogFileSize = 16 << 20
	blockCacheSize   = 1 << 20
	indexCacheSize   = 1 << 20
	defaultGCPeriod  = 10 * time.Minute
	gcDiscardRatio   = 0.5
	maxGCRoundsPerGC = 16
	maxDroppedNotes  = 16

	defaultCheckpointBytes = 8 << 20
	// defaultRunBytes bounds the entry bytes of one run (one Badger value),
	// though a run always holds at least one entry. See doc.go (Badger
	// tuning) for why runs are small and live in the value log.
	defaultRunBytes = 4 << 10
)

// Store is the durable Raft state of one node: log entries, hard state and
// snapshot metadata, in a write-ahead log and one Badger database under
// dir/raft (see doc.go).
//
// Concurrency: all methods are safe for concurrent use. Writers (Write,
// SetSnapshot, ResetTo) are serialized; readers (Load, Entries, Term,
// FirstIndex, LastIndex) always see the state before or after a whole
// write, never half of one: a write is published only once durable.
// Compact and the checkpoint goroutine run beside all of them.
type Store struct {
	db    *badger.DB
	wal   *wal   // nil in memory
	where string // the Badger directory, or "memory", for error messages
	// vlogDir is where, absolute and without symbolic links, as
	// /proc/self/maps names the value-log files (pageout_linux.go); empty
	// in memory or if it could not be resolved.
	vlogDir string
	logger  *slog.Logger
	opts    Options

	// writeMu serializes writers, so that one write's phases are never
	// interleaved with another's.
	writeMu sync.Mutex
	// recordBuf is Write's WAL record buffer, kept for the next Write
	// (nothing holds a record once it is written). Guarded by writeMu.
	recordBuf []byte
	// badgerMu serializes the writers of entries into Badger: the
	// checkpoint and Compact.
	badgerMu sync.Mutex
	// nextGen is the generation of the next checkpoint's runs: above every
	// run in Badger. Guarded by badgerMu.
	nextGen uint64
	// checkpointWaiting is set while checkpoints wait for free space
	// (space.go). Guarded by badgerMu.
	checkpointWaiting bool
	// checkpointsWaited counts the checkpoints that waited: atomic, so
	// that a metrics read never waits out a checkpoint holding badgerMu.
	checkpointsWaited atomic.Uint64
	// deletesToFlush is set by a checkpoint that deleted runs, and
	// cleared by the flushDeletes that makes Badger account for them
	// (gc.go). Guarded by badgerMu.
	deletesToFlush bool

	mu       sync.RWMutex
	closed   bool
	failed   error // sticky: set when a write failed; later writes refuse
	hs       engine.HardState
	snap     engine.SnapshotMeta // recorded snapshot; floor of the log
	last     uint64              // index of the last entry, snap.Index if none
	lastTerm uint64              // term of entry last (snap.Term if none)
	dropped  []string            // notes from recovery, reported by Load

	// The entries [memFirst, last] are in mem, and are the truth for those
	// indexes; the entries [snap.Index+1, memFirst) are in Badger. Badger
	// may also hold stale entries at or above memFirst (of a truncated
	// suffix, or written by a checkpoint that a truncation overtook): they
	// are never read, and the next checkpoint replaces them.
	//
	// No batch of mem is written after it is pushed: a checkpoint reads a
	// copy of its batch list (memLog.batchList) without holding mu.
	mem      memLog
	memFirst uint64
	// lsn is the LSN of the last WAL record; cpLSN the last one whose
	// effects Badger holds (the checkpoint record).
	lsn, cpLSN uint64
	// pending is the size of the WAL records above cpLSN.
	pending int64
	// truncatedAt is the lowest index a write truncated since the running
	// checkpoint captured mem; 0 if none.
	truncatedAt uint64
	// compactTo asks the next checkpoint to delete the entries at or below
	// it (what Compact asked for, or a ResetTo dropped); compacted is what
	// a checkpoint last deleted up to.
	compactTo, compacted uint64
	// historyFloor: History reads the entries above it (the snapshot index
	// or lower: the entries kept behind the snapshot).
	historyFloor uint64

	checkpoints    atomic.Int64 // completed checkpoints, for tests
	chunkedCommits atomic.Int64 // commits too large for one transaction, for tests
	gcRuns         atomic.Int64 // runs of the GC goroutine, for tests

	ckptKick chan struct{} // buffered(1): request a checkpoint
	gcKick   chan struct{} // buffered(1): request a GC run
	stop     chan struct{} // closed by Close
	wg       sync.WaitGroup
}

// Exists reports whether dir holds a store (an Open of dir created one,
// maybe only in part).
func Exists(dir string) (bool, error) {
	_, err := os.Stat(filepath.Join(dir, "raft"))
	if os.IsNotExist(err) {
		return false, nil
	}
	return err == nil, err
}

// Open opens (creating if needed, in log format 3) the store in
// filepath.Join(dir, "raft"), refuses a directory of a newer format with
// ErrFormat, migrates one of format 1 (to format 2; one of format 2 keeps
// its format), checks the identity record of a store an earlier release
// wrote, and recovers: Badger's records, then the write-ahead log's
// records above the checkpoint. A torn last WAL record (a write that never returned) is
// dropped and reported by Load in State.Dropped. Any other damage fails
// with an error wrapping ErrCorrupt. The caller must Close the store.
func Open(dir string, opts Options) (*Store, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if len(opts.ClusterID) > MaxIdentityLen || len(opts.NodeID) > MaxIdentityLen {
		return nil, fmt.Errorf("log: cluster or node id longer than %d bytes", MaxIdentityLen)
	}
	opts.CheckpointBytes = cmp.Or(opts.CheckpointBytes, defaultCheckpointBytes)
	opts.maxRunBytes = cmp.Or(opts.maxRunBytes, defaultRunBytes)
	opts.segmentBytes = cmp.Or(opts.segmentBytes, segmentBytes)
	s := &Store{logger: logger, where: "memory", opts: opts}
	bopts := badgerOptions("", opts, logger)
	if !opts.InMemory {
		s.where = filepath.Join(dir, "raft")
		if err := os.MkdirAll(s.where, 0o700); err != nil {
			return nil, fmt.Errorf("log: create %s: %w", s.where, err)
		}
		bopts = badgerOptions(s.where, opts, logger)
		if abs, err := filepath.Abs(s.where); err == nil {
			if real, err := filepath.EvalSymlinks(abs); err == nil {
				s.vlogDir = real
			}
		}
		if err := verifyTables(s.where, bopts); err != nil {
			return nil, err
		}
		if err := removeEmptyBadgerFiles(s.where, logger); err != nil {
			return nil, err
		}
	}
	db, err := badger.Open(bopts)
	if err != nil {
		return nil, fmt.Errorf("log: open badger in %s: %w", s.where, err)
	}
	s.db = db
	if err := s.open(identity{ClusterID: opts.ClusterID, NodeID: opts.NodeID}, opts.FirstOpen); err != nil {
		if s.wal != nil {
			s.wal.close()
		}
		db.Close()
		return nil, err
	}
	s.ckptKick = make(chan struct{}, 1)
	s.gcKick = make(chan struct{}, 1)
	s.stop = make(chan struct{})
	s.wg.Add(1)
	// The checkpoint goroutine is owned by the Store; it ends when Close
	// closes stop, and Close waits for it.
	go s.checkpointLoop()
	if !opts.InMemory {
		period := opts.GCInterval
		if period == 0 {
			period = defaultGCPeriod
		}
		s.wg.Add(1)
		// The GC goroutine is owned by the Store; it ends when Close
		// closes stop, and Close waits for it.
		go s.gcLoop(period)
	}
	if s.pending >= s.opts.CheckpointBytes {
		s.kickCheckpoint()
	}
	return s, nil
}

// badgerOptions returns the Badger options for a tiny Raft log; dir is empty
// in memory.
func badgerOptions(dir string, opts Options, logger *slog.Logger) badger.Options {
	mt := cmp.Or(opts.memTableSize, memTableSize)
	if opts.InMemory {
		mt = cmp.Or(opts.memTableSize, memTableSizeMem)
	}
	o := badger.DefaultOptions(dir).
		WithLogger(badgerLogger{logger}).
		WithInMemory(opts.InMemory).
		// Badger is written by the checkpoint goroutine, off the write
		// path: each of its writes is synced inside the request that
		// writes it, so that nothing acknowledged lives in a file nobody
		// synced (see doc.go).
		WithSyncWrites(!opts.NoSync && !opts.InMemory).
		WithMemTableSize(mt).
		WithNumMemtables(2).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithBaseTableSize(2 << 20).
		WithBaseLevelSize(8 << 20).
		WithNumCompactors(2).
		WithBlockCacheSize(blockCacheSize).
		WithIndexCacheSize(indexCacheSize).
		WithCompression(options.None).
		WithValueLogFileSize(cmp.Or(opts.valueLogFileSize, valueLogFileSize)).
		WithDetectConflicts(false).
		WithMetricsEnabled(false).
		WithNumGoroutines(2).
		// Every block is checked against its checksum when read from the
		// file (the tables were checked whole at open: verifyTables).
		WithChecksumVerificationMode(options.OnBlockRead)
	if opts.InMemory {
		// In memory every value must stay in the LSM tree, and Badger
		// bounds the threshold by its batch size (15% of the memtable).
		o = o.WithValueThreshold(min(1<<20, mt*15/100))
	} else {
		o = o.WithValueThreshold(min(valueThreshold, mt*15/100))
	}
	return o
}

// Close stops the checkpoint and GC goroutines and closes the write-ahead
// log and Badger. Records not yet checkpointed stay in the write-ahead log
// and are replayed by the next Open. Later calls return ErrClosed; so do
// all other methods.
func (s *Store) Close() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()
	s.badgerMu.Lock()
	defer s.badgerMu.Unlock()
	var errs []error
	if s.wal != nil {
		errs = append(errs, s.wal.close())
	}
	if err := s.db.Close(); err != nil {
		errs = append(errs, fmt.Errorf("log: close %s: %w", s.where, err))
	}
	return errors.Join(errs...)
}

// corrupt returns the error for a damaged record named what.
func (s *Store) corrupt(what string, cause error) error {
	return fmt.Errorf("%w: %s in %s: %v", ErrCorrupt, what, s.where, cause)
}

func (s *Store) corruptEntry(index uint64, cause error) error {
	return s.corrupt(fmt.Sprintf("entry %d", index), cause)
}

// usable returns why the store cannot be used, or nil. s.mu held.
func (s *Store) usable() error {
	if s.closed {
		return ErrClosed
	}
	return s.failed
}

// badgerLogger routes Badger's log messages to slog: errors and warnings
// only.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, args ...any) {
	b.l.Error(trimNewline(fmt.Sprintf(f, args...)), "component", "badger")
}

func (b badgerLogger) Warningf(f string, args ...any) {
	b.l.Warn(trimNewline(fmt.Sprintf(f, args...)), "component", "badger")
}

func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}

func trimNewline(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}
