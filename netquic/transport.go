package netquic

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"

	"github.com/yggrdb/yggr/engine"
)

// CallHandler answers a forwarded request from peer from.
type CallHandler = func(ctx context.Context, from engine.NodeID, req []byte) ([]byte, error)

// Config configures a Transport.
type Config struct {
	ID         engine.NodeID            // this node; its certificate must name it
	ListenAddr string                   // UDP address to listen on, e.g. "127.0.0.1:0"; Addr reports the bound one
	Peers      map[engine.NodeID]string // initial peers and their addresses
	// TLS is the mutual TLS configuration built with TLSConfig. Nil
	// requires Insecure.
	TLS *tls.Config
	// Insecure runs with a throwaway self-signed certificate and does not
	// verify peers beyond their claimed node ID. Development only; Listen
	// logs a warning.
	Insecure bool
	// QueueLen bounds each peer's Raft send queue (default 1024 messages);
	// QueueBytes bounds its estimated size (default 64 MiB).
	QueueLen   int
	QueueBytes int
	// SnapQueueLen bounds each peer's MsgSnap queue (default 8 chunks).
	SnapQueueLen int
	// InboundLen is the capacity of the Inbound channel (default 4096).
	InboundLen int
	// MaxFrameBytes bounds a frame's body, sent or received (default 64
	// MiB). Snapshot chunks must fit.
	MaxFrameBytes int
	Logger        *slog.Logger

	// protocols replaces the package's protocols, for tests that play a
	// node of another release.
	protocols []string
}

// Errors of Transport.
var (
	ErrClosed      = errors.New("netquic: transport closed")
	ErrUnknownPeer = errors.New("netquic: unknown peer")
	ErrNoTLS       = errors.New("netquic: no TLS configuration (set TLS or Insecure)")
	ErrNoHandler   = errors.New("netquic: peer has no call handler")
	// ErrRemote is wrapped by the error Call returns when the peer's
	// handler failed; the text is the handler's error message.
	ErrRemote = errors.New("netquic: remote call failed")
)

// QUIC application error codes used when closing connections and streams.
const (
	codeShutdown   quic.ApplicationErrorCode = 0x0
	codeDuplicate  quic.ApplicationErrorCode = 0x1
	codeBadFrames  quic.ApplicationErrorCode = 0x2
	codeRemoved    quic.ApplicationErrorCode = 0x3
	codeStreamDone quic.StreamErrorCode      = 0x10
	codeBadStream  quic.StreamErrorCode      = 0x11
	codeCanceled   quic.StreamErrorCode      = 0x12
)

// Tunables. LAN defaults: a dead peer is noticed within MaxIdleTimeout.
const (
	handshakeTimeout = 3 * time.Second
	idleTimeout      = 6 * time.Second
	keepAlivePeriod  = 1 * time.Second
	backoffMin       = 50 * time.Millisecond
	backoffMax       = 2 * time.Second
	// duplicateWindow: two live connections to one peer established within
	// this window are a simultaneous dial (keep the one dialed by the lower
	// ID); otherwise the newer wins (the peer had lost the old one).
	duplicateWindow = 2 * time.Second
	// duplicateGrace is how long a losing duplicate connection stays open
	// for reading before it is closed.
	duplicateGrace = 3 * time.Second
	// maxBadFrames per connection before the peer is disconnected.
	maxBadFrames = 16
	// writeBatchBytes is the most a sender writes in one stream write.
	writeBatchBytes = 256 << 10
)

// Transport carries a node's messages to its peers over QUIC. Create it
// with Listen. All methods are safe for concurrent use.
type Transport struct {
	id        engine.NodeID
	log       *slog.Logger
	cfg       Config
	tls       *tls.Config    // server side; dials clone it per peer
	pool      *x509.CertPool // cluster CA; nil in insecure mode
	qconf     *quic.Config
	udp       net.PacketConn
	qt        *quic.Transport
	ln        *quic.Listener
	inbound   chan engine.Message
	handler   atomic.Pointer[CallHandler]
	ctx       context.Context // canceled by Close
	cancel    context.CancelFunc
	wg        sync.WaitGroup // every goroutine of the transport
	closeOnce sync.Once

	mu     sync.RWMutex
	closed bool
	peers  map[engine.NodeID]*peer
	conns  map[*quic.Conn]struct{} // every live connection, to close on Close

	handshakeFailures atomic.Uint64 // all refused handshakes, both sides
	unknownDrops      atomic.Uint64 // Sends to peers without an entry
}

