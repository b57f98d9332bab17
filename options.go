package yggr

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/kv"
	"github.com/yggrdb/yggr/internal/node"
)

// Option configures Open.
type Option func(*options)

type options struct {
	id              string
	secret          string
	tls             *tls.Config
	insecure        bool
	lease           bool
	logger          *slog.Logger
	limits          Limits
	tick            time.Duration
	electionTks     int
	join            bool
	noSync          bool
	network         node.Network // tests: an in-process network
	engineTweak     func(*engine.Config)
	driverHook      func()
	listenAddr      string
	snapshotEntries uint64
	tracer          trace.TracerProvider
	watchCache      int
	watchHistory    uint64
	watchBuffer     int
	diskReserve     int64
	// snapshotWriteRate is WithSnapshotWriteRate's cap; snapshotWriteRateSet
	// tells an explicit 0 (no cap) from the default.
	snapshotWriteRate    int64
	snapshotWriteRateSet bool
}

// WithDiskReserve sets the free space, in bytes, that a node keeps on the
// file system of its data directory: below it the node, as leader, refuses
// writes with ErrNoSpace rather than fill the disk (where a write could
// fault). Default 64 MiB; a negative value disables the check. Raise it
// when the directory shares its file system with other writers.
func WithDiskReserve(bytes int64) Option { return func(o *options) { o.diskReserve = bytes } }

// WithWatchCache sets how many bytes of recent changes a node keeps in
// memory for watches that start in the recent past or fall behind
// (default 8 MiB); older history is replayed from the log (see Watch).
func WithWatchCache(bytes int) Option { return func(o *options) { o.watchCache = bytes } }

// WithWatchHistory keeps at least revisions revisions of history below the
// node's newest snapshot, so that a watch (FromRevision) can start that far
// back: the node keeps the older snapshots and the log the window needs on
// disk, at the cost of that disk space. Without it the history reaches back
// to the older of the two newest snapshots (see Watch). The window is kept
// from when the option is in force; history compacted before is gone.
func WithWatchHistory(revisions uint64) Option {
	return func(o *options) { o.watchHistory = revisions }
}

// WithWatchBuffer bounds the changes waiting for each watch's consumer, in
// bytes (default 1 MiB); a consumer further behind goes on from the cache
// and the log (see Watch).
func WithWatchBuffer(bytes int) Option { return func(o *options) { o.watchBuffer = bytes } }

// WithID names this node in a multi-node cluster; it must be one of the
// peers. A single-node database defaults to "n1". An id that is not 1 to
// 64 letters, digits, '-', '_' or '.' is refused with ErrInvalid.
func WithID(id string) Option { return func(o *options) { o.id = id } }

// WithClusterSecret secures peer traffic with mutual TLS whose CA is
// derived from a secret shared by every node of the cluster.
func WithClusterSecret(secret string) Option { return func(o *options) { o.secret = secret } }

// WithTLS secures peer traffic with explicit certificates (mutual TLS 1.3;
// see `yggr certs`).
func WithTLS(peer *tls.Config) Option { return func(o *options) { o.tls = peer } }

// WithInsecure turns peer authentication off. Development only: anyone who
// can reach the peer port can join the conversation. It logs a warning.
func WithInsecure() Option { return func(o *options) { o.insecure = true } }

// WithLeaseReads allows Lease consistency: the leader answers reads from
// its lease without a round trip, assuming bounded clock drift.
func WithLeaseReads() Option { return func(o *options) { o.lease = true } }

// WithLogger sets the structured logger; the default discards.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithLimits sets the size limits on keys, values and transactions
// (defaults DefaultMaxKeyBytes, DefaultMaxValueBytes, DefaultMaxTxnOps).
func WithLimits(l Limits) Option { return func(o *options) { o.limits = l } }

