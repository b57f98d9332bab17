package netquic

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
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
	// retiring holds the timers that close losing duplicate connections;
	// close fires them early.
	retiring []retiring

	backingOff atomic.Bool // backoff > 0; read without mu on the receive path

	// direct is the Raft stream Send may write small messages onto from
	// its caller's goroutine (direct.go); current is conn, readable
	// without mu, so that a direct write never goes to a connection
	// another replaced.
	direct  directWriter
	current atomic.Pointer[quic.Conn]

	msgsSent, bytesSent, msgsRecv, bytesRecv atomic.Uint64
	directSent                               atomic.Uint64 // of msgsSent, written by Send itself
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

// heard notes a valid message from the peer: the link works, so the next
// dial need not wait.
func (p *peer) heard() {
	if p.backingOff.Load() {
		p.mu.Lock()
		p.backoff = 0
		p.backingOff.Store(false)
		p.mu.Unlock()
	}
}

// close stops the peer's senders and closes its connection.
func (p *peer) close(code quic.ApplicationErrorCode) {
	p.cancel()
	p.mu.Lock()
	c := p.conn
	p.conn = nil
	p.current.Store(nil)
	for _, r := range p.retiring {
		if r.timer.Stop() {
			r.conn.CloseWithError(code, "peer closed")
		}
	}
	p.retiring = nil
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
			c, err := p.dial(ctx, addr, wait, changed)
			p.mu.Lock()
			p.dialing = false
			// A successful dial does not reset the backoff: a peer that
			// completes handshakes and then drops us must not be redialed
			// in a tight loop. Traffic from the peer resets it (heard).
			if errors.Is(err, errWaitEnded) {
				p.broadcastLocked()
				p.mu.Unlock()
				continue // the peer connected to us meanwhile, or its address changed
			}
			if err != nil && ctx.Err() == nil {
				p.backoff = min(max(2*p.backoff, backoffMin), backoffMax)
				p.backingOff.Store(true)
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

// errWaitEnded ends a dial's backoff early: the peer changed (it connected
// to us, or its address changed).
var errWaitEnded = errors.New("netquic: backoff ended by a peer change")

// dial waits wait (jittered) and then dials addr, checking that the peer's
// certificate names p.id. The wait and the handshake end early with
// errWaitEnded when changed closes: a peer that restarts connects to us at
// once (eagerly), and what we queued for it then goes on that connection
// instead of waiting out a backoff of up to backoffMax.
func (p *peer) dial(ctx context.Context, addr string, wait time.Duration, changed <-chan struct{}) (*quic.Conn, error) {
	if wait > 0 {
		wait = wait/2 + rand.N(wait/2+1) // jitter: [wait/2, wait]
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-changed:
			timer.Stop()
			return nil, errWaitEnded
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
	// A change during the handshake ends it too: a dial to a peer that was
	// down waits out handshakeTimeout, and the peer's own connection (or
	// its new address) makes it moot.
	var ended atomic.Bool
	dialed := make(chan struct{})
	defer close(dialed)
	go func() {
		select {
		case <-changed:
			ended.Store(true)
			cancel()
		case <-dialed:
		}
	}()
	c, err := p.t.qt.Dial(dctx, ua, tc, p.t.qconf)
	if err != nil && ended.Load() && ctx.Err() == nil {
		return nil, errWaitEnded
	}
	if err != nil {
		var te *quic.TransportError
		if errors.As(err, &te) && te.ErrorCode.IsCryptoError() && !refusedByUs.Load() {
			// The peer refused our certificate or our protocol
			// (verifyConn counted the cases where we refused theirs).
			p.handshakeFailures.Add(1)
			p.t.handshakeFailures.Add(1)
			if te.ErrorCode == quic.TransportErrorCode(0x100+tlsAlertNoApplicationProtocol) {
				err = fmt.Errorf("%w (peer %s at %s): %w", ErrWireVersion, p.id, addr, err)
				p.t.log.Warn("netquic: refused by peer", "peer", string(p.id), "addr", addr, "err", err)
			}
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
		p.t.log.Debug("netquic: duplicate connection", "peer", string(p.id), "out", out, "keepNew", keepNew)
		if !keepNew {
			p.retireLocked(c)
			return false
		}
		p.retireLocked(old)
	}
	p.t.log.Debug("netquic: connected", "peer", string(p.id), "out", out, "remote", c.RemoteAddr().String())
	if p.connected {
		p.reconnects.Add(1)
	}
	p.connected = true
	p.conn, p.connAt, p.connOut = c, now, out
	p.current.Store(c)
	p.broadcastLocked()
	return true
}

type retiring struct {
	at    time.Time // when timer fires
	timer *time.Timer
	conn  *quic.Conn
}

// retireLocked closes a losing duplicate connection after duplicateGrace,
// so that what the peer already wrote on it is still read; nothing new is
// sent on it.
func (p *peer) retireLocked(c *quic.Conn) {
	now := time.Now()
	p.retiring = slices.DeleteFunc(p.retiring, func(r retiring) bool { return now.After(r.at) })
	p.retiring = append(p.retiring, retiring{now.Add(duplicateGrace), time.AfterFunc(duplicateGrace, func() {
		c.CloseWithError(codeDuplicate, "duplicate connection")
	}), c})
}

// sendLoop drains one queue onto one long-lived unidirectional stream,
// reconnecting as needed. It runs on a goroutine owned by the peer and ends
// when p.ctx is canceled (RemovePeer or Close); a blocked write ends when
// the connection is closed. The Raft queue's loop shares its stream with
// Send's direct writes (direct.go).
func (p *peer) sendLoop(q *sendQueue, snap bool) {
	var (
		stream *quic.SendStream
		sconn  *quic.Conn
		batch  []engine.Message
		buf    []byte
		enc    = newBodyEncoder()
		ver    byte // sconn's wire version
	)
	// lock and unlock guard the stream against direct writes: the Raft
	// loop holds the lock from taking a batch until its write returns.
	lock, unlock := func() {}, func() {}
	if !snap {
		lock, unlock = p.direct.mu.Lock, p.direct.mu.Unlock
	}
	setStream := func(s *quic.SendStream) {
		if stream != nil {
			stream.CancelWrite(codeStreamDone)
		}
		stream = s
		if !snap {
			p.direct.mu.Lock()
			p.direct.stream, p.direct.conn, p.direct.ver = s, sconn, ver
			p.direct.mu.Unlock()
		}
	}
	defer setStream(nil)
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
				setStream(nil)
				sconn, ver = c, connVersion(c)
				octx, cancel := context.WithTimeout(p.ctx, handshakeTimeout)
				s, err := c.OpenUniStreamSync(octx)
				cancel()
				if err != nil {
					if p.ctx.Err() != nil {
						return
					}
					// The connection died, or the peer grants no stream:
					// give up on it and connect again.
					c.CloseWithError(codeShutdown, "cannot open stream")
					continue
				}
				if snap {
					s.SetPriority(6, true)
				} else {
					s.SetPriority(0, false) // heartbeats first
				}
				setStream(s)
			}
			lock()
			batch = q.popBatch(batch[:0], maxBatch)
			buf = buf[:0]
			sent := 0
			for i := range batch {
				var err error
				if buf, err = enc.appendMessage(buf, ver, &batch[i], p.t.cfg.MaxFrameBytes); err != nil {
					p.drops.Add(1)
					p.t.log.Error("netquic: cannot encode message", "peer", string(p.id), "msg", batch[i].String(), "err", err)
					continue
				}
				sent++
			}
			clear(batch) // release message memory
			var werr error
			if sent > 0 {
				_, werr = stream.Write(buf)
			}
			unlock()
			if sent == 0 {
				continue
			}
			if werr != nil {
				p.drops.Add(uint64(sent))
				setStream(nil)
				continue
			}
			p.msgsSent.Add(uint64(sent))
			p.bytesSent.Add(uint64(len(buf)))
			if !snap && cap(buf) > 4*writeBatchBytes {
				buf = nil // do not pin a big snapshot chunk's buffer
			}
		}
	}
}

func (p *peer) metrics() PeerMetrics {
	p.mu.Lock()
	connected := alive(p.conn)
	ver := 0
	if connected {
		ver = int(connVersion(p.conn))
	}
	addr := p.addr
	p.mu.Unlock()
	return PeerMetrics{
		Addr:              addr,
		Connected:         connected,
		WireVersion:       ver,
		MessagesSent:      p.msgsSent.Load(),
		BytesSent:         p.bytesSent.Load(),
		DirectSent:        p.directSent.Load(),
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
