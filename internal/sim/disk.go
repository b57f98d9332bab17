package sim

import (
	"fmt"
	"slices"

	"github.com/yggrdb/yggr/engine"
)

// diskState is the content of one simulated node's storage: hard state, the
// log after its floor, the published snapshot and an incoming snapshot.
type diskState struct {
	hs engine.HardState
	// floorIndex/floorTerm is the entry just before entries[0]; entries[i]
	// has Index floorIndex+1+i.
	floorIndex, floorTerm uint64
	entries               []engine.Entry
	// wseq[i] is the number of the write that put entries[i] in the log;
	// floorSeq that of the write that set the floor.
	wseq     []uint64
	floorSeq uint64

	snap     engine.SnapshotMeta
	snapData []byte

	inActive bool
	inMeta   engine.SnapshotMeta
	inData   []byte
}

func (d *diskState) lastIndex() uint64 { return d.floorIndex + uint64(len(d.entries)) }

// term returns the term of the entry at i, if the log knows it.
func (d *diskState) term(i uint64) (uint64, bool) {
	if i == d.floorIndex {
		return d.floorTerm, true
	}
	if i < d.floorIndex || i > d.lastIndex() {
		return 0, false
	}
	return d.entries[i-d.floorIndex-1].Term, true
}

// writtenBy returns the number of the write that put the entry at i in the
// log (or set the floor at or above i).
func (d *diskState) writtenBy(i uint64) (uint64, bool) {
	if i <= d.floorIndex {
		return d.floorSeq, true
	}
	if i > d.lastIndex() {
		return 0, false
	}
	return d.wseq[i-d.floorIndex-1], true
}

func (d *diskState) entry(i uint64) (engine.Entry, bool) {
	if i <= d.floorIndex || i > d.lastIndex() {
		return engine.Entry{}, false
	}
	return d.entries[i-d.floorIndex-1], true
}

func (d *diskState) clone() diskState {
	c := *d
	c.entries = slices.Clone(d.entries)
	c.wseq = slices.Clone(d.wseq)
	c.inData = slices.Clone(d.inData)
	return c
}

type opKind uint8

const (
	opHardState opKind = iota
	opTruncate
	opAppend
	opChunk
	opRestore
	opCompact
)

// diskOp is one write the host issued; it is applied at once to the host's
// current view and, when the simulated fsync reaches it, to durable state.
type diskOp struct {
	kind    opKind
	seq     uint64 // 1 + the number of writes issued before it
	hs      engine.HardState
	index   uint64
	entries []engine.Entry
	chunk   engine.WriteSnapshotChunk
	restore engine.RestoreSnapshot
}

func (op diskOp) touchesLog() bool {
	return op.kind == opTruncate || op.kind == opAppend || op.kind == opRestore
}

// apply performs op on d. An error means the engine asked for something the
// action contract does not allow.
func (d *diskState) apply(op *diskOp) error {
	switch op.kind {
	case opHardState:
		d.hs = op.hs
	case opTruncate:
		if op.index <= d.floorIndex {
			return fmt.Errorf("TruncateLog %d at or below the log floor %d/%d", op.index, d.floorTerm, d.floorIndex)
		}
		if op.index <= d.lastIndex() {
			d.entries = d.entries[:op.index-d.floorIndex-1]
			d.wseq = d.wseq[:op.index-d.floorIndex-1]
		}
	case opAppend:
		for _, e := range op.entries {
			if e.Index != d.lastIndex()+1 {
				return fmt.Errorf("PersistEntries %s does not follow the last entry %d (floor %d)", e, d.lastIndex(), d.floorIndex)
			}
			if pt, _ := d.term(e.Index - 1); e.Term < pt {
				return fmt.Errorf("PersistEntries %s has a lower term than the entry before it (%d)", e, pt)
			}
			d.entries = append(d.entries, e)
			d.wseq = append(d.wseq, op.seq)
		}
	case opCompact:
		if op.index <= d.floorIndex {
			return nil
		}
		if op.index > d.snap.Index {
			return fmt.Errorf("CompactLog %d beyond the snapshot %s", op.index, d.snap)
		}
		t, ok := d.term(op.index)
		if !ok {
			t = d.snap.Term
		}
		seq := d.floorSeq
		if i := op.index - d.floorIndex - 1; i < uint64(len(d.wseq)) {
			seq = d.wseq[i]
		}
		if op.index >= d.lastIndex() {
			d.entries, d.wseq = nil, nil
		} else {
			d.entries = slices.Clone(d.entries[op.index-d.floorIndex:])
			d.wseq = slices.Clone(d.wseq[op.index-d.floorIndex:])
		}
		d.floorIndex, d.floorTerm, d.floorSeq = op.index, t, seq
	case opChunk:
		c := op.chunk
		switch {
		case c.Offset == 0:
			d.inActive, d.inMeta, d.inData = true, c.Meta, nil
		case !d.inActive || d.inMeta.Index != c.Meta.Index || d.inMeta.Term != c.Meta.Term:
			return fmt.Errorf("WriteSnapshotChunk %s at offset %d without a chunk at offset 0", c.Meta, c.Offset)
		case c.Offset > uint64(len(d.inData)):
			return fmt.Errorf("WriteSnapshotChunk %s at offset %d leaves a gap after %d bytes", c.Meta, c.Offset, len(d.inData))
		default:
			d.inData = d.inData[:c.Offset]
		}
		d.inData = append(d.inData, c.Data...)
		if c.Done {
			img, err := decodeSnapshot(d.inData)
			if err != nil {
				return fmt.Errorf("WriteSnapshotChunk %s done: %v", c.Meta, err)
			}
			if img.index != c.Meta.Index || img.term != c.Meta.Term {
				return fmt.Errorf("WriteSnapshotChunk %s done but the bytes hold snapshot %d/%d", c.Meta, img.term, img.index)
			}
			d.snap, d.snapData = c.Meta, d.inData
			d.snap.Size = uint64(len(d.inData))
			d.inActive, d.inData = false, nil
		}
	case opRestore:
		m := op.restore.Meta
		if d.snap.Index != m.Index || d.snap.Term != m.Term {
			return fmt.Errorf("RestoreSnapshot %s but the published snapshot is %s", m, d.snap)
		}
		t, ok := d.term(m.Index)
		if op.restore.KeepLog && ok && t != m.Term && m.Index > d.floorIndex {
			return fmt.Errorf("RestoreSnapshot %s with KeepLog but the log has %d/%d", m, t, m.Index)
		}
		if op.restore.KeepLog && ok && m.Index < d.lastIndex() && m.Index >= d.floorIndex {
			d.entries = slices.Clone(d.entries[m.Index-d.floorIndex:])
			d.wseq = slices.Clone(d.wseq[m.Index-d.floorIndex:])
		} else {
			d.entries, d.wseq = nil, nil
		}
		d.floorIndex, d.floorTerm, d.floorSeq = m.Index, m.Term, op.seq
	}
	return nil
}