// WithTiming sets the tick length and the minimum election timeout in
// ticks (defaults DefaultTick, 50ms, and DefaultElectionTicks, 8: a leader
// failure is noticed within 0.4–0.8s). Heartbeats go out every tick. Open
// refuses a tick below 1ms and an election timeout below 2 ticks; zero
// takes the default.
func WithTiming(tick time.Duration, electionTicks int) Option {
	return func(o *options) { o.tick, o.electionTks = tick, electionTicks }
}

// WithJoin starts a node that is not yet a member: it waits for a member to
// add it (AddLearner then Promote) and never campaigns before.
func WithJoin() Option { return func(o *options) { o.join = true } }

// WithListenAddr sets the address to listen on for peers when it differs
// from this node's address in the peer list (for example 0.0.0.0:7071).
func WithListenAddr(addr string) Option { return func(o *options) { o.listenAddr = addr } }

// WithUnsafeNoSync skips fsync. A crash may lose acknowledged writes: for
// benchmarks and throwaway data only.
func WithUnsafeNoSync() Option { return func(o *options) { o.noSync = true } }

// WithTracerProvider emits an OpenTelemetry span for every client
// operation (propose, commit, apply, read index and forwarding appear as
// span events). Without it tracing is a no-op.
func WithTracerProvider(tp trace.TracerProvider) Option { return func(o *options) { o.tracer = tp } }

// withEngine adjusts the engine configuration (tests).
func withEngine(f func(*engine.Config)) Option { return func(o *options) { o.engineTweak = f } }

// WithSnapshotEntries takes an automatic snapshot every n applied entries.
// By default snapshots are sized by bytes instead: one is taken once the
// entries applied since the last weigh as much as that snapshot (at least
// 4 MiB), so that a snapshot writes at most one byte per byte of log it
// replaces however large the state is, and a restart replays about as much
// log as the state it restores. The log keeps 1000 entries below a
// snapshot for followers slightly behind.
func WithSnapshotEntries(n uint64) Option {
	return func(o *options) { o.snapshotEntries = n }
}

// DefaultSnapshotWriteRate is the cap on a node's snapshot writes, in
// bytes per second, when WithSnapshotWriteRate is not given. See
// WithSnapshotWriteRate and BENCHMARKS.md (issue 15) for the measurement
// behind it.
const DefaultSnapshotWriteRate = 40 << 20

// WithSnapshotWriteRate caps the rate, in bytes per second, at which a
// node writes its own snapshots (the automatic ones and DB.Snapshot), so
// that writing one leaves the disk to the log's fsyncs and the writes
// being served keep their latency; the snapshot takes longer (its size
// divided by the rate: 4 s for the ~160 MB of a million 128-byte values
// at the default). Default DefaultSnapshotWriteRate (40 MiB/s); 0 removes
// the cap; negative is refused with ErrInvalid. Close lifts the cap: a
// snapshot in progress then finishes at the disk's speed, so that the
// next Open restores it rather than replaying the log it covers; one that
// has not finished 10 s into Close is abandoned (and logged), so that
// stopping a node with a large state stays bounded.
//
// The cap covers only snapshots this node takes of its own state. A
// snapshot a leader sends to catch a follower up is read and stored
// without it, as is the restore of a backup. It must stay above the rate
// at which the log grows (bytes of writes per second), or snapshots fall
// behind and the log is compacted later than the snapshot trigger asks.
func WithSnapshotWriteRate(bytesPerSec int64) Option {
	return func(o *options) { o.snapshotWriteRate, o.snapshotWriteRateSet = bytesPerSec, true }
}

// withDriverHook runs f at the start of every driver iteration (tests: a
// blocking f pauses the node).
func withDriverHook(f func()) Option { return func(o *options) { o.driverHook = f } }

// withNetwork replaces QUIC with an in-process network (tests).
func withNetwork(n node.Network) Option { return func(o *options) { o.network = n } }

// Limits bound the sizes of requests; they are checked before a write is
// proposed. Zero fields take the defaults; negative ones are refused by
// Open. The HTTP layer (httpapi.Options) bounds its requests with the same
// type.
//
//	type Limits struct {
//		MaxKeyBytes   int // longest key
//		MaxValueBytes int // longest value, also of a value compare
//		MaxTxnOps     int // most compares, and most requests in each branch, of a Txn
//	}
type Limits = kv.Limits