// Listen starts a transport: it binds cfg.ListenAddr and connects lazily to
// peers when there is something to send.
func Listen(cfg Config) (*Transport, error) {
	if !engine.ValidNodeID(cfg.ID) {
		return nil, fmt.Errorf("netquic: invalid node id %q", cfg.ID)
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = 1024
	}
	if cfg.QueueBytes <= 0 {
		cfg.QueueBytes = 64 << 20
	}
	if cfg.SnapQueueLen <= 0 {
		cfg.SnapQueueLen = 8
	}
	if cfg.InboundLen <= 0 {
		cfg.InboundLen = 4096
	}
	if cfg.MaxFrameBytes <= 0 {
		cfg.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	t := &Transport{
		id:      cfg.ID,
		cfg:     cfg,
		log:     cfg.Logger.With("node", string(cfg.ID)),
		inbound: make(chan engine.Message, cfg.InboundLen),
		peers:   map[engine.NodeID]*peer{},
		conns:   map[*quic.Conn]struct{}{},
	}
	if err := t.setupTLS(); err != nil {
		return nil, err
	}
	t.qconf = &quic.Config{
		HandshakeIdleTimeout:           handshakeTimeout,
		MaxIdleTimeout:                 idleTimeout,
		KeepAlivePeriod:                keepAlivePeriod,
		MaxIncomingStreams:             1024,
		MaxIncomingUniStreams:          64,
		InitialStreamReceiveWindow:     1 << 20,
		MaxStreamReceiveWindow:         16 << 20,
		InitialConnectionReceiveWindow: 2 << 20,
		MaxConnectionReceiveWindow:     48 << 20,
	}
	udp, err := net.ListenPacket("udp", cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("netquic: listen %s: %w", cfg.ListenAddr, err)
	}
	t.udp = udp
	t.qt = &quic.Transport{Conn: udp, StatelessResetKey: t.resetKey()}
	ln, err := t.qt.Listen(t.tls, t.qconf)
	if err != nil {
		t.qt.Close()
		udp.Close()
		return nil, fmt.Errorf("netquic: listen: %w", err)
	}
	t.ln = ln
	t.ctx, t.cancel = context.WithCancel(context.Background())
	for id, addr := range cfg.Peers {
		t.SetPeer(id, addr)
	}
	t.wg.Add(1)
	// Owned by the transport; ends when Close closes the listener.
	go t.acceptLoop()
	t.log.Info("netquic: listening", "addr", t.Addr())
	return t, nil
}

func (t *Transport) setupTLS() error {
	if t.cfg.TLS == nil {
		if !t.cfg.Insecure {
			return ErrNoTLS
		}
		c, err := insecureTLS(t.id)
		if err != nil {
			return err
		}
		t.log.Warn("netquic: INSECURE mode: peers are not authenticated; development only")
		t.tls = c
	} else {
		if len(t.cfg.TLS.Certificates) == 0 || t.cfg.TLS.ClientCAs == nil {
			return errors.New("netquic: TLS config needs a certificate and ClientCAs (use TLSConfig)")
		}
		leaf, err := x509.ParseCertificate(t.cfg.TLS.Certificates[0].Certificate[0])
		if err != nil {
			return fmt.Errorf("netquic: parse own certificate: %w", err)
		}
		if id, err := nodeIDOf(leaf); err != nil || id != t.id {
			return fmt.Errorf("netquic: own certificate names %q, not %q: %w", id, t.id, ErrPeerMismatch)
		}
		t.pool = t.cfg.TLS.ClientCAs
		t.tls = t.cfg.TLS.Clone()
	}
	t.tls.MinVersion = tls.VersionTLS13
	t.tls.NextProtos = slices.Clone(protocols)
	if t.cfg.protocols != nil {
		t.tls.NextProtos = slices.Clone(t.cfg.protocols)
	}
	// The transport verifies peers itself (verifyConn), so that a missing
	// certificate reaches VerifyConnection and is counted.
	t.tls.ClientAuth = tls.RequestClientCert
	t.tls.InsecureSkipVerify = true
	t.tls.VerifyConnection = t.verifyConn("")
	t.tls.GetConfigForClient = t.checkProtocols
	return nil
}

// checkProtocols logs and counts a client that offers none of this node's
// protocols, that is, a node of an incompatible release; the TLS stack then
// refuses it with the no_application_protocol alert, which the client
// reports as ErrWireVersion.
func (t *Transport) checkProtocols(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	for _, p := range t.tls.NextProtos {
		if slices.Contains(hello.SupportedProtos, p) {
			return nil, nil
		}
	}
	t.handshakeFailures.Add(1)
	remote := ""
	if hello.Conn != nil {
		remote = hello.Conn.RemoteAddr().String()
	}
	t.log.Warn("netquic: refused peer", "remote", remote, "offers", hello.SupportedProtos, "speaks", t.tls.NextProtos, "err", ErrWireVersion)
	return nil, nil
}

// resetKey derives the QUIC stateless reset key, stable across restarts,
// so that a restarted node resets its peers' stale connections at once
// instead of letting them idle out. It comes from the cluster CA
// certificate and the node ID (nodes that mint a fresh key at each start,
// as with a cluster secret, keep it), or else from the node's private key.
// Knowing it lets one forge resets of this node's connections, so it stays
// within the cluster's trust domain.
func (t *Transport) resetKey() *quic.StatelessResetKey {
	cert := t.tls.Certificates[0]
	material, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if leaf, perr := x509.ParseCertificate(cert.Certificate[0]); perr == nil && t.pool != nil {
		opts := x509.VerifyOptions{Roots: t.pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
		if chains, verr := leaf.Verify(opts); verr == nil && len(chains) > 0 {
			root := chains[0][len(chains[0])-1]
			material, err = append(slices.Clone(root.Raw), t.id...), nil
		}
	}
	if err != nil {
		return nil
	}
	// "yggr/1" in the label is a key-derivation label, not the wire
	// protocol: keep it. Changing it would change the key across a rolling
	// upgrade, and a node restarted into the new release could not reset
	// its peers' connections to its old process.
	k, err := hkdf.Key(sha256.New, material, nil, "yggr/1 stateless reset", 32)
	if err != nil {
		return nil
	}
	var key quic.StatelessResetKey
	copy(key[:], k)
	return &key
}

// verifyConn returns the VerifyConnection of a handshake; expect is the
// peer a dial meant to reach ("" when accepting).
func (t *Transport) verifyConn(expect engine.NodeID) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		id, err := verifyPeerCert(cs.PeerCertificates, t.pool)
		if err == nil && expect != "" && id != expect {
			err = fmt.Errorf("%w: dialed %s, certificate names %s", ErrPeerMismatch, expect, id)
		}
		if err == nil && id == t.id {
			err = fmt.Errorf("%w: peer claims to be this node", ErrPeerMismatch)
		}
		if err != nil {
			t.handshakeFailures.Add(1)
			if expect != "" {
				if p := t.peer(expect); p != nil {
					p.handshakeFailures.Add(1)
				}
			}
			t.log.Warn("netquic: refused peer", "peer", string(expect), "err", err)
		}
		return err
	}
}

