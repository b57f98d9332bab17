package node

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/chaosnet"
	"github.com/yggrdb/yggr/internal/testutil"
	"github.com/yggrdb/yggr/snapshot"
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

// callNet is a Network whose Calls reach other nodes' call handlers
// (nodes; a node not there is unreachable) and which records the peers
// set; its other methods are not used here.
type callNet struct {
	Network
	from  engine.NodeID
	nodes map[engine.NodeID]*Node
	mu    sync.Mutex
	peers map[engine.NodeID]string
	asked []engine.NodeID
}

func (c *callNet) Call(ctx context.Context, to engine.NodeID, req []byte) ([]byte, error) {
	c.mu.Lock()
	c.asked = append(c.asked, to)
	c.mu.Unlock()
	if c.nodes[to] == nil {
		return nil, fmt.Errorf("%s is unreachable", to)
	}
	return c.nodes[to].handleCall(ctx, c.from, req)
}

func (c *callNet) SetPeer(id engine.NodeID, addr string) {
	c.mu.Lock()
	c.peers[id] = addr
	c.mu.Unlock()
}

func (c *callNet) RemovePeer(id engine.NodeID) {
	c.mu.Lock()
	delete(c.peers, id)
	c.mu.Unlock()
}

func (c *callNet) state() (peers map[engine.NodeID]string, asked []engine.NodeID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.peers), slices.Clone(c.asked)
}

// bookNode is a Node with just what serving and fetching address books
// reads: its ID, its book, and (for a fetching node) the network, the
// status and the configuration its peers follow.
func bookNode(id engine.NodeID, book map[engine.NodeID]string) *Node {
	n := &Node{addrs: &addrBook{addrs: book}, stop: make(chan struct{})}
	n.cfg.ID = id
	n.cfg.Logger = slog.New(slog.DiscardHandler)
	return n
}

// fetching makes n a node that fetches books from nodes over a callNet,
// led by leader, with members as its configuration.
func fetching(n *Node, leader engine.NodeID, members engine.Membership, nodes ...*Node) *callNet {
	net := &callNet{from: n.cfg.ID, nodes: map[engine.NodeID]*Node{}, peers: map[engine.NodeID]string{}}
	for _, o := range nodes {
		net.nodes[o.cfg.ID] = o
	}
	n.net = net
	n.status.Store(&engine.Status{Leader: leader, Membership: members})
	n.peerMembers = members
	return net
}

// A joined node that knows no address for the voters that founded the
// cluster (no membership change carried them) learns them from the
// leader's book; it keeps an address it knows, and takes none for a node
// that is not a member.
func TestFetchAddrsFillsWhatIsMissing(t *testing.T) {
	leader := bookNode("n1", map[engine.NodeID]string{
		"n1": "127.0.0.1:7001", "n2": "127.0.0.1:7002", "n3": "127.0.0.1:7003",
		"n4": "127.0.0.1:7004", "gone": "127.0.0.1:7999",
	})
	joined := bookNode("n4", map[engine.NodeID]string{"n3": "127.0.0.1:8003", "n4": "127.0.0.1:7004"})
	members := engine.Membership{Voters: []engine.NodeID{"n1", "n2", "n3"}, Learners: []engine.NodeID{"n4"}}
	net := fetching(joined, "n1", members, leader)
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
	peers, _ := net.state()
	if diff := cmp.Diff(map[engine.NodeID]string{"n1": "127.0.0.1:7001", "n2": "127.0.0.1:7002"}, peers); diff != "" {
		t.Errorf("peers set (-want +got):\n%s", diff)
	}
	if joined.lacksAddrs(members) {
		t.Error("lacksAddrs: true after the fetch")
	}
}

