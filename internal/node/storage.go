package node

import (
	"runtime"
	"slices"
	"time"

	"github.com/yggrdb/yggr/engine"
	raftlog "github.com/yggrdb/yggr/log"
	"github.com/yggrdb/yggr/snapshot"
)

// storeOp is one durable step of a storage job; exactly one field is set.
type storeOp struct {
	// batches: log entries, truncations and hard states, in order: one
	// write, one sync however many.
	batches []raftlog.Batch
	chunk   *engine.WriteSnapshotChunk
	reset   *engine.RestoreSnapshot
}

// storeJob is the durable work of one driver iteration and what must wait
// for it: messages that may only leave once the writes are durable, and
// committed entries (kept in order with snapshot restores).
type storeJob struct {
	ops       []storeOp
	late      []engine.Message
	apply     []applyItem
	persisted *engine.Entry // reported to the driver as LogPersisted
	termVote  bool          // the job changes the term or the vote
}

// maxJobs bounds the storage jobs queued behind the disk. When the disk
// stalls the queue fills and the driver blocks: a leader with a stuck disk
// stops sending heartbeats (they wait in the queue), so the cluster elects
// another.
const maxJobs = 16

// storageState is owned by the storage goroutine.
type storageState struct {
	jobs []storeJob // scratch for runJobs
	// receiver is the snapshot being received from the leader.
	receiver     *snapshot.Receiver
	receiverMeta engine.SnapshotMeta
}

// storageLoop is the storage goroutine: owned by the Node, it ends when
// stop closes (jobs still queued are abandoned, as in a crash).
func (n *Node) storageLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.stop:
			return
		case j := <-n.jobs:
			// Group commit across iterations: take every job queued
			// behind this one and make them durable with one sync.
			jobs := append(n.st.jobs[:0], j)
		drain:
			for len(jobs) < maxJobs {
				select {
				case j := <-n.jobs:
					jobs = append(jobs, j)
				default:
					break drain
				}
			}
			// Let the goroutines this one's hand-offs made runnable
			// (the sender of a message just queued, the apply goroutine)
			// run before the write and fdatasync block this thread and
			// its P: a goroutine readied on a P that then blocks in a
			// system call waits until the scheduler takes the P back,
			// tens to hundreds of microseconds. Without it a leader's
			// MsgApp left 160-225 µs after it was queued instead of
			// 4-5 µs (p50, 3-node cluster, concurrency 1).
			runtime.Gosched()
			n.runJobs(jobs)
			clear(jobs)
			n.st.jobs = jobs
		}
	}
}

// runJobs makes a run of jobs durable, their consecutive log writes in one
// Store.Write (one record, one sync), then releases what each job holds, in
// order.
func (n *Node) runJobs(jobs []storeJob) {
	var ops []storeOp
	for _, j := range jobs {
		for _, op := range j.ops {
			if op.batches != nil && len(ops) > 0 && ops[len(ops)-1].batches != nil {
				ops[len(ops)-1].batches = append(ops[len(ops)-1].batches, op.batches...)
				continue
			}
			ops = append(ops, op)
		}
	}
	n.runOps(ops)
	dropSupersededAcks(jobs)
	for _, j := range jobs {
		n.release(j)
	}
}

// dropSupersededAcks keeps, of the successful MsgAppResps that a run of
// jobs holds for one leader in one term, only the one with the highest
// index (the last of them if several have it), and drops the others.
// Acknowledgements are cumulative: the leader's progress, its commit and
// its flow-control window all move to the highest index acknowledged, and
// it ignores one below what it has; dropping the lower ones is what a lossy
// network may do. A follower used to answer each MsgApp of a group commit
// (about 15 at concurrency 64) after the one sync they shared.
// Rejections and other messages are kept.
func dropSupersededAcks(jobs []storeJob) {
	type best struct {
		to    engine.NodeID
		term  uint64
		index uint64
		pos   int // position of the ack kept, counted over all held messages
	}
	var bests []best // one per leader and term: almost always one
	acks, pos := 0, 0
	for _, j := range jobs {
		for _, m := range j.late {
			if isAck(m) {
				acks++
				i := slices.IndexFunc(bests, func(b best) bool { return b.to == m.To && b.term == m.Term })
				switch {
				case i < 0:
					bests = append(bests, best{m.To, m.Term, m.Index, pos})
				case m.Index >= bests[i].index:
					bests[i].index, bests[i].pos = m.Index, pos
				}
			}
			pos++
		}
	}
	if acks == len(bests) {
		return
	}
	pos = 0
	for k := range jobs {
		kept := jobs[k].late[:0]
		for _, m := range jobs[k].late {
			keep := true
			if isAck(m) {
				i := slices.IndexFunc(bests, func(b best) bool { return b.to == m.To && b.term == m.Term })
				keep = bests[i].pos == pos
			}
			if keep {
				kept = append(kept, m)
			}
			pos++
		}
		clear(jobs[k].late[len(kept):])
		jobs[k].late = kept
	}
}