// Addr returns the bound UDP address.
func (t *Transport) Addr() string { return t.udp.LocalAddr().String() }

// ID returns this node's ID.
func (t *Transport) ID() engine.NodeID { return t.id }

// Inbound delivers received Raft messages. From is the authenticated
// peer: a message whose From differs from the sender's certificate is
// dropped and counted. The channel is closed by Close.
func (t *Transport) Inbound() <-chan engine.Message { return t.inbound }

// SetCallHandler installs the function that answers peers' Calls. It
// runs on its own goroutine per call; ctx ends when the caller gives up
// or the transport closes.
func (t *Transport) SetCallHandler(h func(ctx context.Context, from engine.NodeID, req []byte) ([]byte, error)) {
	t.handler.Store(&h)
}

// spawn runs f on a tracked goroutine unless the transport is closed. The
// caller's comment at each call says who owns the goroutine and how it ends.
func (t *Transport) spawn(f func()) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		f()
	}()
	return true
}

func (t *Transport) peer(id engine.NodeID) *peer {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.peers[id]
}

// SetPeer adds a peer or changes its address. Setting this node's own ID
// is ignored.
func (t *Transport) SetPeer(id engine.NodeID, addr string) {
	if id == t.id || !engine.ValidNodeID(id) {
		return
	}
	p := t.ensurePeer(id)
	if p == nil {
		return
	}
	p.setAddr(addr)
}

