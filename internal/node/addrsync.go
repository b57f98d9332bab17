package node

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/record"
)

// Address sync: a member learns the peer addresses of the others from
// the membership changes that added them (ConfChange.Addr) and from
// snapshots. The voters that founded a cluster were never added by a
// change, so a node that joined later and caught up from the log knows no
// address for them: it answers on the connections they open, but cannot
// dial them (to campaign, forward a write, replicate as a leader, or
// report their status). Such a node, leader or not, asks for the address
// book (kind callAddrs, served by every node) of its leader first, then of
// every other member it can dial, until it knows every member's address,
// and keeps the addresses it lacked (fillAddrs).
//
// The transport's peers are the members of the configuration in force
// (peerMembers) that have an address; every change to that set (a new
// configuration, a learned address) is made under peerMu, so that an
// address fetched while its member was being removed cannot make the
// removed node a peer again.
//
//	answer: version 1, uvarint count, then count pairs of uvarint-length
//	        strings: the member's ID, then its address
const addrBookVersion = 1

var errAddrBookWire = errors.New("bad address book encoding")

// encodeAddrBook encodes book (which it may modify), leaving out empty
// addresses.
func encodeAddrBook(book map[engine.NodeID]string) []byte {
	maps.DeleteFunc(book, func(_ engine.NodeID, addr string) bool { return addr == "" })
	b := binary.AppendUvarint([]byte{addrBookVersion}, uint64(len(book)))
	for _, id := range slices.Sorted(maps.Keys(book)) {
		b = binary.AppendUvarint(b, uint64(len(id)))
		b = append(b, id...)
		b = binary.AppendUvarint(b, uint64(len(book[id])))
		b = append(b, book[id]...)
	}
	return b
}

func decodeAddrBook(b []byte) (map[engine.NodeID]string, error) {
	if len(b) < 2 || b[0] != addrBookVersion {
		return nil, fmt.Errorf("%w: short answer or unknown version", errAddrBookWire)
	}
	count, k := record.Uvarint(b[1:])
	// Each pair takes two bytes at least.
	if k <= 0 || count > uint64(len(b)-1-k)/2 {
		return nil, fmt.Errorf("%w: bad count", errAddrBookWire)
	}
	rest := b[1+k:]
	str := func(limit int) (string, error) {
		l, k := record.Uvarint(rest)
		if k <= 0 || l > uint64(limit) || l > uint64(len(rest)-k) {
			return "", fmt.Errorf("%w: bad string", errAddrBookWire)
		}
		s := string(rest[k : k+int(l)])
		rest = rest[k+int(l):]
		return s, nil
	}
	book := make(map[engine.NodeID]string, count)
	for range count {
		id, err := str(engine.MaxNodeIDLen)
		if err != nil {
			return nil, err
		}
		addr, err := str(engine.MaxAddrLen)
		if err != nil {
			return nil, err
		}
		if !engine.ValidNodeID(engine.NodeID(id)) || addr == "" {
			return nil, fmt.Errorf("%w: member %q with address %q", errAddrBookWire, id, addr)
		}
		if _, dup := book[engine.NodeID(id)]; dup {
			return nil, fmt.Errorf("%w: member %q listed twice", errAddrBookWire, id)
		}
		book[engine.NodeID(id)] = addr
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errAddrBookWire, len(rest))
	}
	return book, nil
}

// lacksAddrs reports whether a member of m other than this node has no
// known address.
func (n *Node) lacksAddrs(m engine.Membership) bool {
	return len(n.missingAddrs(m)) > 0
}

// missingAddrs returns the members of m other than this node that have no
// known address, in ID order.
func (n *Node) missingAddrs(m engine.Membership) []engine.NodeID {
	var missing []engine.NodeID
	for id := range m.All() {
		if id != n.cfg.ID && n.addrs.get(id) == "" {
			missing = append(missing, id)
		}
	}
	return missing
}

// wantAddrs asks the address goroutine to fill the missing addresses (a
// request already queued stands). Only the driver calls it.
func (n *Node) wantAddrs() {
	select {
	case n.addrsWanted <- struct{}{}:
	default:
	}
}

// addrLoop is the address goroutine: asked to, it fills the missing
// addresses, retrying until nothing is missing or the node stops. The
// retries back off from an election timeout to addrRetryMax election
// timeouts, and the log says so at Info once per set of missing members
// (then at Debug): a member nobody knows an address for stays unknown until
// an operator or a membership change tells, and must not fill the log.
func (n *Node) addrLoop() {
	defer n.wg.Done()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	timeout := time.Duration(n.electionTicks()) * n.cfg.TickInterval
	var back addrBackoff
	for {
		select {
		case <-n.stop:
			return
		case <-n.addrsWanted:
			retry.Stop()
			back = addrBackoff{} // a new configuration: try again soon
		case <-retry.C:
		}
		err := n.fillAddrs(timeout)
		if err == nil {
			back = addrBackoff{}
			continue
		}
		if back.failed(fmt.Sprint(n.missingNow())) {
			n.cfg.Logger.Info("cannot learn peer addresses yet; retrying with backoff", "node", n.cfg.ID, "err", err)
		} else {
			n.cfg.Logger.Debug("cannot learn peer addresses yet", "node", n.cfg.ID, "err", err, "failures", back.failures)
		}
		retry.Reset(back.delay(timeout))
	}
}

// addrRetryMax bounds the address goroutine's retry delay, in election
// timeouts.
const addrRetryMax = 32

// addrBackoff is the address goroutine's retry state since its last
// success or new configuration.
type addrBackoff struct {
	failures int
	missing  string // the members missing at the last report
}

