package engine

import (
	"errors"
	"fmt"
	"slices"
)

// Config configures an Engine. The zero value of every field but ID selects
// a sane default; New validates the result.
type Config struct {
	// ID is this node's ID. Required.
	ID NodeID

	// Peers are the voters of a new cluster, this node included. Every node
	// of a new cluster must be given the same list. Leave it empty for a node
	// that joins an existing cluster (it never campaigns until a leader adds
	// it) or that recovers a membership from its log or snapshot (Recover
	// overrides Peers whenever the durable state holds a membership).
	Peers []NodeID

	// ElectionTicks is the minimum election timeout; each timeout is drawn
	// uniformly from [ElectionTicks, 2*ElectionTicks) (Raft §5.2). Default
	// DefaultElectionTicks.
	ElectionTicks int
	// HeartbeatTicks is the leader's heartbeat interval; it must be below
	// ElectionTicks. Default DefaultHeartbeatTicks.
	HeartbeatTicks int

	// DisablePreVote turns pre-vote (Raft §9.6) off. It is on by default.
	DisablePreVote bool
	// DisableCheckQuorum turns check-quorum off: by default a leader that
	// has not heard from a majority within ElectionTicks steps down, and a
	// voter that heard from a leader within ElectionTicks refuses votes
	// (Raft §4.2.3).
	DisableCheckQuorum bool

	// MaxInflightMsgs bounds the MsgApp messages in flight to one follower in
	// replicate state. Default 256.
	MaxInflightMsgs int
	// MaxAppendBytes bounds the entry bytes of one MsgApp (at least one
	// entry is always sent). Default 1 MiB.
	MaxAppendBytes uint64
	// EntryCacheBytes bounds the data of applied entries the engine keeps
	// in memory (an entry weighs its data plus 24 bytes): beyond it the data
	// of the oldest applied entries the host has made durable is dropped,
	// and a MsgApp that carries them asks the host to read it back from its
	// log (Send.FillThrough). The live log's terms and sizes stay in memory
	// (about 60 bytes an entry). Default 8 MiB.
	EntryCacheBytes uint64
	// MaxUncommittedBytes bounds the bytes of appended but uncommitted
	// entries on the leader; proposals beyond it are rejected with ErrBusy.
	// Default 64 MiB.
	MaxUncommittedBytes uint64

	// LeaseTicks enables the leader lease when positive: a leader whose
	// heartbeat round sent at tick t was acknowledged by a majority holds
	// a lease until t+LeaseTicks, which Engine.Lease reports; the host
	// serves lease reads from it without stepping the engine. Safety needs
	// voters to refuse votes for ElectionTicks after hearing from the
	// leader (check-quorum), and clocks whose rates differ by less than
	// ClockDriftTicks per ElectionTicks; so LeaseTicks must be at most
	// ElectionTicks-ClockDriftTicks and check-quorum must be on. Ticks
	// must also keep pace with real time on the leader: a host that can
	// miss ticks (time.Ticker drops them for a slow receiver; a paused
	// process misses them all) must time the lease on its own clock with a
	// TickClock, which keeps a tick of margin: a voter's host whose ticker
	// held a tick while it was busy steps it right after the heartbeat that
	// started its promise, which ends the promise up to one tick early (so
	// a host serves LeaseTicks-1 intervals).
	LeaseTicks int
	// ClockDriftTicks is the drift margin for the lease. Default
	// max(1, ElectionTicks/5).
	ClockDriftTicks int

	// MaxPendingReads bounds reads waiting for a round; more fail with
	// ErrBusy. Default 4096.
	MaxPendingReads int

	// SnapshotEntries, if set, asks for a snapshot every SnapshotEntries
	// applied entries. Zero (the default) sizes the interval by bytes: a
	// snapshot is asked for once the entries applied since the last one
	// weigh as much as that snapshot's Size, and at least
	// SnapshotMinBytes. A snapshot then costs at most one byte written per
	// byte of log it replaces, whether the state is small or large, and a
	// restart replays about as much log as the state it restores.
	SnapshotEntries uint64
	// SnapshotMinBytes is the least weight of applied entries (data plus 24
	// bytes each) between automatic snapshots sized by bytes. Default
	// 4 MiB.
	SnapshotMinBytes uint64
	// MaxLogEntries and MaxLogBytes ask for a snapshot as soon as the live
	// log is longer, whatever SnapshotEntries says. Defaults 100000 and
	// 64 MiB.
	MaxLogEntries uint64
	MaxLogBytes   uint64
	// CompactionKeep is how many entries below a snapshot at least stay in
	// the log so that a follower slightly behind needs no snapshot. Older
	// entries stay too while they weigh no more than the snapshot (and
	// MaxLogEntries, MaxLogBytes): sending them costs less than sending
	// the snapshot. Default 1000.
	CompactionKeep uint64
	// SnapshotChunkBytes is the size of one InstallSnapshot chunk.
	// Default 1 MiB.
	SnapshotChunkBytes uint64
	// SnapshotWindow bounds the InstallSnapshot chunks in flight to one
	// follower: the leader sends the next chunk without waiting for the
	// answer to the previous one, so a transfer takes about one round trip
	// per window rather than per chunk. A snapshot of unknown size
	// (SnapshotMeta.Size 0) is sent one chunk at a time. Default 4 (4 MiB
	// in flight with the default chunk), at most MaxSnapshotWindow; a host
	// whose transport queues chunks must queue at least this many.
	SnapshotWindow int

	// Seed seeds the PCG that draws election timeouts. Nodes of one cluster
	// should get different seeds.
	Seed uint64

	// Incarnation must differ each time a node starts: a counter the host
	// persists and increments on every start (values below 2^24 are
	// distinct). A follower numbers its read-index requests
	// Incarnation<<40 | sequence, so that the leader's late answer to a
	// request sent before a crash is never taken for the answer to a
	// request of the new process (which could serve a stale read).
	Incarnation uint64
}