// A node whose leader cannot answer (here: unreachable; in a cluster, a
// leader this node has no address for) or does not know an address asks
// the other members it can dial, in ID order, until nothing is missing.
func TestFillAddrsAsksAnyMember(t *testing.T) {
	members := engine.Membership{Voters: []engine.NodeID{"n1", "n2", "n3", "n4", "n5"}}
	// n2 knows n1's address but not n3's; n4 knows n3's.
	n2 := bookNode("n2", map[engine.NodeID]string{"n1": "127.0.0.1:7001", "n2": "127.0.0.1:7002"})
	n4 := bookNode("n4", map[engine.NodeID]string{"n3": "127.0.0.1:7003", "n4": "127.0.0.1:7004"})
	self := bookNode("n5", map[engine.NodeID]string{"n2": "127.0.0.1:7002", "n4": "127.0.0.1:7004", "n5": "127.0.0.1:7005"})
	net := fetching(self, "n1", members, n2, n4) // n1, the leader, is unreachable
	if err := self.fillAddrs(time.Second); err != nil {
		t.Fatalf("fillAddrs: %v, want every address found", err)
	}
	want := map[engine.NodeID]string{"n1": "127.0.0.1:7001", "n2": "127.0.0.1:7002", "n3": "127.0.0.1:7003", "n4": "127.0.0.1:7004", "n5": "127.0.0.1:7005"}
	if diff := cmp.Diff(want, self.addrs.all()); diff != "" {
		t.Errorf("book after fillAddrs (-want +got):\n%s", diff)
	}
	peers, asked := net.state()
	if diff := cmp.Diff([]engine.NodeID{"n1", "n2", "n4"}, asked); diff != "" {
		t.Errorf("members asked, in order (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[engine.NodeID]string{"n1": "127.0.0.1:7001", "n3": "127.0.0.1:7003"}, peers); diff != "" {
		t.Errorf("peers set (-want +got):\n%s", diff)
	}
	// Nothing missing: nobody is asked.
	if err := self.fillAddrs(time.Second); err != nil {
		t.Fatal(err)
	}
	if _, again := net.state(); len(again) != len(asked) {
		t.Errorf("asked %v with nothing missing", again[len(asked):])
	}
}

// When no member knows an address, fillAddrs fails naming the member, the
// members it asked and why each failed, so that the address goroutine
// retries and the log says what is wrong.
func TestFillAddrsReportsAMissingAddress(t *testing.T) {
	members := engine.Membership{Voters: []engine.NodeID{"n1", "n2", "n3"}}
	n2 := bookNode("n2", map[engine.NodeID]string{"n2": "127.0.0.1:7002"})
	self := bookNode("n3", map[engine.NodeID]string{"n2": "127.0.0.1:7002", "n3": "127.0.0.1:7003"})
	fetching(self, "n1", members, n2)
	err := self.fillAddrs(time.Second)
	if err == nil {
		t.Fatal("fillAddrs found an address nobody has")
	}
	for _, want := range []string{"no address known for [n1]", "asking [n1 n2]", "n1: n1 is unreachable"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	// Not even a member to ask.
	alone := bookNode("n3", map[engine.NodeID]string{})
	fetching(alone, "", members)
	if err := alone.fillAddrs(time.Second); err == nil || !strings.Contains(err.Error(), "no member to ask") {
		t.Errorf("fillAddrs with nobody to ask: %v, want an error saying so", err)
	}
}

// An address fetched while the driver removes its member must not make
// the removed node a peer again. The driver changes the transport's
// peers (membershipChanged) before it publishes the new status, so the
// fetch must judge membership by the configuration the transport follows,
// under peerMu, not by the published status.
func TestFetchAddrsRacingRemovalLeavesNoPeer(t *testing.T) {
	full := engine.Membership{Voters: []engine.NodeID{"n1", "n2", "n3"}}
	without := engine.Membership{Voters: []engine.NodeID{"n1", "n3"}}
	leader := bookNode("n1", map[engine.NodeID]string{"n1": "127.0.0.1:7001", "n2": "127.0.0.1:7002", "n3": "127.0.0.1:7003"})

	// The driver's order: peers changed, status not yet published.
	self := bookNode("n3", map[engine.NodeID]string{"n1": "127.0.0.1:7001", "n3": "127.0.0.1:7003"})
	net := fetching(self, "n1", full, leader)
	self.membershipChanged(without)
	if err := self.fetchAddrs("n1", time.Second); err != nil {
		t.Fatal(err)
	}
	if peers, _ := net.state(); peers["n2"] != "" {
		t.Errorf("removed n2 is a peer after a fetch that followed its removal: %v", peers)
	}

	// Both at once, many times (run with -race).
	for i := range 200 {
		self := bookNode("n3", map[engine.NodeID]string{"n1": "127.0.0.1:7001", "n3": "127.0.0.1:7003"})
		net := fetching(self, "n1", full, leader)
		var wg sync.WaitGroup
		wg.Add(2)
		// Owned by this iteration: ends after one fetch.
		go func() {
			defer wg.Done()
			if err := self.fetchAddrs("n1", time.Second); err != nil {
				t.Error(err)
			}
		}()
		// Owned by this iteration: the driver's side, ends after one change.
		go func() {
			defer wg.Done()
			self.membershipChanged(without)
			self.status.Store(&engine.Status{Leader: "n1", Membership: without})
		}()
		wg.Wait()
		if peers, _ := net.state(); peers["n2"] != "" {
			t.Fatalf("round %d: removed n2 is a peer after a fetch raced its removal: %v", i, peers)
		}
	}
}

// Config entries appended together (a follower catching up) record the
// addresses of the members of the configuration they end with only: a
// node added and removed again within them is neither in the book nor a
// peer (it was a stray peer, dialed forever, before).
func TestConfigEntriesNoteOnlyMembers(t *testing.T) {
	self := bookNode("n1", map[engine.NodeID]string{"n1": "127.0.0.1:7001", "n2": "127.0.0.1:7002"})
	start := engine.Membership{Voters: []engine.NodeID{"n1", "n2"}}
	net := fetching(self, "n2", start)
	var es []engine.Entry
	m := start
	for _, cc := range []engine.ConfChange{
		{Op: engine.ConfAddVoter, Node: "n5", Addr: "127.0.0.1:7005"},
		{Op: engine.ConfRemove, Node: "n5"},
		{Op: engine.ConfAddLearner, Node: "n6", Addr: "127.0.0.1:7006"},
	} {
		next, err := m.Apply(cc)
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, engine.Entry{Index: uint64(10 + len(es)), Term: 2, Type: engine.EntryConfig, Data: engine.MarshalConfig(cc, next)})
		m = next
	}
	// As the engine acts: the entries, then the configuration they end with.
	self.noteConfigEntries(es)
	self.membershipChanged(m)
	want := map[engine.NodeID]string{"n1": "127.0.0.1:7001", "n2": "127.0.0.1:7002", "n6": "127.0.0.1:7006"}
	if diff := cmp.Diff(want, self.addrs.all()); diff != "" {
		t.Errorf("book (-want +got):\n%s", diff)
	}
	peers, _ := net.state()
	if diff := cmp.Diff(map[engine.NodeID]string{"n2": "127.0.0.1:7002", "n6": "127.0.0.1:7006"}, peers); diff != "" {
		t.Errorf("peers (-want +got):\n%s", diff)
	}
}

// A leader that lacks a member's address (it could not replicate to it)
// asks the other members for it: n1 starts knowing no address for n2 and
// leads from the first election (the others' election timeouts are far
// longer), so it never follows a leader it could ask. Before, only a
// follower asked, and only its leader.
func TestLeaderLearnsMissingAddress(t *testing.T) {
	c := newChaosCluster(t, 3, 5*time.Millisecond, engine.Config{}, func(cfg *Config) {
		cfg.Engine.ElectionTicks = 400
		if cfg.ID == "n1" {
			cfg.Engine.ElectionTicks = 10
			cfg.Peers["n2"] = ""
		}
	})
	n1 := c.nodes["n1"]
	if got := n1.Addr("n2"); got != "" {
		t.Fatalf("n1 starts knowing n2 at %q, want no address", got)
	}
	testutil.WaitFor(t, "n1 to lead", func() bool { l, ok := c.leader(); return ok && l == n1 })
	testutil.WaitFor(t, "n1 to learn n2's address", func() bool { return n1.Addr("n2") != "" })
	if got, want := n1.Addr("n2"), "127.0.0.1:7002"; got != want {
		t.Errorf("n1 learned n2 at %q, want %q", got, want)
	}
	for _, id := range []engine.NodeID{"n2", "n3"} {
		if won := c.nodes[id].Status().Counters.ElectionsWon; won != 0 {
			t.Fatalf("%s won %d elections: n1 followed a leader, the test checks nothing", id, won)
		}
	}
}

// peerLog is a chaosnet endpoint that records the peers the runtime sets.
type peerLog struct {
	*chaosnet.Endpoint
	mu    sync.Mutex
	peers map[engine.NodeID]string
}

func (p *peerLog) SetPeer(id engine.NodeID, addr string) {
	p.mu.Lock()
	p.peers[id] = addr
	p.mu.Unlock()
	p.Endpoint.SetPeer(id, addr)
}

func (p *peerLog) RemovePeer(id engine.NodeID) {
	p.mu.Lock()
	delete(p.peers, id)
	p.mu.Unlock()
	p.Endpoint.RemovePeer(id)
}

// A restarted node dials the members of its configuration only: the book
// in members.json keeps the address of a member removed long ago (n9
// here), which must not become a peer again (before, every address in the
// book did).
func TestRestartDialsOnlyMembers(t *testing.T) {
	cn := chaosnet.New(1)
	defer cn.Close()
	dir := t.TempDir()
	cfg := Config{ID: "n1", Dir: dir, StateMachine: &bytesMachine{}, TickInterval: time.Millisecond,
		Peers: map[engine.NodeID]string{"n1": "127.0.0.1:7001", "n2": "127.0.0.1:7002"}}
	start := func() (*Node, *peerLog) {
		t.Helper()
		net := &peerLog{Endpoint: cn.Endpoint("n1"), peers: map[engine.NodeID]string{}}
		cfg.Network = net
		n, err := Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return n, net
	}
	n, _ := start()
	n.Close()
	book := &addrBook{path: filepath.Join(dir, "members.json"), addrs: map[engine.NodeID]string{
		"n1": "127.0.0.1:7001", "n2": "127.0.0.1:7002", "n9": "127.0.0.1:7009",
	}}
	if err := book.save(); err != nil {
		t.Fatal(err)
	}
	n, net := start()
	defer n.Close()
	if got := n.Addr("n9"); got != "127.0.0.1:7009" {
		t.Fatalf("the restarted node's book has n9 at %q, want the address saved", got)
	}
	net.mu.Lock()
	defer net.mu.Unlock()
	if diff := cmp.Diff(map[engine.NodeID]string{"n2": "127.0.0.1:7002"}, net.peers); diff != "" {
		t.Errorf("peers after the restart (-want +got):\n%s", diff)
	}
}

// A node that installs a snapshot takes the configuration at once (the
// engine's MembershipChanged) but the snapshot's address book only when
// the apply goroutine restores it: restoring hands the configuration's
// members' addresses to the transport (before, a member known only from
// the snapshot's book stayed undialable until a restart), and not a
// non-member's.
func TestRestoredBookReachesPeers(t *testing.T) {
	snaps, err := snapshot.Open(t.TempDir(), snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	members := engine.Membership{Voters: []engine.NodeID{"n1", "n2", "n3"}}
	self := bookNode("n1", map[engine.NodeID]string{"n1": "127.0.0.1:7001", "n2": "127.0.0.1:7002"})
	self.snaps, self.sm = snaps, &bytesMachine{}
	net := fetching(self, "n2", members)
	book := map[engine.NodeID]string{"n1": "127.0.0.1:7001", "n2": "127.0.0.1:7002", "n3": "127.0.0.1:7003", "gone": "127.0.0.1:7999"}
	meta, _, err := self.writeSnapshot(engine.SnapshotMeta{Index: 5, Term: 1, Membership: members}, book, writerTo("state"))
	if err != nil {
		t.Fatal(err)
	}
	if err := self.restoreSnapshot(meta); err != nil {
		t.Fatal(err)
	}
	peers, _ := net.state()
	if diff := cmp.Diff(map[engine.NodeID]string{"n2": "127.0.0.1:7002", "n3": "127.0.0.1:7003"}, peers); diff != "" {
		t.Errorf("peers after the restore (-want +got):\n%s", diff)
	}
}

// A removal that commits takes the removed node's address out of every
// member's book (members.json, and so every later snapshot's book), unless
// the configuration in force has added the node back; before, removed
// members' addresses were kept forever.
func TestCommittedRemovalForgetsAddress(t *testing.T) {
	c := newChaosCluster(t, 3, 5*time.Millisecond, engine.Config{})
	var lead *Node
	testutil.WaitFor(t, "a leader", func() bool { var ok bool; lead, ok = c.leader(); return ok })
	var gone engine.NodeID
	for _, id := range c.ids {
		if c.nodes[id] != lead {
			gone = id
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := lead.ChangeMembership(ctx, engine.ConfChange{Op: engine.ConfRemove, Node: gone}); err != nil {
		t.Fatal(err)
	}
	for _, id := range c.ids {
		n := c.nodes[id]
		if id == gone {
			continue
		}
		testutil.WaitFor(t, fmt.Sprintf("%s to forget %s's address", id, gone), func() bool { return n.Addr(gone) == "" })
		if len(n.Addrs()) != 2 {
			t.Errorf("%s's book %v, want the two remaining members", id, n.Addrs())
		}
	}
}

// A committed configuration without a node does not drop the node's
// address while the configuration in force (a later entry) holds it.
func TestForgetRemovedKeepsMembersInForce(t *testing.T) {
	self := bookNode("n1", map[engine.NodeID]string{"n1": "127.0.0.1:7001", "n2": "127.0.0.1:7002", "n3": "127.0.0.1:7003", "n4": "127.0.0.1:7004"})
	fetching(self, "n1", engine.Membership{Voters: []engine.NodeID{"n1", "n2", "n3"}})
	self.forgetRemoved(engine.Membership{Voters: []engine.NodeID{"n1", "n2"}})
	want := map[engine.NodeID]string{"n1": "127.0.0.1:7001", "n2": "127.0.0.1:7002", "n3": "127.0.0.1:7003"}
	if diff := cmp.Diff(want, self.addrs.all()); diff != "" {
		t.Errorf("book (-want +got):\n%s", diff)
	}
}

// The address goroutine backs off while nobody knows an address, and says
// so at Info once per set of missing members, not once per election
// timeout forever; a new configuration makes it try at once again.
func TestAddrLoopBacksOffQuietly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs countingHandler
		members := engine.Membership{Voters: []engine.NodeID{"n1", "n2", "n3"}}
		self := bookNode("n3", map[engine.NodeID]string{"n2": "127.0.0.1:7002", "n3": "127.0.0.1:7003"})
		self.cfg.Logger = slog.New(&logs)
		self.cfg.TickInterval = 100 * time.Millisecond
		self.addrsWanted = make(chan struct{}, 1)
		net := fetching(self, "", members) // n2 is unreachable, n1 unknown
		self.wg.Add(1)
		go self.addrLoop()
		self.wantAddrs()
		timeout := time.Duration(engine.DefaultElectionTicks) * self.cfg.TickInterval
		time.Sleep(10 * time.Minute) // fake time: the bubble's clock
		synctest.Wait()
		_, asked := net.state()
		// Delays 1, 2, 4, ..., 32 timeouts, then 32 each: 10 minutes at
		// 0.8 s per timeout is about 6 + (600-50)/25.6 ≈ 27 tries.
		if maxTries := 6 + int(10*time.Minute/(addrRetryMax*timeout)) + 1; len(asked) > maxTries || len(asked) < 6 {
			t.Errorf("asked %d times in 10 minutes, want 6..%d (backing off to %v)", len(asked), maxTries, addrRetryMax*timeout)
		}
		if got := logs.count(slog.LevelInfo); got != 1 {
			t.Errorf("%d Info lines in 10 minutes, want 1", got)
		}
		// A new configuration: asked again at once.
		before := len(asked)
		self.wantAddrs()
		synctest.Wait()
		if _, asked := net.state(); len(asked) != before+1 {
			t.Errorf("a new configuration made %d asks at once, want 1", len(asked)-before)
		}
		close(self.stop)
		self.wg.Wait()
	})
}

// countingHandler counts log records by level.
type countingHandler struct {
	mu     sync.Mutex
	levels map[slog.Level]int
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *countingHandler) WithGroup(string) slog.Handler            { return h }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.levels == nil {
		h.levels = map[slog.Level]int{}
	}
	h.levels[r.Level]++
	return nil
}

func (h *countingHandler) count(l slog.Level) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.levels[l]
}