// ensurePeer returns the peer entry for id, creating it (and starting its
// senders) if needed; nil once closed.
func (t *Transport) ensurePeer(id engine.NodeID) *peer {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	p := t.peers[id]
	if p != nil {
		t.mu.Unlock()
		return p
	}
	p = newPeer(t, id)
	t.peers[id] = p
	t.mu.Unlock()
	// Owned by the peer; end when RemovePeer or Close cancels p.ctx.
	t.spawn(func() { p.sendLoop(p.raftQ, false) })
	t.spawn(func() { p.sendLoop(p.snapQ, true) })
	// Connect at once rather than at the first message: a node that just
	// (re)started tells its peers so, and what they queued for it flows
	// without waiting for their redial backoff. Owned by the peer; ends
	// once connected, or when RemovePeer or Close cancels p.ctx.
	t.spawn(func() { p.connect(p.ctx) })
	return p
}

// RemovePeer forgets a peer, drops its queue and closes its connection.
func (t *Transport) RemovePeer(id engine.NodeID) {
	t.mu.Lock()
	p := t.peers[id]
	delete(t.peers, id)
	t.mu.Unlock()
	if p != nil {
		p.close(codeRemoved)
	}
}

// Send queues m for m.To and returns at once. Each peer has a bounded
// queue that drops its oldest messages when full (Raft retransmits).
// The transport keeps m until it is encoded: the caller must not
// modify m's slices afterwards. Messages to unknown peers are dropped
// and counted.
func (t *Transport) Send(m engine.Message) {
	p := t.peer(m.To)
	if p == nil {
		t.unknownDrops.Add(1)
		return
	}
	q := p.raftQ
	if m.Type == engine.MsgSnap {
		q = p.snapQ
	} else if p.trySend(&m) {
		return
	}
	if n := q.push(m); n > 0 {
		p.drops.Add(uint64(n))
	}
}

// Close stops every goroutine and closes Inbound; it is idempotent. It closes every connection and the socket,
// waits for every goroutine, then closes Inbound.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() {
		t.mu.Lock()
		t.closed = true
		peers := t.peers
		t.peers = map[engine.NodeID]*peer{}
		conns := t.conns
		t.conns = map[*quic.Conn]struct{}{}
		t.mu.Unlock()
		t.cancel()
		for _, p := range peers {
			p.close(codeShutdown)
		}
		for c := range conns {
			c.CloseWithError(codeShutdown, "shutdown")
		}
		t.ln.Close()
		t.qt.Close()
		t.wg.Wait()
		t.udp.Close()
		close(t.inbound)
	})
	return nil
}

// trackConn records c so Close can close it; false if already closed.
func (t *Transport) trackConn(c *quic.Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.conns[c] = struct{}{}
	return true
}

func (t *Transport) untrackConn(c *quic.Conn) {
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
}

// acceptLoop accepts authenticated connections until the listener closes.
func (t *Transport) acceptLoop() {
	defer t.wg.Done()
	for {
		c, err := t.ln.Accept(t.ctx)
		if err != nil {
			return
		}
		certs := c.ConnectionState().TLS.PeerCertificates
		if len(certs) == 0 {
			c.CloseWithError(codeShutdown, "no certificate")
			continue
		}
		id, err := nodeIDOf(certs[0])
		if err != nil {
			c.CloseWithError(codeShutdown, "no node id")
			continue
		}
		p := t.ensurePeer(id)
		if p == nil {
			c.CloseWithError(codeShutdown, "shutdown")
			return
		}
		t.startConn(p, c, false)
	}
}

// Metrics returns a snapshot of the counters.
func (t *Transport) Metrics() Metrics {
	m := Metrics{
		Peers:             map[engine.NodeID]PeerMetrics{},
		HandshakeFailures: t.handshakeFailures.Load(),
		UnknownPeerDrops:  t.unknownDrops.Load(),
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	for id, p := range t.peers {
		pm := p.metrics()
		m.Peers[id] = pm
		m.BadFrames += pm.BadFrames
		m.MismatchedFrom += pm.MismatchedFrom
	}
	return m
}