// Errors found in a Config by New.
var ErrInvalidConfig = errors.New("engine: invalid config")

// MaxSnapshotWindow bounds Config.SnapshotWindow: more chunks in flight
// than a transport queues only get dropped (and the bytes in flight,
// window × SnapshotChunkBytes, stay far from overflowing).
const MaxSnapshotWindow = 1024

// WithDefaults returns a copy of c with every unset field set to its
// default and Peers sorted (the caller's slice is not touched). It is the
// one place that says what an unset field means; hosts that derive their
// own timing from c (the simulator's clock drift) read it from here.
func (c Config) WithDefaults() Config {
	if c.ElectionTicks == 0 {
		c.ElectionTicks = DefaultElectionTicks
	}
	if c.HeartbeatTicks == 0 {
		c.HeartbeatTicks = DefaultHeartbeatTicks
	}
	if c.MaxInflightMsgs == 0 {
		c.MaxInflightMsgs = 256
	}
	if c.MaxAppendBytes == 0 {
		c.MaxAppendBytes = 1 << 20
	}
	if c.EntryCacheBytes == 0 {
		c.EntryCacheBytes = 8 << 20
	}
	if c.MaxUncommittedBytes == 0 {
		c.MaxUncommittedBytes = 64 << 20
	}
	if c.ClockDriftTicks == 0 {
		c.ClockDriftTicks = max(1, c.ElectionTicks/5)
	}
	if c.MaxPendingReads == 0 {
		c.MaxPendingReads = 4096
	}
	if c.SnapshotMinBytes == 0 {
		c.SnapshotMinBytes = 4 << 20
	}
	if c.MaxLogEntries == 0 {
		c.MaxLogEntries = 100000
	}
	if c.MaxLogBytes == 0 {
		c.MaxLogBytes = 64 << 20
	}
	if c.CompactionKeep == 0 {
		c.CompactionKeep = 1000
	}
	if c.SnapshotChunkBytes == 0 {
		c.SnapshotChunkBytes = 1 << 20
	}
	if c.SnapshotWindow == 0 {
		c.SnapshotWindow = 4
	}
	c.Peers = slices.Clone(c.Peers)
	slices.Sort(c.Peers)
	return c
}

// Validate reports the first problem with c after defaults are applied.
func (c Config) Validate() error {
	c = c.WithDefaults()
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if !ValidNodeID(c.ID) {
		return bad("node id %q must be 1-%d letters, digits, '-', '_' or '.'", c.ID, MaxNodeIDLen)
	}
	for i, p := range c.Peers {
		if !ValidNodeID(p) {
			return bad("peer id %q is invalid", p)
		}
		if i > 0 && c.Peers[i-1] == p {
			return bad("peer %q listed twice", p)
		}
	}
	if len(c.Peers) > 0 && !slices.Contains(c.Peers, c.ID) {
		return bad("peers %v do not include this node %q", c.Peers, c.ID)
	}
	if c.ElectionTicks < 2 || c.HeartbeatTicks < 1 || c.HeartbeatTicks >= c.ElectionTicks {
		return bad("need 1 <= HeartbeatTicks (%d) < ElectionTicks (%d)", c.HeartbeatTicks, c.ElectionTicks)
	}
	if c.MaxInflightMsgs < 1 || c.MaxPendingReads < 1 || c.ClockDriftTicks < 1 || c.SnapshotWindow < 1 {
		return bad("MaxInflightMsgs, MaxPendingReads, ClockDriftTicks and SnapshotWindow must be positive")
	}
	if c.LeaseTicks < 0 {
		return bad("LeaseTicks %d is negative", c.LeaseTicks)
	}
	if c.LeaseTicks > 0 {
		if c.DisableCheckQuorum {
			return bad("lease reads need check-quorum")
		}
		if c.LeaseTicks > c.ElectionTicks-c.ClockDriftTicks {
			return bad("LeaseTicks %d must be at most ElectionTicks %d minus ClockDriftTicks %d", c.LeaseTicks, c.ElectionTicks, c.ClockDriftTicks)
		}
	}
	if c.SnapshotWindow > MaxSnapshotWindow {
		return bad("SnapshotWindow %d exceeds %d", c.SnapshotWindow, MaxSnapshotWindow)
	}
	if c.SnapshotChunkBytes > 64<<20 {
		return bad("SnapshotChunkBytes %d exceeds 64 MiB", c.SnapshotChunkBytes)
	}
	return nil
}

// Default timing, in ticks. With the runtime's default 50ms tick an
// election timeout is drawn from 400–800ms: a leader failure is noticed,
// and a new leader elected, in under a second.
const (
	DefaultElectionTicks  = 8
	DefaultHeartbeatTicks = 1
)

// MaxLeaseTicks is the longest lease c allows once defaults are filled in:
// the minimum election timeout less the drift margin (see LeaseTicks).
func MaxLeaseTicks(c Config) int {
	c = c.WithDefaults()
	return c.ElectionTicks - c.ClockDriftTicks
}
