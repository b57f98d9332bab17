package chaosnet

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/netquic"
)

// ErrUnreachable is returned by a Net endpoint's Call when the peer is
// partitioned, blocked, crashed or closed.
var ErrUnreachable = errors.New("chaosnet: peer unreachable")

// Net is an in-process network for tests: its endpoints implement
// the runtime's network (internal/node.Network), every message goes through the real codec (encoded, then
// decoded on delivery), and faults are injected on command: drop and
// duplicate probabilities, a random delay range (which reorders), partitions,
// one-way blocks, and crashes. Random choices come from one PCG seeded by
// the seed, made in the order Send is called, so a run is reproducible as
// far as goroutine scheduling permits. All methods are safe for concurrent
// use.
type Net struct {
	mu        sync.Mutex
	rng       *rand.Rand
	eps       map[engine.NodeID]*Endpoint
	dropP     float64
	dupP      float64
	minDelay  time.Duration
	maxDelay  time.Duration
	group     map[engine.NodeID]int // partition group; absent: group 0
	blocked   map[[2]engine.NodeID]bool
	crashed   map[engine.NodeID]bool
	pending   deliveryHeap
	seq       uint64
	wake      chan struct{} // a token when pending gained an earlier item
	done      chan struct{} // closed by Close
	closed    bool
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New returns a fault-free network; Close stops its delivery
// goroutine.
func New(seed uint64) *Net {
	n := &Net{
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		eps:     map[engine.NodeID]*Endpoint{},
		group:   map[engine.NodeID]int{},
		blocked: map[[2]engine.NodeID]bool{},
		crashed: map[engine.NodeID]bool{},
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	n.wg.Add(1)
	// Owned by the Net; ends when Close closes n.done.
	go n.deliverLoop()
	return n
}

// Endpoint returns id's endpoint, creating it (or a fresh one, if the last
// was closed). It can reach every other endpoint of the net unless
// RemovePeer excludes one; SetPeer's address is ignored.
func (n *Net) Endpoint(id engine.NodeID) *Endpoint {
	n.mu.Lock()
	defer n.mu.Unlock()
	if e := n.eps[id]; e != nil && !e.closed {
		return e
	}
	e := &Endpoint{
		net:     n,
		id:      id,
		inbound: make(chan engine.Message, 4096),
		removed: map[engine.NodeID]bool{},
		peers:   map[engine.NodeID]*netquic.PeerMetrics{},
	}
	if n.closed {
		e.closed = true
		close(e.inbound)
	}
	n.eps[id] = e
	return e
}

// SetDrop sets the probability that a message is lost.
func (n *Net) SetDrop(p float64) { n.mu.Lock(); n.dropP = p; n.mu.Unlock() }

// SetDuplicate sets the probability that a message is delivered twice.
func (n *Net) SetDuplicate(p float64) { n.mu.Lock(); n.dupP = p; n.mu.Unlock() }

// SetDelay delays each message (and each leg of a Call) by a uniformly
// random duration in [min, max]; different delays reorder messages.
func (n *Net) SetDelay(min, max time.Duration) {
	n.mu.Lock()
	n.minDelay, n.maxDelay = min, max
	n.mu.Unlock()
}

// Partition splits the net: nodes in different groups cannot talk. Nodes
// not listed form one more group together. It replaces any partition.
func (n *Net) Partition(groups ...[]engine.NodeID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.group = map[engine.NodeID]int{}
	for i, g := range groups {
		for _, id := range g {
			n.group[id] = i + 1
		}
	}
}

// Block drops everything from one node to another (one way).
func (n *Net) Block(from, to engine.NodeID) {
	n.mu.Lock()
	n.blocked[[2]engine.NodeID{from, to}] = true
	n.mu.Unlock()
}

// Heal removes partitions and blocks (not crashes).
func (n *Net) Heal() {
	n.mu.Lock()
	n.group = map[engine.NodeID]int{}
	n.blocked = map[[2]engine.NodeID]bool{}
	n.mu.Unlock()
}

// Crash isolates a node until Restart: it neither sends nor receives, and
// messages in flight to it are lost (those already in its Inbound stay; a
// test that restarts the node's runtime takes a fresh Endpoint after
// closing the old one).
func (n *Net) Crash(id engine.NodeID) { n.mu.Lock(); n.crashed[id] = true; n.mu.Unlock() }

// Restart ends Crash.
func (n *Net) Restart(id engine.NodeID) { n.mu.Lock(); delete(n.crashed, id); n.mu.Unlock() }

// Close stops delivery and closes every endpoint.
func (n *Net) Close() error {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closed = true
		close(n.done)
		for _, e := range n.eps {
			e.closeLocked()
		}
		n.pending = nil
		n.mu.Unlock()
		n.wg.Wait()
	})
	return nil
}

