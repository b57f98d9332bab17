package chaosnet

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/yggrdb/yggr/engine"

	"github.com/yggrdb/yggr/internal/node"
	"github.com/yggrdb/yggr/internal/testutil"
	"github.com/yggrdb/yggr/netquic"
)

// The runtime runs on an Endpoint as on a netquic.Transport.
var _ node.Network = (*Endpoint)(nil)

// sampleMessages holds one message of every type, with every field set.
func sampleMessages() []engine.Message {
	var ms []engine.Message
	for t := engine.MsgNone + 1; t.Valid(); t++ {
		ms = append(ms, engine.Message{Type: t, Term: 5, LastIndex: 17, LastTerm: 4, PrevIndex: 16, PrevTerm: 4,
			Entries: []engine.Entry{{Term: 5, Index: 17, Type: engine.EntryNormal, Data: []byte("x")}},
			Commit:  12, Index: 17, Context: uint64(t), Offset: 3, Data: []byte("chunk"), Done: true,
			Snapshot: engine.SnapshotMeta{Index: 9, Term: 2, Size: 4096,
				Membership: engine.NewMembership([]engine.NodeID{"n1", "n2", "n3"}, []engine.NodeID{"n4"})}})
	}
	return ms
}

func addressed(m engine.Message, from, to engine.NodeID) engine.Message {
	m.From, m.To = from, to
	return m
}

func sortMsgs(ms []engine.Message) {
	slices.SortFunc(ms, func(a, b engine.Message) int { return cmp.Compare(a.String(), b.String()) })
}

// recvUntil reads ep's Inbound until n messages matching keep arrived or
// the deadline passes.
func recvUntil(t testing.TB, ep *Endpoint, n int, timeout time.Duration, keep func(engine.Message) bool) []engine.Message {
	t.Helper()
	return testutil.Receive(t, ep.Inbound(), n, timeout, keep)
}

func newChaos(t *testing.T, seed uint64, ids ...engine.NodeID) (*Net, map[engine.NodeID]*Endpoint) {
	t.Helper()
	n := New(seed)
	t.Cleanup(func() { n.Close() })
	eps := map[engine.NodeID]*Endpoint{}
	for _, id := range ids {
		eps[id] = n.Endpoint(id)
	}
	return n, eps
}

func hb(from, to engine.NodeID, ctx uint64) engine.Message {
	return engine.Message{Type: engine.MsgHeartbeat, From: from, To: to, Term: 1, Context: ctx}
}

// contexts sends count heartbeats n1->n2 followed by a marker, and returns
// the Context of every heartbeat delivered before the marker.
func contexts(t *testing.T, eps map[engine.NodeID]*Endpoint, n *Net, count uint64) []uint64 {
	t.Helper()
	for i := range count {
		eps["n1"].Send(hb("n1", "n2", i))
	}
	n.SetDrop(0)
	n.SetDuplicate(0)
	n.SetDelay(0, 0)
	n.Heal()
	const marker = 1 << 40
	eps["n1"].Send(hb("n1", "n2", marker))
	var got []uint64
	for {
		m := recvUntil(t, eps["n2"], 1, 5*time.Second, nil)[0]
		if m.Context == marker {
			return got
		}
		got = append(got, m.Context)
	}
}

func TestChaosDeterministicDropAndDuplicate(t *testing.T) {
	run := func(seed uint64) []uint64 {
		n, eps := newChaos(t, seed, "n1", "n2")
		n.SetDrop(0.3)
		n.SetDuplicate(0.3)
		return contexts(t, eps, n, 300)
	}
	a, b, c := run(7), run(7), run(8)
	if d := gocmp.Diff(a, b); d != "" {
		t.Errorf("same seed, different deliveries (-first +second):\n%s", d)
	}
	if slices.Equal(a, c) {
		t.Error("different seeds gave identical deliveries")
	}
	distinct := slices.Compact(slices.Clone(a))
	if len(distinct) < 150 || len(distinct) > 250 {
		t.Errorf("delivered %d distinct of 300 with drop 0.3, want about 210", len(distinct))
	}
	if len(a) == len(distinct) {
		t.Error("no duplicates with duplicate probability 0.3")
	}
}

