package netquic

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/yggrdb/yggr/engine"
)

// peerConn is one authenticated connection to a peer.
type peerConn struct {
	p         *peer
	c         *quic.Conn
	ver       byte // wire version, negotiated in the handshake
	badFrames atomic.Int32
}

// connVersion returns the wire version of c: the frame version of the
// protocol its handshake negotiated, 0 if that is not one of ours.
func connVersion(c *quic.Conn) byte {
	return versionOf(c.ConnectionState().TLS.NegotiatedProtocol)
}

// startConn adopts a freshly established connection (out: dialed by this
// node) and starts serving the streams the peer opens on it.
func (t *Transport) startConn(p *peer, c *quic.Conn, out bool) {
	ver := connVersion(c)
	if ver == 0 {
		// QUIC requires ALPN, so this is a handshake our protocols did
		// not make; nothing could be sent on it.
		c.CloseWithError(codeShutdown, "no wire version")
		return
	}
	if !t.trackConn(c) {
		c.CloseWithError(codeShutdown, "shutdown")
		return
	}
	// A connection that loses to a duplicate is still read until it
	// closes: the peer may have written on it already.
	p.adopt(c, out)
	pc := &peerConn{p: p, c: c, ver: ver}
	// Owned by the connection; ends when it closes (peer gone, duplicate,
	// RemovePeer, Close).
	t.spawn(func() { t.acceptUni(pc) })
	// Same owner and end.
	t.spawn(func() { t.acceptBidi(pc) })
}

// bad counts a bad frame; a peer that keeps sending them is disconnected.
func (t *Transport) bad(pc *peerConn, err error) {
	pc.p.badFrames.Add(1)
	if pc.badFrames.Add(1) == maxBadFrames {
		t.log.Warn("netquic: disconnecting peer that sends bad frames", "peer", string(pc.p.id), "err", err)
		pc.c.CloseWithError(codeBadFrames, "too many bad frames")
		return
	}
	t.log.Debug("netquic: bad frame", "peer", string(pc.p.id), "err", err)
}

func (t *Transport) acceptUni(pc *peerConn) {
	defer t.untrackConn(pc.c)
	for {
		s, err := pc.c.AcceptUniStream(t.ctx)
		if err != nil {
			return
		}
		// Owned by the connection; ends when the stream or connection
		// ends, or when Close stops a blocked delivery.
		t.spawn(func() { t.readMessages(pc, s) })
	}
}

// readMessages delivers the Raft messages of one stream to Inbound.
func (t *Transport) readMessages(pc *peerConn, s *quic.ReceiveStream) {
	defer s.CancelRead(codeStreamDone)
	r := newFrameReader(s)
	p := pc.p
	for {
		k, body, err := readFrame(r, pc.ver, t.cfg.MaxFrameBytes)
		if err != nil {
			if errors.Is(err, ErrBadFrame) {
				t.bad(pc, err)
				if errors.Is(err, errFrameHeader) {
					return // cannot resynchronize: abandon the stream
				}
				continue
			}
			return // stream or connection ended
		}
		m, err := decodeMessageBody(pc.ver, k, body)
		if err != nil {
			t.bad(pc, err)
			continue
		}
		p.msgsRecv.Add(1)
		p.bytesRecv.Add(uint64(len(body) + 3))
		if m.From != p.id {
			p.mismatchedFrom.Add(1)
			t.log.Warn("netquic: dropped message with forged sender", "peer", string(p.id), "from", string(m.From))
			continue
		}
		if m.To != t.id {
			p.misaddressed.Add(1)
			continue
		}
		p.heard()
		select {
		case t.inbound <- m:
		case <-t.ctx.Done():
			return
		}
	}
}

func (t *Transport) acceptBidi(pc *peerConn) {
	for {
		s, err := pc.c.AcceptStream(t.ctx)
		if err != nil {
			return
		}
		// Owned by the connection; ends when the handler returns and the
		// response is written, or the stream is reset.
		t.spawn(func() { t.serveCall(pc, s) })
	}
}

// callReadTimeout bounds how long a peer may take to send a request.
const callReadTimeout = 30 * time.Second

