package netquic

import (
	"sync"

	"github.com/quic-go/quic-go"

	"github.com/yggrdb/yggr/engine"
)

// A small Raft message usually leaves from the goroutine that sends it,
// straight onto the peer's stream, instead of waking the peer's send loop
// to write it: on two cores under load each goroutine hand-off is a wait
// in a run queue, and a heartbeat, its answer, an acknowledgement or a
// MsgApp of a few entries made two of them per hop (the send loop, then
// QUIC's connection goroutine). The send loop still writes whatever is
// queued, and everything when a direct write cannot go at once.
//
// A direct write never blocks its caller (the driver, the storage
// goroutine): it takes the writer's lock only if free, goes only when
// nothing is queued (so messages keep the order they were sent in; the
// send loop holds the lock from taking a batch off the queue until its
// write returns), and uses quic-go's TryWriteAll, which queues the whole
// frame or nothing: when the stream has no flow-control credit, or there
// is no stream yet, the message is queued as before.

// directMaxBytes bounds the messages a direct write takes (messageBytes'
// estimate): encoding and copying a large MsgApp is the send loop's work,
// not the driver's.
const directMaxBytes = 8 << 10

// directWriter is a peer's Raft stream as the send loop last opened it.
type directWriter struct {
	mu     sync.Mutex       // held by the Raft send loop while it writes
	stream *quic.SendStream // nil when the send loop has none
	conn   *quic.Conn       // the stream's connection
	ver    byte             // its wire version
	enc    *bodyEncoder
	buf    []byte
}

// trySend writes m onto the peer's Raft stream if it can at once, and
// reports whether it did.
func (p *peer) trySend(m *engine.Message) bool {
	d := &p.direct
	if messageBytes(m) > directMaxBytes || !d.mu.TryLock() {
		return false
	}
	defer d.mu.Unlock()
	if d.stream == nil || d.conn != p.current.Load() || p.raftQ.len() > 0 {
		// No stream, or one on a connection since replaced (a retired
		// duplicate gets nothing new): the send loop connects the
		// stream to the current one when it takes the message.
		return false
	}
	if d.enc == nil {
		d.enc = newBodyEncoder()
	}
	buf, err := d.enc.appendMessage(d.buf[:0], d.ver, m, p.t.cfg.MaxFrameBytes)
	if err != nil {
		return false // the send loop reports it
	}
	d.buf = buf
	if err := d.stream.TryWriteAll(buf); err != nil {
		// No credit (ErrWouldBlock) or a broken stream: the send loop
		// writes it, or finds the stream broken and connects again.
		return false
	}
	p.msgsSent.Add(1)
	p.directSent.Add(1)
	p.bytesSent.Add(uint64(len(buf)))
	return true
}