func TestChaosDelayReorders(t *testing.T) {
	n, eps := newChaos(t, 1, "n1", "n2")
	n.SetDelay(0, 20*time.Millisecond)
	for i := range uint64(50) {
		eps["n1"].Send(hb("n1", "n2", i))
	}
	got := recvUntil(t, eps["n2"], 50, 5*time.Second, nil)
	var ctxs []uint64
	for _, m := range got {
		ctxs = append(ctxs, m.Context)
	}
	if slices.IsSorted(ctxs) {
		t.Error("random delays did not reorder any message")
	}
	slices.Sort(ctxs)
	for i, c := range ctxs {
		if c != uint64(i) {
			t.Fatalf("messages lost or duplicated: %v", ctxs)
		}
	}
}

func TestChaosPartitionBlockCrash(t *testing.T) {
	n, eps := newChaos(t, 1, "n1", "n2", "n3")
	tests := []struct {
		name   string
		fault  func()
		from   engine.NodeID
		to     engine.NodeID
		wantOK bool
	}{
		{"partition across", func() { n.Partition([]engine.NodeID{"n1"}, []engine.NodeID{"n2", "n3"}) }, "n1", "n2", false},
		{"partition within", func() { n.Partition([]engine.NodeID{"n1"}, []engine.NodeID{"n2", "n3"}) }, "n2", "n3", true},
		{"unlisted nodes group together", func() { n.Partition([]engine.NodeID{"n1"}) }, "n2", "n3", true},
		{"block one way", func() { n.Block("n1", "n2") }, "n1", "n2", false},
		{"block other way open", func() { n.Block("n1", "n2") }, "n2", "n1", true},
		{"crashed receiver", func() { n.Crash("n2") }, "n1", "n2", false},
		{"crashed sender", func() { n.Crash("n1") }, "n1", "n2", false},
		{"restarted", func() { n.Crash("n2"); n.Restart("n2") }, "n1", "n2", true},
	}
	for i, tt := range tests {
		tt.fault()
		eps[tt.from].Send(hb(tt.from, tt.to, uint64(i)))
		n.Heal()
		n.Restart("n1")
		n.Restart("n2")
		eps[tt.from].Send(hb(tt.from, tt.to, 1000))
		got := recvUntil(t, eps[tt.to], 1, 5*time.Second, nil)[0]
		delivered := got.Context == uint64(i)
		if delivered {
			recvUntil(t, eps[tt.to], 1, 5*time.Second, nil) // the marker
		}
		if delivered != tt.wantOK {
			t.Errorf("%s: delivered %v, want %v", tt.name, delivered, tt.wantOK)
		}
	}
}

// A message sent before a partition and due after it is dropped. If the
// test stalls between the send and the partition for longer than the
// delay, the message may rightly arrive first: it is drained and sent
// again, a bounded number of times; one delivered although the partition
// came before it was due fails the test.
func TestChaosInFlightCutByPartition(t *testing.T) {
	n, eps := newChaos(t, 1, "n1", "n2")
	const delay = 50 * time.Millisecond
	n.SetDelay(delay, delay)
	const attempts = 5
	cutInFlight := false
	for i := uint64(1); i <= attempts; i++ {
		n.Heal()
		drops := eps["n1"].Metrics().Peers["n2"].Drops
		received := eps["n2"].Metrics().Peers["n1"].MessagesReceived
		sent := time.Now()
		eps["n1"].Send(hb("n1", "n2", i))
		n.Partition([]engine.NodeID{"n1"}, []engine.NodeID{"n2"})
		cut := time.Since(sent)
		var dropped bool
		testutil.WaitFor(t, "the in-flight message to be dropped (or delivered)", func() bool {
			dropped = eps["n1"].Metrics().Peers["n2"].Drops == drops+1
			return dropped || eps["n2"].Metrics().Peers["n1"].MessagesReceived == received+1
		})
		if dropped {
			cutInFlight = true
			break
		}
		if cut < delay {
			t.Fatalf("message %d was delivered although the partition came %v after its send, before it was due (%v)", i, cut, delay)
		}
		t.Logf("the partition came %v after the send of message %d, after it was due (%v): it was delivered; again", cut, i, delay)
		recvUntil(t, eps["n2"], 1, 5*time.Second, nil)
	}
	if !cutInFlight {
		t.Fatalf("in each of %d attempts the test stalled past the delay before the partition", attempts)
	}
	if got := contexts(t, eps, n, 0); len(got) != 0 {
		t.Errorf("message in flight across a new partition was delivered: %v", got)
	}
}