func (t *Transport) serveCall(pc *peerConn, s *quic.Stream) {
	defer s.CancelRead(codeStreamDone)
	s.SetReadDeadline(time.Now().Add(callReadTimeout))
	k, body, err := readFrame(bufio.NewReaderSize(s, callReaderBytes), pc.ver, t.cfg.MaxFrameBytes)
	if err != nil || k != kindCallRequest {
		if err == nil || errors.Is(err, ErrBadFrame) {
			t.bad(pc, fmt.Errorf("call request: kind %s, %v", k, err))
		}
		s.CancelWrite(codeBadStream)
		return
	}
	d := decoderPool.Get().(*bodyDecoder)
	req, err := d.decodeCallRequest(body)
	d.reset(nil)
	decoderPool.Put(d)
	if err != nil {
		t.bad(pc, err)
		s.CancelWrite(codeBadStream)
		return
	}
	status, payload := uint64(callNoHandler), []byte(nil)
	if h := t.handler.Load(); h != nil && *h != nil {
		// The handler's context ends when the caller resets the stream,
		// the connection closes, or the transport closes.
		ctx, cancel := context.WithCancel(t.ctx)
		stop := context.AfterFunc(s.Context(), cancel)
		resp, herr := (*h)(ctx, pc.p.id, req)
		stop()
		cancel()
		status, payload = callAnswer(resp, herr)
	}
	frame, err := appendCallResponse(nil, pc.ver, status, payload, t.cfg.MaxFrameBytes)
	if err != nil {
		frame, _ = appendCallResponse(nil, pc.ver, callErr, []byte(err.Error()), t.cfg.MaxFrameBytes)
	}
	if _, err := s.Write(frame); err != nil {
		s.CancelWrite(codeCanceled)
		return
	}
	s.Close()
}

// Call sends req to the peer on its own stream and waits for the
// response of the peer's call handler, or for ctx. The error wraps ErrRemote when the peer's
// handler failed, ErrNoHandler when it has none, ErrUnknownPeer, ErrClosed,
// or ctx's error.
func (t *Transport) Call(ctx context.Context, to engine.NodeID, req []byte) ([]byte, error) {
	p := t.peer(to)
	if p == nil {
		if t.ctx.Err() != nil {
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("%w: %s", ErrUnknownPeer, to)
	}
	// Refuse an oversized request before connecting; the frame is
	// re-encoded below if the connection speaks another version.
	frame, err := appendCallRequest(nil, Version, req, t.cfg.MaxFrameBytes)
	if err != nil {
		return nil, err
	}
	// The call must end with the caller's ctx or with the peer (removal,
	// Close), whichever comes first.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopPeer := context.AfterFunc(p.ctx, cancel)
	defer stopPeer()
	wrap := func(err error) error {
		if t.ctx.Err() != nil {
			return ErrClosed
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return fmt.Errorf("netquic: call %s: %w", to, err)
	}
	c, err := p.connect(ctx)
	if err != nil {
		return nil, wrap(err)
	}
	ver := connVersion(c)
	if ver != Version {
		if frame, err = appendCallRequest(nil, ver, req, t.cfg.MaxFrameBytes); err != nil {
			return nil, err
		}
	}
	s, err := c.OpenStreamSync(ctx)
	if err != nil {
		return nil, wrap(err)
	}
	s.SetPriority(1, true)
	stop := context.AfterFunc(ctx, func() {
		s.CancelRead(codeCanceled)
		s.CancelWrite(codeCanceled)
	})
	defer stop()
	if _, err := s.Write(frame); err != nil {
		return nil, wrap(err)
	}
	s.Close()
	k, body, err := readFrame(bufio.NewReaderSize(s, callReaderBytes), ver, t.cfg.MaxFrameBytes)
	if err != nil {
		return nil, wrap(err)
	}
	s.CancelRead(codeStreamDone)
	if k != kindCallResponse {
		return nil, wrap(badf("call response has kind %s", k))
	}
	d := decoderPool.Get().(*bodyDecoder)
	status, payload, err := d.decodeCallResponse(body)
	d.reset(nil)
	decoderPool.Put(d)
	if err != nil {
		return nil, wrap(err)
	}
	p.heard()
	p.msgsSent.Add(1)
	p.bytesSent.Add(uint64(len(frame)))
	p.msgsRecv.Add(1)
	p.bytesRecv.Add(uint64(len(body) + 3))
	return callResult(to, status, payload)
}
