package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/yggrdb/yggr/engine"
)

// Engine is what the simulator drives. *engine.Engine satisfies it; tests
// wrap it in adversaries that break the protocol on purpose.
type Engine interface {
	Step(engine.Event) []engine.Action
	Status() engine.Status
	Lease() engine.LeaseState
}

// NewEngine builds the engine of one node.
type NewEngine func(engine.Config) (Engine, error)

// RealEngine is the default NewEngine: the real engine.
func RealEngine(cfg engine.Config) (Engine, error) {
	e, err := engine.New(cfg)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// Options configures one simulation run. A run is a pure function of its
// Options: the same Options give the same run, event for event.
type Options struct {
	// Seed seeds every random choice of the run (math/rand/v2 PCG).
	Seed uint64
	// Nodes is the number of voters the cluster starts with (3, 5, 7, ...).
	// Two more nodes exist to be added by membership changes.
	Nodes int
	// Steps is the number of virtual ticks to simulate. Each step delivers
	// the messages due, ticks the nodes' clocks, runs fsyncs, client
	// operations and faults, then checks every property.
	Steps int
	// Calm turns faults off (no crashes, partitions, drops or slow disks).
	Calm bool
	// Liveness, after Steps, heals every fault and requires that a leader
	// is elected, a write commits, a read completes and a leadership
	// transfer completes, each within LivenessTicks.
	Liveness bool
	// CatchUpUnderLoad keeps clients writing while the liveness phase waits
	// for every member to catch up (by default writes pause for the
	// transfer and catch-up phases).
	CatchUpUnderLoad bool
	// LivenessTicks bounds each liveness phase; default 40 election
	// timeouts.
	LivenessTicks int
	// NewEngine builds engines; default RealEngine.
	NewEngine NewEngine
	// Garbage is the probability that a delivered message is corrupted
	// (fields set to odd or extreme values), as a buggy or hostile peer
	// could send. Raft does not tolerate Byzantine peers, so with Garbage
	// set only an engine panic fails the run: the engine must reject bad
	// input, never crash on it.
	Garbage float64
	// Storm multiplies the rates of crashes, partitions, stalls, pauses and
	// slow disks (default 1).
	Storm float64
	// Configure, if set, adjusts the engine configuration the seed chose
	// (for example to turn check-quorum off in an experiment).
	Configure func(*engine.Config)
	// TraceLen is how many trace lines a failure report keeps; default 200.
	TraceLen int
	// HostLease makes hosts time the lease they serve lease reads from
	// (Engine.Lease, falling back to ReadIndex) as internal/node does: on
	// the host's own clock, by engine.TickClock from when it stepped the
	// tick the lease was granted at. Without it the lease is timed in the
	// engine's ticks. Process pauses then happen in lease runs too (a
	// paused host's ticks are dropped, as time.Ticker drops them), which a
	// tick-timed lease cannot survive.
	HostLease bool
	// leaseByTicks (tests: an adversary host) times host leases by the
	// engine's tick count instead of the host clock.
	leaseByTicks bool
}

// Stats describes a finished run.
type Stats struct {
	Steps         int // virtual ticks simulated
	EngineSteps   uint64
	Leaders       int // distinct (term, leader) pairs
	MaxCommit     uint64
	WritesAcked   int
	WritesFailed  int
	ReadsServed   int
	ReadsFollower int // served by a node that was not leader
	ReadsLease    int // lease reads served by the leader
	// ReadsHostLease counts lease reads a host served from Engine.Lease,
	// without a round.
	ReadsHostLease int
	ConfChanges    int
	Transfers      int
	Crashes        int
	Pauses         int // process pauses (ticks and messages held)
	Partitions     int
	Snapshots      int // snapshots taken by hosts
	Installs       int // snapshots restored from a leader
	Filled         int // entries hosts read back from their logs (Send.FillThrough)
	HostApplied    int // entries hosts applied before Recover (Recover.Applied)
	// ChunkGaps counts MsgSnapResp answers to a chunk beyond the offset
	// the follower expected (a chunk before it lost or overtaken, or the
	// follower restarted): the leader goes back (engine.Config.SnapshotWindow).
	ChunkGaps int
	Ignored   int // violations ignored under Garbage
	// LivenessTicks is the most ticks any liveness phase took (write,
	// read, transfer, catch-up), against the bound Options.LivenessTicks.
	LivenessTicks int
	ElectionTicks int // the run's engine.Config.ElectionTicks
}

// ErrViolation is wrapped by every Violation.
var ErrViolation = errors.New("sim: property violated")

// Violation is a failed run: the property that broke, where, and the last
// events before it.
type Violation struct {
	Seed     uint64
	Nodes    int
	Step     int
	Property string
	Detail   string
	Trace    []string
}

func (v *Violation) Error() string {
	return fmt.Sprintf("sim: seed %d, %d nodes, step %d: %s: %s", v.Seed, v.Nodes, v.Step, v.Property, v.Detail)
}

func (v *Violation) Unwrap() error { return ErrViolation }

// Report renders the violation with its trace, one event per line.
func (v *Violation) Report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v\n", v.Error())
	for _, l := range v.Trace {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// world is one simulated cluster.
type world struct {
	opts Options
	rng  *rand.Rand
	// replayRng decides the host's replay at each start
	// (applyBeforeRecover): a stream of its own, so that the choices of
	// rng, and so the schedules of pinned seeds, are what they were
	// before the runtime replayed its log itself.
	replayRng *rand.Rand
	step      int
	seq       uint64 // engine steps so far: the order of real time
	cfg       engine.Config
	voters    []engine.NodeID // the bootstrap voters
	hosts     []*host         // every node of the universe, sorted by ID
	byID      map[engine.NodeID]*host
	net       network
	chk       checker
	cl        clients
	tr        *tracer
	fail      *Violation
	stats     Stats
	calm      bool // faults off (Calm, or the liveness phase)

	items []item     // scratch for tick
	due   []inflight // scratch for tick
}

// item is one thing that happens during a tick.
type item struct {
	h    *host
	kind uint8 // 0 deliver, 1 tick, 2 fsync, 3 host event
	msg  engine.Message
	ev   engine.Event
}

// Run simulates one cluster and returns its statistics, or a *Violation
// (wrapping ErrViolation) for the first property that breaks. Any other
// error is a bad Options.
func Run(opts Options) (Stats, error) {
	w, err := newWorld(opts)
	if err != nil {
		return Stats{}, err
	}
	for w.fail == nil && w.step < opts.Steps {
		w.tick()
	}
	if w.fail == nil && opts.Liveness {
		w.liveness()
	}
	w.stats.Steps = w.step
	w.stats.EngineSteps = w.seq
	w.stats.ElectionTicks = w.cfg.ElectionTicks
	w.stats.Leaders = len(w.chk.leaders)
	w.stats.MaxCommit = w.chk.maxCommitted
	if w.fail != nil {
		return w.stats, w.fail
	}
	return w.stats, nil
}

func newWorld(opts Options) (*world, error) {
	if opts.Nodes < 1 || opts.Nodes > 9 {
		return nil, fmt.Errorf("sim: Nodes %d out of range 1-9", opts.Nodes)
	}
	if opts.NewEngine == nil {
		opts.NewEngine = RealEngine
	}
	if opts.TraceLen == 0 {
		opts.TraceLen = 200
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x79676772))
	w := &world{opts: opts, rng: rng, replayRng: rand.New(rand.NewPCG(opts.Seed, 0x7265706c)), byID: map[engine.NodeID]*host{}, tr: newTracer(opts.TraceLen), calm: opts.Calm}
	w.cfg = engine.Config{
		ElectionTicks:      10,
		HeartbeatTicks:     1 + rng.IntN(3),
		MaxInflightMsgs:    2 + rng.IntN(32),
		MaxAppendBytes:     uint64(64 + rng.IntN(2048)),
		SnapshotEntries:    uint64(8 + rng.IntN(64)),
		MaxLogEntries:      uint64(64 + rng.IntN(128)),
		CompactionKeep:     uint64(1 + rng.IntN(16)),
		SnapshotChunkBytes: uint64(32 + rng.IntN(256)),
		MaxPendingReads:    64,
	}
	if rng.IntN(3) == 0 {
		// Extremes: tiny messages, windows, chunks and snapshot bands.
		w.cfg.ElectionTicks = 4 + rng.IntN(4)
		w.cfg.HeartbeatTicks = 1
		w.cfg.MaxInflightMsgs = 1 + rng.IntN(2)
		w.cfg.MaxAppendBytes = 1
		w.cfg.SnapshotEntries = uint64(1 + rng.IntN(4))
		w.cfg.MaxLogEntries = uint64(4 + rng.IntN(8))
		w.cfg.CompactionKeep = uint64(1 + rng.IntN(2))
		w.cfg.SnapshotChunkBytes = uint64(16 + rng.IntN(64))
		w.cfg.MaxUncommittedBytes = uint64(100 + rng.IntN(400))
		w.cfg.MaxPendingReads = 1 + rng.IntN(4)
	}
	switch r := rng.IntN(10); {
	case r < 5:
		w.cfg.LeaseTicks = engine.MaxLeaseTicks(w.cfg)
	case r == 5:
		w.cfg.DisableCheckQuorum = true
	case r == 6:
		w.cfg.DisablePreVote = true
	}
	// About one MsgApp's worth of entry data stays in the engine: the rest
	// is released and read back from the hosts' logs (Send.FillThrough).
	// Derived from the draws above, so that the seeds replay as before.
	w.cfg.EntryCacheBytes = w.cfg.MaxAppendBytes
	// One to six InstallSnapshot chunks in flight (the default is four),
	// derived the same way.
	w.cfg.SnapshotWindow = 1 + int(w.cfg.SnapshotChunkBytes%6)
	if w.opts.Storm == 0 {
		w.opts.Storm = 1
	}
	if opts.Configure != nil {
		opts.Configure(&w.cfg)
	}
	if opts.LivenessTicks == 0 {
		w.opts.LivenessTicks = 40 * w.cfg.ElectionTicks
	}
	for i := 1; i <= opts.Nodes+2; i++ {
		id := engine.NodeID(fmt.Sprintf("n%d", i))
		if i <= opts.Nodes {
			w.voters = append(w.voters, id)
		}
		h := &host{id: id, initial: i <= opts.Nodes}
		w.hosts = append(w.hosts, h)
		w.byID[id] = h
	}
	w.cl.init()
	w.chk.init()
	// The spares run from the start with no configuration: they must stay
	// quiet until a leader adds them.
	for _, h := range w.hosts {
		if err := w.start(h); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// violate records the first violation; the run stops at the end of the
// current engine step.
func (w *world) violate(property, format string, args ...any) {
	if w.fail != nil {
		return
	}
	if w.opts.Garbage > 0 && property != "engine panic" {
		w.stats.Ignored++
		return
	}
	detail := fmt.Sprintf(format, args...)
	w.tr.add(traceRecord{step: w.step, item: "VIOLATION " + property + ": " + detail})
	w.fail = &Violation{Seed: w.opts.Seed, Nodes: w.opts.Nodes, Step: w.step, Property: property, Detail: detail, Trace: w.tr.lines()}
}

func (w *world) note(h *host, format string, args ...any) {
	r := traceRecord{step: w.step, item: fmt.Sprintf(format, args...)}
	if h != nil {
		r.node, r.role, r.term = h.id, h.role, h.term
	}
	w.tr.add(r)
}

// start boots h from its durable state: a new engine, Recover, and the
// state machine restored from the durable snapshot.
func (w *world) start(h *host) error {
	cfg := w.cfg
	cfg.ID = h.id
	cfg.Seed = w.rng.Uint64()
	prev := h.incarnation
	for h.incarnation == prev {
		h.incarnation = w.rng.Uint64() & (1<<24 - 1)
	}
	cfg.Incarnation = h.incarnation
	if h.initial {
		cfg.Peers = slices.Clone(w.voters)
	}
	eng, err := w.opts.NewEngine(cfg)
	if err != nil {
		return err
	}
	// Clock rates differ by less than ClockDriftTicks per ElectionTicks
	// (the engine's defaults for this run): ±45 % of that bound.
	dc := w.cfg.WithDefaults()
	drift := float64(dc.ClockDriftTicks) / float64(dc.ElectionTicks)
	h.rate = 1 + (w.rng.Float64()*2-1)*0.45*drift
	h.clock = w.rng.Float64()
	h.fsyncP = 0.8
	d := &h.disk.dur
	d.alignToSnapshot()
	h.disk.cur = d.clone()
	h.reset(eng)
	h.sm = newStateMachine(engine.NewMembership(w.voters, nil))
	if d.snap.Index > 0 {
		img, err := decodeSnapshot(d.snapData)
		if err != nil {
			w.violate("host contract", "%s: durable snapshot %s unreadable: %v", h.id, d.snap, err)
			return nil
		}
		h.sm.restore(img, d.snap.Membership.Clone())
	}
	if d.floorIndex > d.snap.Index && d.lastIndex() > d.floorIndex {
		w.violate("host contract", "%s: log floor %d above the snapshot %s leaves a gap", h.id, d.floorIndex, d.snap)
		return nil
	}
	var ents []engine.Entry
	for _, e := range d.entries {
		if e.Index > d.snap.Index {
			ents = append(ents, e)
		}
	}
	h.lastTerm, h.lastCommit = d.hs.Term, 0
	h.termAtCrash = d.hs.Term
	w.note(h, "start (disk: hs=%d/%s/%d snap=%s log=%d..%d)", d.hs.Term, d.hs.Vote, d.hs.Commit, d.snap, d.floorIndex+1, d.lastIndex())
	rec := engine.Recover{HardState: d.hs, Snapshot: cloneMeta(d.snap), Entries: copyEntries(ents)}
	if w.replayRng.IntN(2) == 0 {
		w.applyBeforeRecover(h, &rec)
		if w.fail != nil {
			return nil
		}
	}
	w.feed(h, rec)
	return nil
}

// applyBeforeRecover does what the runtime does at open: it applies a
// prefix of the committed log to the state machine while reading it, then
// hands the engine those entries without their data (Recover.Applied,
// Sizes). The prefix is the log Recover keeps (contiguous from the
// snapshot, terms never decreasing) up to the durable commit index, cut at
// a random point so that every split between the host's replay and the
// engine's is tried.
func (w *world) applyBeforeRecover(h *host, r *engine.Recover) {
	prevIndex, prevTerm := r.Snapshot.Index, r.Snapshot.Term
	limit := prevIndex + uint64(w.replayRng.IntN(int(max(r.HardState.Commit, prevIndex)-prevIndex)+1))
	r.Sizes = make([]uint32, len(r.Entries))
	applying := true
	for k := range r.Entries {
		e := &r.Entries[k]
		r.Sizes[k] = uint32(len(e.Data))
		if !applying || e.Index <= r.Snapshot.Index {
			continue
		}
		if e.Index != prevIndex+1 || e.Term < prevTerm || e.Index > limit {
			applying = false
			continue
		}
		w.applyEntry(h, *e)
		if w.fail != nil {
			return
		}
		w.stats.HostApplied++
		r.Applied, prevIndex, prevTerm = e.Index, e.Index, e.Term
		if e.Type != engine.EntryConfig {
			e.Data = nil
		}
	}
}

func cloneMeta(m engine.SnapshotMeta) engine.SnapshotMeta {
	m.Membership = m.Membership.Clone()
	return m
}

// crash stops h: the engine and all memory are lost, and of the pending
// writes only a random prefix survives.
func (w *world) crash(h *host) {
	keep := 0
	if n := len(h.disk.pending); n > 0 {
		keep = w.rng.IntN(n + 1)
	}
	w.note(h, "crash (keeps %d of %d pending writes)", keep, len(h.disk.pending))
	h.disk.crash(keep)
	w.cl.hostDown(w, h)
	h.eng = nil
	h.up = false
	h.held, h.inbox, h.snapDue = nil, nil, nil
	w.stats.Crashes++
}

// wipe replaces h by a fresh node with an empty disk that joins (no
// bootstrap peers).
func (w *world) wipe(h *host) {
	w.crash(h)
	w.stats.Crashes--
	w.note(h, "wipe: fresh disk, joins as a new node")
	h.disk = disk{}
	h.initial = false
	h.restartAt = 0
	if err := w.start(h); err != nil {
		w.violate("host contract", "%s: start: %v", h.id, err)
	}
}

// feed steps ev into h's engine, then any events the host produced while
// executing the actions (LogPersisted, SnapshotChunkFailed, ...).
func (w *world) feed(h *host, ev engine.Event) {
	h.inbox = append(h.inbox, ev)
	if h.feeding {
		return
	}
	h.feeding = true
	for i := 0; len(h.inbox) > 0 && i < 10000 && w.fail == nil && h.up; i++ {
		ev := h.inbox[0]
		h.inbox = h.inbox[1:]
		w.stepEngine(h, ev)
	}
	h.inbox = nil
	h.feeding = false
}

func (w *world) stepEngine(h *host, ev engine.Event) {
	w.seq++
	defer func() {
		if r := recover(); r != nil {
			w.tr.add(traceRecord{step: w.step, node: h.id, role: h.role, term: h.term, in: true, item: ev})
			w.violate("engine panic", "%s: %v\n%s", h.id, r, debug.Stack())
		}
	}()
	acts := h.eng.Step(ev)
	if _, tick := ev.(engine.Tick); !tick || len(acts) > 0 {
		w.tr.add(traceRecord{step: w.step, node: h.id, role: h.role, term: h.term, in: true, item: ev})
	}
	if _, ok := ev.(engine.Recover); ok {
		h.recovering = true
	}
	for _, a := range acts {
		if w.fail != nil {
			return
		}
		w.tr.add(traceRecord{step: w.step, node: h.id, role: h.role, term: h.term, item: a})
		w.execute(h, a)
	}
	// A step without actions changes no term, commit or role (each of
	// those is announced by an action), so the status checks can skip it.
	if w.fail == nil && len(acts) > 0 {
		w.chk.afterStep(w, h)
	}
	h.recovering = false
}

// tick runs one step of virtual time.
func (w *world) tick() {
	w.step++
	if !w.calm {
		w.faults()
	}
	w.cl.generate(w)
	items := w.items[:0]
	rest := w.net.queue[:0]
	due := w.due[:0]
	for _, m := range w.net.queue {
		if m.due <= w.step {
			due = append(due, m)
		} else {
			rest = append(rest, m)
		}
	}
	w.net.queue = rest
	for _, m := range due {
		if h := w.byID[m.msg.To]; h != nil && h.pausedUntil > w.step {
			m.due = h.pausedUntil
			w.net.queue = append(w.net.queue, m)
			continue
		}
		items = append(items, item{h: w.byID[m.msg.To], kind: 0, msg: m.msg})
	}
	for _, h := range w.hosts {
		h.local += h.rate // real time passes, paused or not
		if !h.up || h.pausedUntil > w.step {
			if h.up && w.opts.HostLease {
				// time.Ticker keeps one tick for a receiver that is
				// not reading: it arrives at once when the pause ends.
				h.clock = min(h.clock+h.rate, 1)
			}
			continue
		}
		h.clock += h.rate
		for h.clock >= 1 {
			h.clock--
			items = append(items, item{h: h, kind: 1})
		}
		if len(h.disk.pending) > 0 && w.rng.Float64() < h.fsyncP {
			items = append(items, item{h: h, kind: 2})
		}
		keep := h.snapDue[:0]
		for _, s := range h.snapDue {
			if s.due <= w.step {
				items = append(items, item{h: h, kind: 3, ev: s.ev})
			} else {
				keep = append(keep, s)
			}
		}
		h.snapDue = keep
	}
	w.items, w.due = items, due
	w.rng.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	for _, it := range items {
		if w.fail != nil {
			return
		}
		h := it.h
		if h == nil || !h.up {
			continue
		}
		switch it.kind {
		case 0:
			m := copyMessage(it.msg)
			if w.opts.Garbage > 0 && w.rng.Float64() < w.opts.Garbage {
				m = w.corrupt(m)
			}
			w.feed(h, engine.Receive{Msg: m})
		case 1:
			w.feed(h, engine.Tick{})
			if h.up {
				h.tickAt.Stepped(h.eng.Lease().Now, h.local)
			}
		case 2:
			n := len(h.disk.pending)
			if w.rng.IntN(4) == 0 {
				n = 1 + w.rng.IntN(n)
			}
			w.fsync(h, n)
		case 3:
			w.feed(h, it.ev)
		}
	}
	if w.fail == nil {
		w.cl.serveReads(w)
		w.chk.endOfTick(w)
	}
}

// fsync makes the first n pending writes of h durable, releases the sends
// that waited for them, and reports the durable log with LogPersisted.
func (w *world) fsync(h *host, n int) {
	if !h.disk.sync(n) {
		w.releaseHeld(h)
		return
	}
	w.releaseHeld(h)
	d := &h.disk.dur
	if last := d.lastIndex(); last > 0 {
		t, _ := d.term(last)
		w.feed(h, engine.LogPersisted{Index: last, Term: t})
	}
}

func (w *world) releaseHeld(h *host) {
	keep := h.held[:0]
	for _, s := range h.held {
		if s.need <= h.disk.synced {
			w.transmit(h, s)
		} else {
			keep = append(keep, s)
		}
	}
	h.held = keep
}

// transmit puts a message on the wire, checking first that everything it
// reflects is durable.
func (w *world) transmit(h *host, s heldSend) {
	w.chk.checkSend(w, h, s)
	if w.fail != nil {
		return
	}
	m := s.msg
	// A partition blocks what is sent while it lasts; messages already on
	// the wire still arrive (late acknowledgements from before a split).
	if w.net.blocked(m.From, m.To) || !w.calm && w.rng.Float64() < w.net.dropP {
		return
	}
	copies := 1
	if !w.calm && w.rng.Float64() < w.net.dupP {
		copies = 2
	}
	for range copies {
		delay := 1
		if !w.calm && w.rng.IntN(4) == 0 {
			delay += w.rng.IntN(3)
		}
		if !w.calm && w.rng.Float64() < w.net.longDelayP {
			delay += 5 + w.rng.IntN(25)
		}
		if until, ok := w.net.stalls[[2]engine.NodeID{m.From, m.To}]; ok && until > w.step+delay {
			delay = until - w.step + w.rng.IntN(2)
		}
		w.net.queue = append(w.net.queue, inflight{due: w.step + delay, msg: m})
	}
}

// faults injects crashes, restarts, partitions, slow disks and changes of
// the network's loss rates.
func (w *world) faults() {
	r := w.rng
	if w.step%200 == 1 {
		w.net.dropP = []float64{0, 0, 0.01, 0.05, 0.15}[r.IntN(5)]
		w.net.dupP = []float64{0, 0.02, 0.1}[r.IntN(3)]
		w.net.longDelayP = []float64{0, 0.01, 0.05}[r.IntN(3)]
	}
	for _, h := range w.hosts {
		if !h.up && h.everStarted && h.restartAt > 0 && h.restartAt <= w.step {
			h.restartAt = 0
			if err := w.start(h); err != nil {
				w.violate("host contract", "%s: restart: %v", h.id, err)
				return
			}
		}
		if h.up && h.slowUntil > 0 && h.slowUntil <= w.step {
			h.fsyncP, h.slowUntil = 0.8, 0
		}
	}
	if r.Float64() < 0.004*w.opts.Storm {
		up := w.upHosts()
		if len(up) > 1 {
			h := up[r.IntN(len(up))]
			w.crash(h)
			h.restartAt = w.step + 3 + r.IntN(60)
		}
	}
	if r.Float64() < 0.003*w.opts.Storm {
		up := w.upHosts()
		if len(up) > 0 {
			h := up[r.IntN(len(up))]
			h.fsyncP, h.slowUntil = 0.05, w.step+20+r.IntN(80)
			w.note(h, "slow disk until step %d", h.slowUntil)
		}
	}
	// A paused process (a GC or VM pause) takes no ticks and handles no
	// messages for a while. That breaks the engine's tick-timed lease, so
	// it happens only in runs without lease reads or with host leases.
	if (w.cfg.LeaseTicks == 0 || w.opts.HostLease) && r.Float64() < 0.003*w.opts.Storm {
		up := w.upHosts()
		if len(up) > 0 {
			h := up[r.IntN(len(up))]
			if l := w.leader(); w.opts.HostLease && l != nil && r.IntN(2) == 0 {
				h = l // a paused leader is what tests a lease
			}
			h.pausedUntil = w.step + 5 + r.IntN(40)
			w.stats.Pauses++
			w.note(h, "pause until step %d", h.pausedUntil)
		}
	}
	// Stall a link for a while, often one into the leader: its queued
	// answers arrive late and all at once.
	if r.Float64() < 0.01*w.opts.Storm {
		if w.net.stalls == nil {
			w.net.stalls = map[[2]engine.NodeID]int{}
		}
		for k, until := range w.net.stalls {
			if until <= w.step {
				delete(w.net.stalls, k)
			}
		}
		up := w.upHosts()
		if len(up) > 1 {
			a, b := up[r.IntN(len(up))], up[r.IntN(len(up))]
			if l := w.leader(); l != nil && r.IntN(2) == 0 {
				b = l
			}
			if a != b {
				until := w.step + 10 + r.IntN(50)
				w.net.stalls[[2]engine.NodeID{a.id, b.id}] = until
				w.note(nil, "link %s->%s stalls until step %d", a.id, b.id, until)
			}
		}
	}
	if w.net.healAt > 0 && w.net.healAt <= w.step {
		w.net.heal()
		w.note(nil, "network healed")
	}
	if w.net.healAt == 0 && r.Float64() < 0.006*w.opts.Storm {
		w.partition()
	}
}

func (w *world) upHosts() []*host {
	var up []*host
	for _, h := range w.hosts {
		if h.up {
			up = append(up, h)
		}
	}
	return up
}

func (w *world) partition() {
	r := w.rng
	ids := make([]engine.NodeID, len(w.hosts))
	for i, h := range w.hosts {
		ids[i] = h.id
	}
	w.net.group, w.net.cut = nil, nil
	switch r.IntN(4) {
	case 0, 1: // two or three groups
		groups := 2 + r.IntN(2)
		w.net.group = map[engine.NodeID]int{}
		for _, id := range ids {
			w.net.group[id] = r.IntN(groups)
		}
	case 2: // isolate the leader
		w.net.group = map[engine.NodeID]int{}
		if l := w.leader(); l != nil {
			w.net.group[l.id] = 1
		}
		for _, id := range ids {
			if _, ok := w.net.group[id]; !ok {
				w.net.group[id] = 0
			}
		}
	case 3: // one-way: cut some directed links, often around the leader
		w.net.cut = map[[2]engine.NodeID]bool{}
		l := w.leader()
		for _, a := range ids {
			for _, b := range ids {
				if a == b {
					continue
				}
				p := 0.2
				if l != nil && (a == l.id) != (r.IntN(2) == 0) && (a == l.id || b == l.id) {
					p = 0.7
				}
				if r.Float64() < p {
					w.net.cut[[2]engine.NodeID{a, b}] = true
				}
			}
		}
	}
	w.net.healAt = w.step + 10 + r.IntN(150)
	w.stats.Partitions++
	w.note(nil, "%s until step %d", w.net.describe(), w.net.healAt)
}

// leader returns the up node that believes it leads in the highest term.
func (w *world) leader() *host {
	var best *host
	for _, h := range w.hosts {
		if h.up && h.role == engine.Leader && (best == nil || h.term > best.term) {
			best = h
		}
	}
	return best
}