// alignToSnapshot makes the log start after the published snapshot when
// the snapshot is ahead of the log floor (a crash between publishing an
// installed snapshot and restoring from it): entries the snapshot covers
// are dropped, and so is a tail that does not extend the snapshot.
func (d *diskState) alignToSnapshot() {
	if d.snap.Index <= d.floorIndex {
		return
	}
	if t, ok := d.term(d.snap.Index); ok && t == d.snap.Term && d.snap.Index < d.lastIndex() {
		k := d.snap.Index - d.floorIndex
		d.entries, d.wseq = slices.Clone(d.entries[k:]), slices.Clone(d.wseq[k:])
	} else {
		d.entries, d.wseq = nil, nil
	}
	d.floorIndex, d.floorTerm = d.snap.Index, d.snap.Term
}

// disk is a simulated disk: writes land in cur at once and in dur only when
// the simulator runs an fsync over them; a crash keeps dur plus a random
// prefix of the pending writes.
type disk struct {
	cur, dur diskState
	pending  []diskOp
	// recent keeps the last few published snapshots readable for
	// SendSnapshot, as a snapshot store does while transfers are running.
	recent []storedSnap
	issued uint64 // writes issued so far
	synced uint64 // writes durable so far
}

func (k *disk) write(op diskOp) error {
	op.seq = k.issued + 1
	if err := k.cur.apply(&op); err != nil {
		return err
	}
	k.pending = append(k.pending, op)
	k.issued++
	return nil
}

// sync makes the first n pending writes durable and reports whether any of
// them changed the log.
func (k *disk) sync(n int) (logChanged bool) {
	n = min(n, len(k.pending))
	for i := range n {
		// The same sequence already succeeded on cur.
		_ = k.dur.apply(&k.pending[i])
		logChanged = logChanged || k.pending[i].touchesLog()
	}
	k.pending = slices.Delete(k.pending, 0, n)
	k.synced += uint64(n)
	return logChanged
}

// crash keeps the first n pending writes (a partial fsync) and loses the rest.
func (k *disk) crash(n int) {
	k.sync(n)
	k.pending = nil
	k.issued = k.synced
	k.cur = k.dur.clone()
}

type storedSnap struct {
	meta engine.SnapshotMeta
	data []byte
	used int // step of the last read; a snapshot being sent stays
}

// remember adds a snapshot to the store and drops the ones nobody read
// for a while (at most 8 are kept).
func (k *disk) remember(meta engine.SnapshotMeta, data []byte, step int) {
	keep := k.recent[:0]
	for _, s := range k.recent {
		if s.used+100 > step {
			keep = append(keep, s)
		}
	}
	k.recent = append(keep, storedSnap{meta, data, step})
	if len(k.recent) > 8 {
		k.recent = k.recent[1:]
	}
}

// readSnapshot returns the bytes of a retained snapshot.
func (k *disk) readSnapshot(index, term uint64, step int) ([]byte, bool) {
	for i := range k.recent {
		if s := &k.recent[i]; s.meta.Index == index && s.meta.Term == term {
			s.used = step
			return s.data, true
		}
	}
	if k.cur.snap.Index == index && k.cur.snap.Term == term {
		return k.cur.snapData, true
	}
	return nil, false
}

// publishSnapshot stores a snapshot the host took itself; the host writes it
// durably before it reports it, so it goes to both views.
func (k *disk) publishSnapshot(meta engine.SnapshotMeta, data []byte, step int) {
	k.remember(meta, data, step)
	for _, d := range []*diskState{&k.cur, &k.dur} {
		if meta.Index > d.snap.Index {
			d.snap, d.snapData = meta, data
		}
	}
}
