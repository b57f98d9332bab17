package node

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/yggrdb/yggr/engine"
)

// applyItem is one unit of work for the apply goroutine, in log order.
type applyItem struct {
	entries   []engine.Entry
	committed time.Time            // when the driver saw the entries committed
	restore   *engine.SnapshotMeta // replace the state machine with this snapshot
	snapshot  bool                 // capture the state machine into a snapshot
}

// applyQueue hands work from the driver to the apply goroutine without ever
// blocking the driver; its length is bounded indirectly, by refusing new
// proposals while it is long (MaxApplyLag).
type applyQueue struct {
	mu      sync.Mutex
	items   []applyItem
	entries int // entries queued
	notify  chan struct{}

	// Owned by the apply goroutine.
	appliedTerm uint64
	membership  engine.Membership
}

func newApplyQueue() *applyQueue { return &applyQueue{notify: make(chan struct{}, 1)} }

// setBase records the snapshot the state machine was restored from.
func (q *applyQueue) setBase(s engine.SnapshotMeta) {
	q.appliedTerm = s.Term
	q.membership = s.Membership.Clone()
}

func (q *applyQueue) push(it applyItem) {
	q.mu.Lock()
	q.items = append(q.items, it)
	q.entries += len(it.entries)
	q.mu.Unlock()
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

func (q *applyQueue) take() []applyItem {
	q.mu.Lock()
	defer q.mu.Unlock()
	its := q.items
	q.items, q.entries = nil, 0
	return its
}

// lag returns the number of committed entries waiting to be applied.
func (q *applyQueue) lag() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.entries
}

// applyLoop is the apply goroutine.
func (n *Node) applyLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.stop:
			return
		case <-n.applyQ.notify:
		}
		for _, it := range n.applyQ.take() {
			switch {
			case it.entries != nil:
				n.applyEntries(it.entries, it.committed)
			case it.restore != nil:
				n.applyRestore(*it.restore)
			case it.snapshot:
				n.startSnapshot()
			}
		}
	}
}

func (n *Node) applyEntries(es []engine.Entry, committed time.Time) {
	q := n.applyQ
	applied := n.Applied()
	start := time.Now()
	for _, e := range es {
		if e.Index <= applied {
			continue
		}
		var res []byte
		switch e.Type {
		case engine.EntryNormal:
			res = n.sm.Apply(e.Index, e.Data)
		case engine.EntryConfig:
			if _, m, err := engine.UnmarshalConfig(e.Data); err == nil {
				q.membership = m
				if !n.replaying {
					n.forgetRemoved(m)
				}
			}
		}
		applied, q.appliedTerm = e.Index, e.Term
		n.w.appliedEntry(e.Term, e.Index, res, committed, start)
	}
	n.metrics.applyTime.observe(time.Since(start).Seconds())
	n.metrics.entriesApplied.Add(uint64(len(es)))
	if a, ok := n.sm.(AppliedObserver); ok {
		a.AppliedThrough(applied)
	}
	n.w.setApplied(applied)
}

func (n *Node) applyRestore(meta engine.SnapshotMeta) {
	if err := n.restoreSnapshot(meta); err != nil {
		n.setFatal(err)
		return
	}
	n.forgetRemoved(meta.Membership)
	n.applyQ.appliedTerm = meta.Term
	n.applyQ.membership = meta.Membership.Clone()
	n.w.restoredTo(meta.Index)
	n.w.setApplied(meta.Index)
	n.metrics.snapshotsRestored.Add(1)
}

// startSnapshot captures the state machine (cheap, on the apply goroutine)
// and writes it out on a goroutine of its own.
func (n *Node) startSnapshot() {
	meta := engine.SnapshotMeta{Index: n.Applied(), Term: n.applyQ.appliedTerm, Membership: n.applyQ.membership.Clone()}
	if meta.Index == 0 {
		n.reportSnapshot(snapDone{meta: meta, err: errors.New("nothing applied yet")})
		return
	}
	image, err := n.sm.Snapshot()
	if err != nil {
		n.reportSnapshot(snapDone{meta: meta, err: err})
		return
	}
	book := n.addrs.all()
	n.wg.Add(1)
	// The snapshot writer: owned by the Node, at most one at a time (the
	// driver asks for the next only after snapDone); it ends when the
	// snapshot is written or fails.
	go func() {
		defer n.wg.Done()
		start := time.Now()
		meta, storage, err := n.writeSnapshot(meta, book, image)
		n.metrics.snapshotTime.observe(time.Since(start).Seconds())
		n.reportSnapshot(snapDone{meta: meta, err: err, storage: storage})
	}()
}

