package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/yggrdb/yggr/engine"
)

// Config configures a Node.
type Config struct {
	// ID is this node's ID.
	ID engine.NodeID
	// Dir holds the node's durable state: dir/raft (the log) and
	// dir/snapshots.
	Dir string
	// InMemory keeps the log in memory (tests only; nothing survives Close).
	InMemory bool
	// ClusterID names the cluster the node was created in. Neither it nor
	// ID is recorded here: the caller keeps the node's identity (the root's
	// dir/yggr.json). The log checks both against the identity record of a
	// log an earlier release created (raftlog.Options.ClusterID).
	ClusterID string
	// FirstOpen says the caller has no record of this node's identity yet
	// (raftlog.Options.FirstOpen): an existing log without one of its own
	// is then refused.
	FirstOpen bool
	// Peers are the voters of a new cluster and their addresses, this node
	// included. Empty with Join set: the node waits to be added.
	Peers map[engine.NodeID]string
	// Voters, if set, are the voters of a new cluster instead of Peers'
	// IDs. A restarted node needs them: its log holds no membership until
	// a config entry or a snapshot, so its voters are still the bootstrap
	// ones, while Peers may name only the addresses known now.
	Voters []engine.NodeID
	// Join starts the node without a configuration: it never campaigns
	// until a leader adds it.
	Join bool
	// Network carries messages to peers; nil for a single-node cluster.
	Network Network
	// StateMachine is the replicated state.
	StateMachine StateMachine
	// Engine tunes the protocol; ID, Peers and Seed are filled in.
	Engine engine.Config
	// TickInterval is the length of one engine tick. Zero means
	// DefaultTickInterval (with engine.DefaultElectionTicks, an election
	// timeout of 400ms to 800ms); negative is refused.
	TickInterval time.Duration
	// MaxPendingProposals bounds proposals waiting for the driver; more
	// get ErrBusy. Default 8192.
	MaxPendingProposals int
	// MaxApplyLag bounds committed entries waiting for the apply
	// goroutine; beyond it, new proposals get ErrBusy. Default 65536.
	MaxApplyLag int
	// DiskReserve is the free space, in bytes, that the file system
	// holding Dir keeps: below it this node, as leader, refuses new
	// proposals with ErrNoSpace (space.go). Zero means
	// DefaultDiskReserve; negative disables the check.
	DiskReserve int64
	// History is how many log indexes below the newest snapshot the node
	// keeps replayable (snapshot.Options.History): compaction stops at the
	// oldest retained snapshot (historyHold), so a watch can start at any
	// revision in that window. Zero keeps the two newest snapshots only.
	History uint64
	// SnapshotWriteBytesPerSec caps the rate at which this node writes its
	// own snapshots (snapshot.Options.WriteBytesPerSec); snapshots received
	// from a leader are not capped. Zero means no cap.
	SnapshotWriteBytesPerSec int64
	// NoSync skips fsync (benchmarks only: loses the durability guarantee).
	NoSync bool
	// Logger receives structured logs; nil discards them.
	Logger *slog.Logger
	// LeaderCall, when set, serves CallLeader requests on the leader
	// (leadercall.go). It runs on the leader only, concurrently, and must
	// be idempotent. Errors it returns that are node errors (ErrNotLeader,
	// ErrTimeout, ...) keep their identity across forwarding; any other
	// error reaches a forwarding caller as its message only, so
	// application errors belong in the returned bytes.
	LeaderCall func(ctx context.Context, req []byte) ([]byte, error)
	// BeforeIteration, when set, is called by the driver goroutine at the
	// start of each iteration (tests: blocking in it pauses the node as a
	// stopped process or a long GC pause would).
	BeforeIteration func()

	// freeBytes, if set, replaces raftlog.FreeBytes (tests fake a full
	// disk).
	freeBytes func(path string) (uint64, error)
}

// DefaultTickInterval is the length of one engine tick when
// Config.TickInterval is zero.
const DefaultTickInterval = 50 * time.Millisecond

func (c *Config) fill() error {
	if !engine.ValidNodeID(c.ID) {
		return fmt.Errorf("yggr: invalid node id %q", c.ID)
	}
	if c.StateMachine == nil {
		return errors.New("yggr: no state machine")
	}
	if c.Dir == "" && !c.InMemory {
		return errors.New("yggr: no data directory")
	}
	if c.TickInterval == 0 {
		c.TickInterval = DefaultTickInterval
	}
	if c.TickInterval < 0 {
		return fmt.Errorf("yggr: tick interval %v is negative", c.TickInterval)
	}
	if c.MaxPendingProposals == 0 {
		c.MaxPendingProposals = 8192
	}
	if c.MaxApplyLag == 0 {
		c.MaxApplyLag = 65536
	}
	if c.DiskReserve == 0 {
		c.DiskReserve = DefaultDiskReserve
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if len(c.Peers) > 1 && c.Network == nil {
		return errors.New("yggr: a multi-node cluster needs a network")
	}
	return nil
}
