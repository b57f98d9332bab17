package netquic

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/yggrdb/yggr/engine"
)

// peer is the transport's state for one remote node: its address, its
// current connection, its send queues and counters.
type peer struct {
	t      *Transport
	id     engine.NodeID
	ctx    context.Context // canceled when the peer is removed or the transport closes
	cancel context.CancelFunc
	raftQ  *sendQueue // everything but MsgSnap
	snapQ  *sendQueue // MsgSnap chunks, on their own stream

	mu      sync.Mutex
	addr    string     // "" until known (a peer that only dialed us)
	conn    *quic.Conn // current connection; nil or dead if none
	connAt  time.Time  // when conn was adopted
	connOut bool       // conn was dialed by this node
	dialing bool       // a goroutine is dialing
	backoff time.Duration
	// changed is closed and replaced whenever conn, addr or dialing
	// changes, waking every goroutine waiting in connect.
	changed   chan struct{}
	connected bool // a connection was ever adopted (for counting reconnects)

	msgsSent, bytesSent, msgsRecv, bytesRecv atomic.Uint64
	drops, reconnects, handshakeFailures     atomic.Uint64
	badFrames, mismatchedFrom, misaddressed  atomic.Uint64
}

func newPeer(t *Transport, id engine.NodeID) *peer {
	ctx, cancel := context.WithCancel(t.ctx)
	return &peer{
		t: t, id: id, ctx: ctx, cancel: cancel,
		raftQ:   newSendQueue(t.cfg.QueueLen, t.cfg.QueueBytes),
		snapQ:   newSendQueue(t.cfg.SnapQueueLen, int(^uint(0)>>1)),
		changed: make(chan struct{}),
	}
}

func (p *peer) broadcastLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *peer) setAddr(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.addr != addr {
		p.addr = addr
		p.backoff = 0
		p.broadcastLocked()
	}
}

// close stops the peer's senders and closes its connection.
func (p *peer) close(code quic.ApplicationErrorCode) {
	p.cancel()
	p.mu.Lock()
	c := p.conn
	p.conn = nil
	p.mu.Unlock()
	if c != nil {
		c.CloseWithError(code, "peer closed")
	}
	p.drops.Add(uint64(p.raftQ.clear() + p.snapQ.clear()))
}

func alive(c *quic.Conn) bool { return c != nil && c.Context().Err() == nil }

// connect returns a live connection to the peer, dialing (with capped,
// jittered exponential backoff) if there is none. Only one goroutine dials
// at a time; the others wait for it. It fails only when ctx ends.
func (p *peer) connect(ctx context.Context) (*quic.Conn, error) {
	for {
		p.mu.Lock()
		if alive(p.conn) {
			c := p.conn
			p.mu.Unlock()
			return c, nil
		}
		changed := p.changed
		if !p.dialing && p.addr != "" {
			p.dialing = true
			addr, wait := p.addr, p.backoff
			p.mu.Unlock()
			c, err := p.dial(ctx, addr, wait)
			p.mu.Lock()
			p.dialing = false
			if err == nil {
				p.backoff = 0
			} else {
				p.backoff = min(max(2*p.backoff, backoffMin), backoffMax)
			}
			p.broadcastLocked()
			p.mu.Unlock()
			if err == nil {
				p.t.startConn(p, c, true)
			} else if ctx.Err() == nil && p.ctx.Err() == nil {
				p.t.log.Debug("netquic: dial failed", "peer", string(p.id), "addr", addr, "err", err)
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			continue
		}
		p.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-changed:
		}
	}
}

// dial waits wait (jittered) and then dials addr, checking that the peer's
// certificate names p.id.
func (p *peer) dial(ctx context.Context, addr string, wait time.Duration) (*quic.Conn, error) {
	if wait > 0 {
		wait = wait/2 + rand.N(wait/2+1) // jitter: [wait/2, wait]
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-timer.C:
		}
	}
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("netquic: resolve %s: %w", addr, err)
	}
	tc := p.t.tls.Clone()
	var refusedByUs atomic.Bool
	verify := p.t.verifyConn(p.id)
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		err := verify(cs)
		refusedByUs.Store(err != nil)
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	c, err := p.t.qt.Dial(dctx, ua, tc, p.t.qconf)
	if err != nil {
		var te *quic.TransportError
		if errors.As(err, &te) && te.ErrorCode.IsCryptoError() && !refusedByUs.Load() {
			// The peer refused our certificate (verifyConn counted the
			// cases where we refused theirs).
			p.handshakeFailures.Add(1)
			p.t.handshakeFailures.Add(1)
		}
		return nil, err
	}
	return c, nil
}

