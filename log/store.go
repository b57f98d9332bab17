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
	ErrClosed           = errors.New("log: store is closed")
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
	// ClusterID and NodeID are recorded on the first Open of a directory; a
	// later Open with different values fails with ErrIdentityMismatch. Each
	// is at most MaxIdentityLen bytes. Empty values are recorded and
	// compared like any other.
	ClusterID string
	NodeID    string
	// NoSync skips the sync after each write: a crash of the machine (not
	// just the process) may then lose acknowledged writes. For benchmarks
	// and tests only.
	NoSync bool
	// GCInterval is the period of the value-log garbage collection run by
	// the Store. Zero means 10 minutes; negative disables the periodic run
	// (Compact still triggers one).
	GCInterval time.Duration

	// memTableSize overrides the Badger memtable size (tests use a small
	// one to reach the one-transaction limit cheaply); zero is the default.
	memTableSize int64
}

// Badger tuning for a tiny database; see doc.go.
const (
	memTableSize     = 8 << 20
	valueThreshold   = 64 << 10
	valueLogFileSize = 64 << 20
	blockCacheSize   = 1 << 20
	indexCacheSize   = 1 << 20
	defaultGCPeriod  = 10 * time.Minute
	gcDiscardRatio   = 0.5
	maxGCRoundsPerGC = 16
	maxDroppedNotes  = 16
)

// Store is the durable Raft state of one node: log entries, hard state and
// snapshot metadata, in one Badger database under dir/raft.
//
// Concurrency: all methods are safe for concurrent use. Writers (Write,
// SetSnapshot, ResetTo) are serialized; readers (Load, Entries, Term,
// FirstIndex, LastIndex) always see the state before or after a whole
// write, never half of one: a write that changes or deletes visible entries
// holds them off until it is durable, a pure append publishes its new last
// index only once durable. Compact runs beside all of them (it touches only
// invisible entries). The runtime is expected to write from one goroutine.
type Store struct {
	db     *badger.DB
	where  string // the Badger directory, or "memory", for error messages
	logger *slog.Logger

	// writeMu serializes writers, so that one write's phases are never
	// interleaved with another's.
	writeMu sync.Mutex
	// compactMu serializes Compact calls, which do not take writeMu.
	compactMu sync.Mutex

	mu       sync.RWMutex
	closed   bool
	failed   error // sticky: set when a commit failed midway; later writes refuse
	hs       engine.HardState
	snap     engine.SnapshotMeta // recorded snapshot; floor of the log
	last     uint64              // index of the last entry, snap.Index if none
	lastTerm uint64              // term of entry last (snap.Term if none)
	dropped  []string            // notes from recovery, reported by Load

	chunkedCommits atomic.Int64 // commits too large for one transaction, for tests
	gcRuns         atomic.Int64 // runs of the GC goroutine, for tests

	gcKick chan struct{} // buffered(1): request a GC run
	gcStop chan struct{} // closed by Close
	gcDone chan struct{} // closed when the GC goroutine ends; nil if none
}

// Open opens (creating if needed) the store in filepath.Join(dir, "raft"),
// checks or records the identity, and recovers: a torn or invalid tail of
// the log (records after the last valid contiguous entry, none of them
// valid) is deleted and reported by Load in State.Dropped. Any other damage
// (a bad hard state or snapshot record, a bad or missing entry followed by
// valid ones) fails with an error wrapping ErrCorrupt. The caller must Close
// the store.
func Open(dir string, opts Options) (*Store, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if len(opts.ClusterID) > MaxIdentityLen || len(opts.NodeID) > MaxIdentityLen {
		return nil, fmt.Errorf("log: cluster or node id longer than %d bytes", MaxIdentityLen)
	}
	s := &Store{logger: logger, where: "memory"}
	bopts := badgerOptions("", opts, logger)
	if !opts.InMemory {
		s.where = filepath.Join(dir, "raft")
		if err := os.MkdirAll(s.where, 0o700); err != nil {
			return nil, fmt.Errorf("log: create %s: %w", s.where, err)
		}
		bopts = badgerOptions(s.where, opts, logger)
	}
	db, err := badger.Open(bopts)
	if err != nil {
		return nil, fmt.Errorf("log: open badger in %s: %w", s.where, err)
	}
	s.db = db
	if err := s.checkIdentity(identity{ClusterID: opts.ClusterID, NodeID: opts.NodeID}); err != nil {
		db.Close()
		return nil, err
	}
	if err := s.recover(); err != nil {
		db.Close()
		return nil, err
	}
	s.gcKick = make(chan struct{}, 1)
	s.gcStop = make(chan struct{})
	if !opts.InMemory {
		period := opts.GCInterval
		if period == 0 {
			period = defaultGCPeriod
		}
		s.gcDone = make(chan struct{})
		// The GC goroutine is owned by the Store; it ends when Close closes
		// gcStop, and Close waits for gcDone.
		go s.gcLoop(period)
	}
	return s, nil
}

// badgerOptions returns the Badger options for a tiny Raft log; dir is empty
// in memory.
func badgerOptions(dir string, opts Options, logger *slog.Logger) badger.Options {
	mt := cmp.Or(opts.memTableSize, memTableSize)
	o := badger.DefaultOptions(dir).
		WithLogger(badgerLogger{logger}).
		WithInMemory(opts.InMemory).
		// One Write is one Badger write request; with SyncWrites Badger
		// syncs its write-ahead log (and value log) inside that request.
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
		WithValueLogFileSize(valueLogFileSize).
		WithDetectConflicts(false).
		WithMetricsEnabled(false).
		WithNumGoroutines(2)
	if opts.InMemory {
		// In memory every value must stay in the LSM tree, and Badger
		// bounds the threshold by its batch size (15% of the memtable).
		o = o.WithValueThreshold(min(1<<20, mt*15/100))
	} else {
		o = o.WithValueThreshold(min(valueThreshold, mt*15/100))
	}
	return o
}

// Close stops the GC goroutine and closes Badger. Later calls return
// ErrClosed; so do all other methods.
func (s *Store) Close() error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	s.mu.Unlock()
	close(s.gcStop)
	if s.gcDone != nil {
		<-s.gcDone
	}
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("log: close %s: %w", s.where, err)
	}
	return nil
}

// checkIdentity records want on first open and compares it afterwards.
func (s *Store) checkIdentity(want identity) error {
	var (
		got   identity
		found bool
	)
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(keyIdentity)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		return item.Value(func(v []byte) error {
			got, err = decodeIdentity(v)
			return err
		})
	})
	if errors.Is(err, errRecord) {
		return s.corrupt("identity record", err)
	}
	if err != nil {
		return fmt.Errorf("log: read identity in %s: %w", s.where, err)
	}
	if found {
		if got != want {
			return fmt.Errorf("%w: %s holds cluster %q node %q, opened as cluster %q node %q",
				ErrIdentityMismatch, s.where, got.ClusterID, got.NodeID, want.ClusterID, want.NodeID)
		}
		return nil
	}
	return s.commit([][]mutation{{set(keyIdentity, encodeIdentity(want))}})
}

// corrupt returns the error for a damaged record named what.
func (s *Store) corrupt(what string, cause error) error {
	return fmt.Errorf("%w: %s in %s: %v", ErrCorrupt, what, s.where, cause)
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