// reachableLocked reports whether from can reach to now.
func (n *Net) reachableLocked(from, to engine.NodeID) bool {
	if n.crashed[from] || n.crashed[to] || n.blocked[[2]engine.NodeID{from, to}] {
		return false
	}
	if n.group[from] != n.group[to] {
		return false
	}
	e := n.eps[to]
	return e != nil && !e.closed
}

func (n *Net) delayLocked() time.Duration {
	if n.maxDelay <= n.minDelay {
		return n.minDelay
	}
	return n.minDelay + time.Duration(n.rng.Int64N(int64(n.maxDelay-n.minDelay)+1))
}

type delivery struct {
	at    time.Time
	seq   uint64
	to    engine.NodeID
	from  engine.NodeID
	frame []byte
}

type deliveryHeap []delivery

func (h deliveryHeap) Len() int { return len(h) }
func (h deliveryHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h deliveryHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *deliveryHeap) Push(x any)   { *h = append(*h, x.(delivery)) }
func (h *deliveryHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	*h = old[:len(old)-1]
	return d
}

func (n *Net) scheduleLocked(d delivery) {
	n.seq++
	d.seq = n.seq
	heap.Push(&n.pending, d)
	if n.pending[0].seq == d.seq {
		select {
		case n.wake <- struct{}{}:
		default:
		}
	}
}

func (n *Net) deliverLoop() {
	defer n.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		n.mu.Lock()
		now := time.Now()
		for len(n.pending) > 0 && !n.pending[0].at.After(now) {
			d := heap.Pop(&n.pending).(delivery)
			n.deliverLocked(d)
		}
		wait := time.Hour
		if len(n.pending) > 0 {
			wait = n.pending[0].at.Sub(now)
		}
		n.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-n.done:
			return
		case <-n.wake:
		case <-timer.C:
		}
	}
}

// deliverLocked decodes a frame and hands it to its endpoint, unless the
// link broke while it was in flight.
func (n *Net) deliverLocked(d delivery) {
	src := n.eps[d.from]
	dst := n.eps[d.to]
	if !n.reachableLocked(d.from, d.to) || dst.removed[d.from] {
		src.peer(d.to).Drops++
		return
	}
	m, err := netquic.DecodeMessage(d.frame, 0)
	pm := dst.peer(d.from)
	if err != nil {
		pm.BadFrames++
		return
	}
	pm.MessagesReceived++
	pm.BytesReceived += uint64(len(d.frame))
	select {
	case dst.inbound <- m:
	default:
		pm.Drops++ // the receiver is not keeping up
	}
}

// Endpoint is one node's network on a Net, with the methods of
// netquic.Transport that the runtime uses. Its state is guarded by net.mu.
type Endpoint struct {
	net          *Net
	id           engine.NodeID
	inbound      chan engine.Message
	handler      netquic.CallHandler
	removed      map[engine.NodeID]bool
	closed       bool
	peers        map[engine.NodeID]*netquic.PeerMetrics
	unknownDrops uint64
}

func (e *Endpoint) peer(id engine.NodeID) *netquic.PeerMetrics {
	pm := e.peers[id]
	if pm == nil {
		pm = &netquic.PeerMetrics{}
		e.peers[id] = pm
	}
	return pm
}

// Send encodes m and schedules its delivery, unless a fault drops it.
func (e *Endpoint) Send(m engine.Message) {
	n := e.net
	frame, err := netquic.AppendMessage(nil, &m, 0)
	n.mu.Lock()
	defer n.mu.Unlock()
	if e.closed || n.crashed[e.id] {
		return
	}
	if n.eps[m.To] == nil || e.removed[m.To] {
		e.unknownDrops++
		return
	}
	pm := e.peer(m.To)
	if err != nil {
		pm.Drops++
		return
	}
	pm.MessagesSent++
	pm.BytesSent += uint64(len(frame))
	// Draw every random number whatever the outcome, so that one
	// message's fate does not shift the choices for the next.
	drop := n.rng.Float64() < n.dropP
	dup := n.rng.Float64() < n.dupP
	d1, d2 := n.delayLocked(), n.delayLocked()
	if drop || !n.reachableLocked(e.id, m.To) {
		pm.Drops++
		return
	}
	now := time.Now()
	n.scheduleLocked(delivery{at: now.Add(d1), from: e.id, to: m.To, frame: frame})
	if dup {
		n.scheduleLocked(delivery{at: now.Add(d2), from: e.id, to: m.To, frame: frame})
	}
}

