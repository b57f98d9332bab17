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
)

// Address sync: a member learns the peer addresses of the others from
// the membership changes that added them (ConfChange.Addr) and from
// snapshots. The voters that founded a cluster were never added by a
// change, so a node that joined later and caught up from the log knows no
// address for them: it answers on the connections they open, but cannot
// dial them (to campaign, forward a write or report their status). Such a
// node asks its leader for the leader's address book (kind callAddrs,
// served by every node) and keeps the addresses it lacked.
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
	count, k := binary.Uvarint(b[1:])
	// Each pair takes two bytes at least.
	if k <= 0 || count > uint64(len(b)-1-k)/2 {
		return nil, fmt.Errorf("%w: bad count", errAddrBookWire)
	}
	rest := b[1+k:]
	str := func(limit int) (string, error) {
		l, k := binary.Uvarint(rest)
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
	for _, id := range m.Members() {
		if id != n.cfg.ID && n.addrs.get(id) == "" {
			return true
		}
	}
	return false
}

// wantAddrs asks the address goroutine to fetch leader's book, replacing
// any earlier request not yet taken. Only the driver calls it.
func (n *Node) wantAddrs(leader engine.NodeID) {
	select {
	case <-n.addrsWanted:
	default:
	}
	n.addrsWanted <- leader
}

// addrLoop is the address goroutine: it fetches the book of the leader it
// is asked about, retrying after an election timeout until one answer
// arrives or another request replaces the failed one.
func (n *Node) addrLoop() {
	defer n.wg.Done()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	timeout := time.Duration(max(n.cfg.Engine.ElectionTicks, 10)) * n.cfg.TickInterval
	var leader engine.NodeID
	for {
		select {
		case <-n.stop:
			return
		case leader = <-n.addrsWanted:
			retry.Stop()
		case <-retry.C:
		}
		if err := n.fetchAddrs(leader, timeout); err != nil {
			n.cfg.Logger.Info("cannot learn peer addresses yet", "node", n.cfg.ID, "from", string(leader), "err", err)
			retry.Reset(timeout)
		}
	}
}

// fetchAddrs asks from for its address book and records the addresses
// this node lacks (a known address is kept: the book is a fallback).
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
	members := n.status.Load().Membership
	for id, addr := range book {
		// Only members: a removed node in the leader's book must not
		// become a peer this node dials.
		if id == n.cfg.ID || !members.Contains(id) || n.addrs.get(id) != "" {
			continue
		}
		if n.addrs.set(id, addr) {
			n.net.SetPeer(id, addr)
			n.cfg.Logger.Info("learned peer address", "node", n.cfg.ID, "peer", string(id), "addr", addr, "from", string(from))
		}
	}
	return nil
}