// reportSnapshot hands a snapshot's outcome to the driver.
func (n *Node) reportSnapshot(sd snapDone) {
	select {
	case n.snapDone <- sd:
	case <-n.stop:
	}
}

// writeSnapshot writes the snapshot image out. storage reports that err
// is the disk's (creating, writing or committing the snapshot files
// failed), not the state machine's.
func (n *Node) writeSnapshot(meta engine.SnapshotMeta, book map[engine.NodeID]string, image io.WriterTo) (_ engine.SnapshotMeta, storage bool, err error) {
	w, err := n.snaps.Create(meta)
	if err != nil {
		return meta, true, err
	}
	// On Close the snapshot finishes at the disk's speed: Close does not
	// wait out the bandwidth cap, and the next Open restores the snapshot
	// rather than replaying the log it covers; unless that takes more
	// than closeSnapshotBudget, after which it is abandoned.
	w.UncapOn(n.stop)
	sw := &storageWriter{w: w}
	bw := bufio.NewWriterSize(&closeBound{w: sw, stop: n.stop}, 256<<10)
	err = writeSnapshotStream(bw, book, image)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		w.Abort()
		if sw.err != nil {
			return meta, true, sw.err
		}
		if errors.Is(err, errCloseBudget) {
			n.cfg.Logger.Warn("snapshot abandoned: Close does not wait longer for it; the next start replays the log it covers",
				"node", n.cfg.ID, "index", meta.Index, "budget", closeSnapshotBudget)
		}
		return meta, false, err
	}
	meta, err = w.Commit()
	return meta, err != nil, err
}

// closeSnapshotBudget is how long Close lets a snapshot in progress go on
// (at the disk's speed) before abandoning it: a snapshot of a large state
// must not hold a process that is being stopped for minutes. A variable for
// tests.
var closeSnapshotBudget = 10 * time.Second

// errCloseBudget abandons a snapshot that Close waited closeSnapshotBudget
// for.
var errCloseBudget = errors.New("node: closing: snapshot abandoned after the close budget")

// closeBound passes writes to w until closeSnapshotBudget after stop
// closes, then fails them with errCloseBudget.
type closeBound struct {
	w        io.Writer
	stop     <-chan struct{}
	deadline time.Time // set at the first write after stop closed
}

func (c *closeBound) Write(p []byte) (int, error) {
	select {
	case <-c.stop:
		now := time.Now()
		if c.deadline.IsZero() {
			c.deadline = now.Add(closeSnapshotBudget)
		}
		if !now.Before(c.deadline) {
			return 0, errCloseBudget
		}
	default:
	}
	return c.w.Write(p)
}

// storageWriter remembers the first error of the writer it wraps, so that
// a failed snapshot can be blamed on the disk or the state machine.
type storageWriter struct {
	w   io.Writer
	err error
}

func (s *storageWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if err != nil && s.err == nil {
		s.err = err
	}
	return n, err
}

// The runtime's snapshot stream: a version byte, the address book as a
// length-prefixed JSON object, then the state machine's own bytes.
const snapshotStreamVersion = 1

// maxAddrBookBytes bounds the address book in a snapshot.
const maxAddrBookBytes = 1 << 20

func writeSnapshotStream(w io.Writer, book map[engine.NodeID]string, image io.WriterTo) error {
	hdr, err := json.Marshal(book)
	if err != nil {
		return err
	}
	b := binary.AppendUvarint([]byte{snapshotStreamVersion}, uint64(len(hdr)))
	if _, err := w.Write(append(b, hdr...)); err != nil {
		return err
	}
	_, err = image.WriteTo(w)
	return err
}

func readSnapshotStream(r io.Reader, sm StateMachine) (map[engine.NodeID]string, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	v, err := br.ReadByte()
	if err != nil {
		return nil, fmt.Errorf("%w: snapshot header: %w", ErrCorrupt, err)
	}
	if v != snapshotStreamVersion {
		return nil, fmt.Errorf("%w: snapshot stream version %d", ErrCorrupt, v)
	}
	size, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, fmt.Errorf("%w: snapshot address book length: %w", ErrCorrupt, err)
	}
	if size > maxAddrBookBytes {
		return nil, fmt.Errorf("%w: snapshot address book length %d", ErrCorrupt, size)
	}
	hdr := make([]byte, size)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return nil, fmt.Errorf("%w: snapshot address book: %w", ErrCorrupt, err)
	}
	var book map[engine.NodeID]string
	if err := json.Unmarshal(hdr, &book); err != nil {
		return nil, fmt.Errorf("%w: snapshot address book: %v", ErrCorrupt, err)
	}
	if err := sm.Restore(br); err != nil {
		return nil, err
	}
	return book, nil
}