// adopt makes c the peer's current connection, or closes it, when another
// live connection exists: two connections adopted within duplicateWindow
// are a simultaneous dial, and both ends keep the one dialed by the lower
// ID; otherwise the newer wins, since the peer dialed because it had lost
// the old one (for example, it restarted).
func (p *peer) adopt(c *quic.Conn, out bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil {
		c.CloseWithError(codeRemoved, "peer removed")
		return false
	}
	now := time.Now()
	if old := p.conn; alive(old) && old != c {
		keepNew := true
		if now.Sub(p.connAt) < duplicateWindow && out != p.connOut {
			lowerDialedNew := (out && p.t.id < p.id) || (!out && p.id < p.t.id)
			keepNew = lowerDialedNew
		}
		if !keepNew {
			c.CloseWithError(codeDuplicate, "duplicate connection")
			return false
		}
		old.CloseWithError(codeDuplicate, "duplicate connection")
	}
	if p.connected {
		p.reconnects.Add(1)
	}
	p.connected = true
	p.conn, p.connAt, p.connOut = c, now, out
	p.broadcastLocked()
	return true
}

// sendLoop drains one queue onto one long-lived unidirectional stream,
// reconnecting as needed. It runs on a goroutine owned by the peer and ends
// when p.ctx is canceled (RemovePeer or Close); a blocked write ends when
// the connection is closed.
func (p *peer) sendLoop(q *sendQueue, snap bool) {
	var (
		stream *quic.SendStream
		sconn  *quic.Conn
		batch  []engine.Message
		buf    []byte
	)
	defer func() {
		if stream != nil {
			stream.CancelWrite(codeStreamDone)
		}
	}()
	maxBatch := writeBatchBytes
	if snap {
		maxBatch = 1 // one chunk per write
	}
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-q.notify:
		}
		for q.len() > 0 {
			c, err := p.connect(p.ctx)
			if err != nil {
				return
			}
			if c != sconn || stream == nil {
				if stream != nil {
					stream.CancelWrite(codeStreamDone)
				}
				stream, sconn = nil, c
				s, err := c.OpenUniStream()
				if err != nil {
					continue // the connection died, or is out of streams: connect again
				}
				if snap {
					s.SetPriority(6, true)
				} else {
					s.SetPriority(0, false) // heartbeats first
				}
				stream = s
			}
			batch = q.popBatch(batch[:0], maxBatch)
			buf = buf[:0]
			sent := 0
			for i := range batch {
				var err error
				if buf, err = AppendMessage(buf, &batch[i], p.t.cfg.MaxFrameBytes); err != nil {
					p.drops.Add(1)
					p.t.log.Error("netquic: cannot encode message", "peer", string(p.id), "msg", batch[i].String(), "err", err)
					continue
				}
				sent++
			}
			clear(batch) // release message memory
			if sent == 0 {
				continue
			}
			if _, err := stream.Write(buf); err != nil {
				p.drops.Add(uint64(sent))
				stream.CancelWrite(codeStreamDone)
				stream = nil
				continue
			}
			p.msgsSent.Add(uint64(sent))
			p.bytesSent.Add(uint64(len(buf)))
			if cap(buf) > 4*writeBatchBytes {
				buf = nil // do not pin a big snapshot chunk's buffer
			}
		}
	}
}

func (p *peer) metrics() PeerMetrics {
	p.mu.Lock()
	connected := alive(p.conn)
	addr := p.addr
	p.mu.Unlock()
	return PeerMetrics{
		Addr:              addr,
		Connected:         connected,
		MessagesSent:      p.msgsSent.Load(),
		BytesSent:         p.bytesSent.Load(),
		MessagesReceived:  p.msgsRecv.Load(),
		BytesReceived:     p.bytesRecv.Load(),
		Drops:             p.drops.Load(),
		Reconnects:        p.reconnects.Load(),
		HandshakeFailures: p.handshakeFailures.Load(),
		BadFrames:         p.badFrames.Load(),
		MismatchedFrom:    p.mismatchedFrom.Load(),
		Misaddressed:      p.misaddressed.Load(),
		QueuedMessages:    p.raftQ.len() + p.snapQ.len(),
	}
}