// failed records a failure with the missing members named by missing and
// reports whether it is news (the first failure, or other members missing).
func (b *addrBackoff) failed(missing string) bool {
	b.failures++
	news := b.failures == 1 || missing != b.missing
	b.missing = missing
	return news
}

// delay is the wait before the next try: timeout doubled per failure after
// the first, at most addrRetryMax timeouts.
func (b *addrBackoff) delay(timeout time.Duration) time.Duration {
	return timeout * time.Duration(min(1<<min(b.failures-1, 30), addrRetryMax))
}

// missingNow returns the members of the configuration the transport
// follows that have no known address.
func (n *Node) missingNow() []engine.NodeID {
	n.peerMu.Lock()
	members := n.peerMembers.Clone()
	n.peerMu.Unlock()
	return n.missingAddrs(members)
}

// fillAddrs asks members for their address books until this node knows
// an address for every member of the configuration in force: the leader
// first (it added the members, so it is the likeliest to know them), then
// every other member this node has an address for, in ID order. Each ask
// takes at most timeout. It fails naming the members still missing after
// all of them answered or failed.
func (n *Node) fillAddrs(timeout time.Duration) error {
	n.peerMu.Lock()
	members := n.peerMembers.Clone()
	n.peerMu.Unlock()
	if len(n.missingAddrs(members)) == 0 {
		return nil
	}
	var sources []engine.NodeID
	if l := n.status.Load().Leader; l != "" && l != n.cfg.ID {
		sources = append(sources, l)
	}
	for _, id := range members.Members() {
		if id != n.cfg.ID && !slices.Contains(sources, id) && n.addrs.get(id) != "" {
			sources = append(sources, id)
		}
	}
	var errs []error
	for _, from := range sources {
		if err := n.fetchAddrs(from, timeout); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", from, err))
		}
		if len(n.missingAddrs(members)) == 0 {
			return nil
		}
		if n.stopped() {
			return ErrClosed
		}
	}
	missing := n.missingAddrs(members)
	if len(sources) == 0 {
		return fmt.Errorf("no address known for %v and no member to ask", missing)
	}
	return fmt.Errorf("no address known for %v after asking %v: %w", missing, sources, errors.Join(errs...))
}

// fetchAddrs asks from for its address book and records the addresses
// this node lacks, for members of the configuration in force only (a
// known address is kept: the book is a fallback).
func (n *Node) fetchAddrs(from engine.NodeID, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// Owned by this fetch: ends when it returns (cancel) or the node stops.
	go func() {
		select {
		case <-n.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	resp, err := n.net.Call(ctx, from, appendRequest(callAddrs))
	if err != nil {
		return err
	}
	data, _, err := n.decodeResponse(resp)
	if err != nil {
		return err
	}
	book, err := decodeAddrBook(data)
	if err != nil {
		return fmt.Errorf("%w: from %s: %v", ErrCorrupt, from, err)
	}
	// Under peerMu: the membership checked is the one the transport
	// follows, and a removal waits until the address is recorded (and
	// then removes the peer again) or finds it never added.
	n.peerMu.Lock()
	defer n.peerMu.Unlock()
	for _, id := range slices.Sorted(maps.Keys(book)) {
		// Only members: a removed node in another's book must not become
		// a peer this node dials.
		if id == n.cfg.ID || !n.peerMembers.Contains(id) || n.addrs.get(id) != "" {
			continue
		}
		if n.addrs.set(id, book[id]) {
			n.net.SetPeer(id, book[id])
			n.cfg.Logger.Info("learned peer address", "node", n.cfg.ID, "peer", string(id), "addr", book[id], "from", string(from))
		}
	}
	return nil
}

// setPeers makes m the configuration the transport follows: its members
// with an address become peers, and the members of the previous
// configuration that m no longer holds stop being peers.
func (n *Node) setPeers(m engine.Membership) {
	n.peerMu.Lock()
	defer n.peerMu.Unlock()
	old := n.peerMembers
	n.peerMembers = m.Clone()
	for _, id := range m.Members() {
		if a := n.addrs.get(id); a != "" && id != n.cfg.ID {
			n.net.SetPeer(id, a)
		}
	}
	for _, id := range old.Members() {
		if !m.Contains(id) && id != n.cfg.ID {
			n.net.RemovePeer(id)
		}
	}
}

// forgetRemoved deletes from the book the addresses of nodes that are
// members neither of committed, a configuration that has been committed,
// nor of the configuration in force (a later one, perhaps not committed,
// may have added a node back). A removed node's address would otherwise
// stay in members.json and in every snapshot's book forever; a node added
// again brings its address with its change.
func (n *Node) forgetRemoved(committed engine.Membership) {
	n.peerMu.Lock()
	defer n.peerMu.Unlock()
	gone := n.addrs.forget(func(id engine.NodeID) bool {
		return id == n.cfg.ID || committed.Contains(id) || n.peerMembers.Contains(id)
	})
	if len(gone) > 0 {
		n.cfg.Logger.Info("forgot the addresses of removed members", "node", n.cfg.ID, "removed", gone)
	}
}

// refreshPeers tells the transport the addresses of the configuration's
// members after the book changed outside a membership change (a
// snapshot's book was installed).
func (n *Node) refreshPeers() {
	n.peerMu.Lock()
	defer n.peerMu.Unlock()
	for _, id := range n.peerMembers.Members() {
		if a := n.addrs.get(id); a != "" && id != n.cfg.ID {
			n.net.SetPeer(id, a)
		}
	}
}
