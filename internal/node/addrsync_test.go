package node

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/yggrdb/yggr/engine"
)

func TestAddrBookEncoding(t *testing.T) {
	for _, book := range []map[engine.NodeID]string{
		{},
		{"n1": "127.0.0.1:7001"},
		{"n1": "127.0.0.1:7001", "n2": "[::1]:7002", "a-long-node-id": "localhost:7003"},
	} {
		got, err := decodeAddrBook(encodeAddrBook(book))
		if err != nil {
			t.Fatalf("decode(encode(%v)): %v", book, err)
		}
		if diff := cmp.Diff(book, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
	if got, err := decodeAddrBook(encodeAddrBook(map[engine.NodeID]string{"n1": "", "n2": "127.0.0.1:2"})); err != nil || len(got) != 1 || got["n2"] != "127.0.0.1:2" {
		t.Errorf("a book with an empty address: %v, %v; want n2's address alone", got, err)
	}
	pair := []byte{2, 'n', '1', 3, 'a', ':', '1'}
	long := func(n int) []byte { return make([]byte, n) }
	bad := map[string][]byte{
		"empty":            nil,
		"version":          append([]byte{2, 1}, pair...),
		"count too big":    append([]byte{1, 2}, pair...),
		"count overflow":   {1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01},
		"trailing":         append(append([]byte{1, 1}, pair...), 0),
		"listed twice":     append(append([]byte{1, 2}, pair...), pair...),
		"truncated":        append([]byte{1, 1}, pair[:5]...),
		"empty address":    {1, 1, 2, 'n', '1', 0},
		"invalid id":       {1, 1, 0, 3, 'a', ':', '1'},
		"id too long":      append(append([]byte{1, 1, engine.MaxNodeIDLen + 1}, long(engine.MaxNodeIDLen+1)...), 1, 'a'),
		"address too long": append([]byte{1, 1, 2, 'n', '1', 0x81, 0x08}, long(engine.MaxAddrLen+1)...),
	}
	for name, b := range bad {
		if got, err := decodeAddrBook(b); err == nil {
			t.Errorf("%s: decode(%x) = %v, want an error", name, b, got)
		}
	}
}

func FuzzDecodeAddrBook(f *testing.F) {
	f.Add(encodeAddrBook(map[engine.NodeID]string{"n1": "127.0.0.1:7001", "n2": "[::1]:7002"}))
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		book, err := decodeAddrBook(b)
		if err != nil {
			return
		}
		again, err := decodeAddrBook(encodeAddrBook(book))
		if err != nil || !cmp.Equal(book, again) {
			t.Fatalf("re-encoding %v: %v, %v", book, again, err)
		}
	})
}

// callNet is a Network whose Calls reach another node's call handler and
// which records SetPeer; its other methods are not used here.
type callNet struct {
	Network
	to    *Node
	peers map[engine.NodeID]string
}

func (c *callNet) Call(ctx context.Context, to engine.NodeID, req []byte) ([]byte, error) {
	return c.to.handleCall(ctx, "n4", req)
}

func (c *callNet) SetPeer(id engine.NodeID, addr string) { c.peers[id] = addr }

// A joined node that knows no address for the voters that founded the
// cluster (no membership change carried them) learns them from the
// leader's book; it keeps an address it knows, and takes none for a node
// that is not a member.
func TestFetchAddrsFillsWhatIsMissing(t *testing.T) {
	leader := &Node{addrs: &addrBook{addrs: map[engine.NodeID]string{
		"n1": "127.0.0.1:7001", "n2": "127.0.0.1:7002", "n3": "127.0.0.1:7003",
		"n4": "127.0.0.1:7004", "gone": "127.0.0.1:7999",
	}}}
	leader.cfg.ID = "n1"
	joined := &Node{addrs: &addrBook{addrs: map[engine.NodeID]string{"n3": "127.0.0.1:8003", "n4": "127.0.0.1:7004"}}}
	joined.cfg.ID = "n4"
	joined.cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	net := &callNet{to: leader, peers: map[engine.NodeID]string{}}
	joined.net = net
	members := engine.Membership{Voters: []engine.NodeID{"n1", "n2", "n3"}, Learners: []engine.NodeID{"n4"}}
	joined.status.Store(&engine.Status{Leader: "n1", Membership: members})
	if !joined.lacksAddrs(members) {
		t.Fatal("lacksAddrs: false before the fetch")
	}
	if err := joined.fetchAddrs("n1", time.Second); err != nil {
		t.Fatal(err)
	}
	want := map[engine.NodeID]string{"n1": "127.0.0.1:7001", "n2": "127.0.0.1:7002", "n3": "127.0.0.1:8003", "n4": "127.0.0.1:7004"}
	if diff := cmp.Diff(want, joined.addrs.all()); diff != "" {
		t.Errorf("book after the fetch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[engine.NodeID]string{"n1": "127.0.0.1:7001", "n2": "127.0.0.1:7002"}, net.peers); diff != "" {
		t.Errorf("peers set (-want +got):\n%s", diff)
	}
	if joined.lacksAddrs(members) {
		t.Error("lacksAddrs: true after the fetch")
	}
}