// isAck reports whether m is a successful append acknowledgement.
func isAck(m engine.Message) bool { return m.Type == engine.MsgAppResp && !m.Reject }

// runOps performs durable operations in order; a failure is fatal.
func (n *Node) runOps(ops []storeOp) {
	for _, op := range ops {
		if n.failed() {
			return
		}
		switch {
		case op.batches != nil:
			start := time.Now()
			n.writeStarted.Store(start.UnixNano())
			err := n.logs.Write(op.batches...)
			n.writeStarted.Store(0)
			if err != nil {
				n.setFatal(err)
				return
			}
			n.metrics.fsync.observe(time.Since(start).Seconds())
		case op.chunk != nil:
			n.writeSnapshotChunk(*op.chunk)
		case op.reset != nil:
			if err := n.logs.ResetTo(op.reset.Meta, op.reset.KeepLog); err != nil {
				n.setFatal(err)
				return
			}
		}
	}
}

// release hands a durable job's committed entries to the apply goroutine,
// reports its entries persisted and sends its held messages.
//
// The messages go last: each hand-off readies a goroutine on this P, and
// the one readied last runs first when this goroutine blocks, so a
// follower's acknowledgement (the end of a write's critical path) is
// encoded before the driver steps LogPersisted or the apply goroutine
// runs. Sent first, it reached its sender 8-10 µs after the sync, sent
// last 2-3 µs (p50, follower, 3-node cluster, concurrency 1).
func (n *Node) release(j storeJob) {
	if j.termVote {
		defer n.termVoteInFlight.Add(-1)
	}
	if n.failed() {
		return
	}
	for _, it := range j.apply {
		n.applyQ.push(it)
	}
	if len(j.apply) > 0 {
		n.applyInFlight.Add(-1)
	}
	if j.persisted != nil {
		select {
		case n.persisted <- *j.persisted:
		case <-n.stop:
		}
	}
	n.sendAll(j.late)
}

// writeSnapshotChunk stores a chunk received from the leader. The bytes
// are durable only at the receiver's next sync (the engine does not need
// them to be before it acknowledges them), and the whole snapshot before
// it is published. The same (index, term) always names the same bytes, so
// after a restart the engine may resend from offset 0 while the receiver
// resumes further on, from its last sync: the overlap is skipped.
func (n *Node) writeSnapshotChunk(a engine.WriteSnapshotChunk) {
	st := &n.st
	r := st.receiver
	if r == nil || st.receiverMeta.Index != a.Meta.Index || st.receiverMeta.Term != a.Meta.Term {
		// Receive discards the partial receive of another snapshot
		// without syncing it first (Close would).
		var err error
		if r, err = n.snaps.Receive(a.Meta); err != nil {
			n.setFatal(err)
			return
		}
		st.receiver, st.receiverMeta = r, a.Meta
	}
	data, off := a.Data, a.Offset
	if have := r.Offset(); off < have {
		skip := min(have-off, uint64(len(data)))
		data, off = data[skip:], off+skip
	}
	if len(data) == 0 && !a.Done {
		return
	}
	if err := r.WriteAt(off, data, a.Done); err != nil {
		n.setFatal(err)
		return
	}
	if a.Done {
		r.Close()
		st.receiver = nil
	}
}