func TestChaosCall(t *testing.T) {
	n, eps := newChaos(t, 1, "n1", "n2")
	eps["n2"].SetCallHandler(func(ctx context.Context, from engine.NodeID, req []byte) ([]byte, error) {
		if string(req) == "fail" {
			return nil, errors.New("boom")
		}
		return append([]byte(from+":"), req...), nil
	})
	ctx := context.Background()
	if got, err := eps["n1"].Call(ctx, "n2", []byte("hi")); err != nil || string(got) != "n1:hi" {
		t.Errorf("call: got %q, %v; want \"n1:hi\"", got, err)
	}
	if _, err := eps["n1"].Call(ctx, "n2", []byte("fail")); !errors.Is(err, netquic.ErrRemote) {
		t.Errorf("failing handler: got %v, want ErrRemote", err)
	}
	if _, err := eps["n2"].Call(ctx, "n1", nil); !errors.Is(err, netquic.ErrNoHandler) {
		t.Errorf("no handler: got %v, want ErrNoHandler", err)
	}
	n.Block("n2", "n1") // the response cannot come back
	if _, err := eps["n1"].Call(ctx, "n2", []byte("hi")); !errors.Is(err, ErrUnreachable) {
		t.Errorf("blocked response: got %v, want ErrUnreachable", err)
	}
	n.Heal()
	n.SetDelay(time.Second, time.Second)
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := eps["n1"].Call(cctx, "n2", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow link: got %v, want DeadlineExceeded", err)
	}
	eps["n1"].RemovePeer("n2")
	if _, err := eps["n1"].Call(ctx, "n2", nil); !errors.Is(err, netquic.ErrUnknownPeer) {
		t.Errorf("removed peer: got %v, want ErrUnknownPeer", err)
	}
}

func TestChaosEncodesEveryKind(t *testing.T) {
	_, eps := newChaos(t, 1, "n1", "n2")
	var want []engine.Message
	for _, m := range sampleMessages() {
		m = addressed(m, "n1", "n2")
		eps["n1"].Send(m)
		want = append(want, m)
	}
	bad := engine.Message{Type: engine.MsgApp, From: "n1", To: "n2", Entries: []engine.Entry{{Type: 99}}}
	eps["n1"].Send(bad) // refused by the codec: dropped, never delivered
	got := recvUntil(t, eps["n2"], len(want), 5*time.Second, nil)
	sortMsgs(got)
	sortMsgs(want)
	if d := gocmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("delivered (-want +got):\n%s", d)
	}
	if d := eps["n1"].Metrics().Peers["n2"].Drops; d != 1 {
		t.Errorf("drops of unencodable message: got %d, want 1", d)
	}
}

func TestChaosEndpointRestart(t *testing.T) {
	n, eps := newChaos(t, 1, "n1", "n2")
	eps["n2"].Close()
	if _, ok := <-eps["n2"].Inbound(); ok {
		t.Fatal("closed endpoint's Inbound still open")
	}
	fresh := n.Endpoint("n2")
	eps["n1"].Send(hb("n1", "n2", 5))
	if got := recvUntil(t, fresh, 1, 5*time.Second, nil)[0]; got.Context != 5 {
		t.Errorf("got %v, want ctx 5", got)
	}
}