// Inbound delivers the messages sent to this endpoint; Close closes it.
func (e *Endpoint) Inbound() <-chan engine.Message { return e.inbound }

// SetCallHandler installs the function that answers peers' Calls.
func (e *Endpoint) SetCallHandler(h func(ctx context.Context, from engine.NodeID, req []byte) ([]byte, error)) {
	e.net.mu.Lock()
	e.handler = h
	e.net.mu.Unlock()
}

// Call runs the peer's handler on the caller's goroutine, after encoding
// the request and before decoding the response with the real codec; each
// leg takes the net's delay. It fails with ErrUnreachable if the link is
// down in either direction.
func (e *Endpoint) Call(ctx context.Context, to engine.NodeID, req []byte) ([]byte, error) {
	n := e.net
	frame, err := netquic.AppendCallRequest(nil, req, 0)
	if err != nil {
		return nil, err
	}
	leg := func(from, to engine.NodeID) (netquic.CallHandler, error) {
		n.mu.Lock()
		if e.closed || n.closed {
			n.mu.Unlock()
			return nil, netquic.ErrClosed
		}
		if n.eps[to] == nil || e.removed[to] {
			n.mu.Unlock()
			return nil, fmt.Errorf("%w: %s", netquic.ErrUnknownPeer, to)
		}
		if !n.reachableLocked(from, to) {
			n.mu.Unlock()
			return nil, fmt.Errorf("%w: %s->%s", ErrUnreachable, from, to)
		}
		delay := n.delayLocked()
		h := n.eps[to].handler
		n.mu.Unlock()
		if delay > 0 {
			t := time.NewTimer(delay)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-n.done:
				return nil, netquic.ErrClosed
			case <-t.C:
			}
		}
		return h, nil
	}
	h, err := leg(e.id, to)
	if err != nil {
		return nil, err
	}
	if req, err = netquic.DecodeCallRequest(frame, 0); err != nil {
		return nil, err
	}
	resp, herr := []byte(nil), error(netquic.ErrNoHandler)
	if h != nil {
		resp, herr = h(ctx, e.id, req)
	}
	if _, err := leg(to, e.id); err != nil {
		return nil, err
	}
	rframe, err := netquic.AppendCallResponse(nil, resp, herr, 0)
	if err != nil {
		return nil, err
	}
	return netquic.DecodeCallResponse(rframe, to, 0)
}

// SetPeer makes id reachable again after RemovePeer; addr is ignored.
func (e *Endpoint) SetPeer(id engine.NodeID, addr string) {
	e.net.mu.Lock()
	delete(e.removed, id)
	e.net.mu.Unlock()
}

// RemovePeer makes id unreachable from this endpoint and forgets its
// counters.
func (e *Endpoint) RemovePeer(id engine.NodeID) {
	e.net.mu.Lock()
	e.removed[id] = true
	delete(e.peers, id)
	e.net.mu.Unlock()
}

// Metrics returns a snapshot of this endpoint's counters.
func (e *Endpoint) Metrics() netquic.Metrics {
	e.net.mu.Lock()
	defer e.net.mu.Unlock()
	m := netquic.Metrics{Peers: map[engine.NodeID]netquic.PeerMetrics{}, UnknownPeerDrops: e.unknownDrops}
	for id, pm := range e.peers {
		m.Peers[id] = *pm
		m.BadFrames += pm.BadFrames
	}
	return m
}

// Close closes Inbound; Net.Endpoint then makes a fresh endpoint.
func (e *Endpoint) Close() error {
	e.net.mu.Lock()
	e.closeLocked()
	e.net.mu.Unlock()
	return nil
}

func (e *Endpoint) closeLocked() {
	if !e.closed {
		e.closed = true
		close(e.inbound)
	}
}