// Default limits.
const (
	DefaultMaxKeyBytes   = kv.DefaultMaxKeyBytes   // 4 KiB
	DefaultMaxValueBytes = kv.DefaultMaxValueBytes // 1 MiB
	DefaultMaxTxnOps     = kv.DefaultMaxTxnOps     // 128
)

// Default timing: with a 50ms tick and a minimum election timeout of 8
// ticks, a leader failure is noticed, and a new leader elected, in under a
// second (election timeouts are drawn from 400–800ms).
const (
	DefaultTick          = node.DefaultTickInterval
	DefaultElectionTicks = engine.DefaultElectionTicks
)

// withDefaults fills in the defaults of the options left unset. It is the
// one place that says what an unset option means; validate then refuses
// what still makes no sense.
func (o options) withDefaults() options {
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	if o.tick == 0 {
		o.tick = DefaultTick
	}
	if o.electionTks == 0 {
		o.electionTks = DefaultElectionTicks
	}
	if !o.snapshotWriteRateSet {
		o.snapshotWriteRate = DefaultSnapshotWriteRate
	}
	// Limits keep their zero fields: Limits.WithDefaults fills them where
	// they are checked, and validate sees the negative ones.
	return o
}

// minTick is the shortest tick Open accepts: a shorter one only spins the
// driver, and the lease needs ticks that keep pace with real time.
const minTick = time.Millisecond

// validate reports the first option that makes no sense, wrapping
// ErrInvalid; it runs after withDefaults.
func (o options) validate() error {
	bad := func(option, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalid, option, fmt.Sprintf(format, args...))
	}
	switch {
	case o.tick < minTick:
		return bad("WithTiming", "tick %v is shorter than %v", o.tick, minTick)
	case o.electionTks < 2:
		// The leader heartbeats every tick, which must be below the
		// election timeout.
		return bad("WithTiming", "election timeout of %d ticks is below 2", o.electionTks)
	case o.limits.MaxKeyBytes < 0 || o.limits.MaxValueBytes < 0 || o.limits.MaxTxnOps < 0:
		return bad("WithLimits", "negative limit in %+v", o.limits)
	case o.snapshotWriteRate < 0:
		return bad("WithSnapshotWriteRate", "%d bytes per second is negative", o.snapshotWriteRate)
	case o.watchCache < 0:
		return bad("WithWatchCache", "%d bytes is negative", o.watchCache)
	case o.watchBuffer < 0:
		return bad("WithWatchBuffer", "%d bytes is negative", o.watchBuffer)
	case o.tls != nil && o.secret != "":
		return bad("WithTLS", "excludes WithClusterSecret: choose one way to secure peer traffic")
	case o.insecure && (o.tls != nil || o.secret != ""):
		return bad("WithInsecure", "excludes WithTLS and WithClusterSecret")
	case o.id != "" && !engine.ValidNodeID(engine.NodeID(o.id)):
		return bad("WithID", "%q is not a node id: want 1 to %d letters, digits, '-', '_', '.'", o.id, engine.MaxNodeIDLen)
	}
	if o.listenAddr != "" {
		if _, _, err := net.SplitHostPort(o.listenAddr); err != nil {
			return bad("WithListenAddr", "%q: %v", o.listenAddr, err)
		}
	}
	return nil
}

// engineConfig is the engine configuration the options ask for, validated.
func (o options) engineConfig(id engine.NodeID) (engine.Config, error) {
	c := engine.Config{ElectionTicks: o.electionTks, SnapshotEntries: o.snapshotEntries}
	if o.lease {
		c.LeaseTicks = engine.MaxLeaseTicks(c)
	}
	if o.engineTweak != nil {
		o.engineTweak(&c)
	}
	probe := c
	probe.ID = id
	if err := probe.Validate(); err != nil {
		return c, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return c, nil
}
