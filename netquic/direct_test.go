package netquic

import (
	"testing"
	"time"

	"github.com/yggrdb/yggr/engine"
)

// Messages Send writes itself (small ones, nothing queued) and messages
// its send loop writes (large ones, and whatever comes while it writes)
// share one stream and arrive in the order they were sent.
func TestDirectSendKeepsOrder(t *testing.T) {
	ts := startCluster(t, testCreds(t), "n1", "n2")
	n1, n2 := ts["n1"], ts["n2"]
	settleDirect(t, n1, n2)

	// In rounds of 100 (four of them large), each received before the
	// next is sent, so that the queue never overflows.
	const rounds, per = 30, 100
	big := make([]byte, 4*directMaxBytes)
	for r := range rounds {
		for k := range per {
			i := uint64(r*per + k)
			m := engine.Message{Type: engine.MsgHeartbeat, From: "n1", To: "n2", Term: 1, Commit: i}
			if k%25 == 10 {
				m = engine.Message{Type: engine.MsgApp, From: "n1", To: "n2", Term: 1, PrevIndex: i, PrevTerm: 1, Commit: i,
					Entries: []engine.Entry{{Term: 1, Index: i + 1, Data: big}}}
			}
			n1.Send(m)
		}
		got := recvUntil(t, n2, per, 10*time.Second, nil)
		for k, m := range got {
			if want := uint64(r*per + k); m.Commit != want {
				t.Fatalf("message %d has commit %d: out of order or lost (%s)", want, m.Commit, m.String())
			}
		}
	}
	pm := n1.Metrics().Peers["n2"]
	t.Logf("direct %d of %d sent", pm.DirectSent, pm.MessagesSent)
	if pm.DirectSent == 0 || pm.DirectSent >= pm.MessagesSent {
		t.Errorf("direct writes: %d of %d messages; want some, not all (the large ones are the send loop's)", pm.DirectSent, pm.MessagesSent)
	}
	if pm.Drops != 0 {
		t.Errorf("drops: %d", pm.Drops)
	}
}

// A peer that stops reading exhausts its stream's flow-control credit:
// direct writes then stop at once (TryWriteAll never blocks), the queue
// takes over and drops its oldest when full, and Send never blocks.
func TestDirectSendNeverBlocks(t *testing.T) {
	ts := startCluster(t, testCreds(t), "n1", "n2")
	n1, n2 := ts["n1"], ts["n2"]
	settleDirect(t, n1, n2)
	before := n1.Metrics().Peers["n2"].DirectSent
	// n2's Inbound is not read from here on: its stream readers block,
	// and so does n1's flow-control credit.

	const n = 20000 // 80 MiB of 4 KiB entries: far beyond QUIC's windows
	data := make([]byte, directMaxBytes/2)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			n1.Send(engine.Message{Type: engine.MsgApp, From: "n1", To: "n2", Term: 1, PrevIndex: uint64(i), PrevTerm: 1,
				Entries: []engine.Entry{{Term: 1, Index: uint64(i + 1), Data: data}}})
		}
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("Send blocked on a peer that does not read")
	}
	pm := n1.Metrics().Peers["n2"]
	t.Logf("direct %d, sent %d, drops %d, queued %d", pm.DirectSent, pm.MessagesSent, pm.Drops, pm.QueuedMessages)
	if pm.DirectSent <= before {
		t.Error("no direct write while the peer still had credit")
	}
	if pm.Drops == 0 {
		t.Error("no drops: the peer was reading after all, or the queue is unbounded")
	}
}

// A direct write goes only onto a stream of the peer's current
// connection: once another replaced it (a retired duplicate gets nothing
// new), messages go through the send loop, which moves to the current one.
func TestDirectSendOnlyOnTheCurrentConnection(t *testing.T) {
	ts := startCluster(t, testCreds(t), "n1", "n2")
	n1, n2 := ts["n1"], ts["n2"]
	hb := func(i uint64) engine.Message {
		return engine.Message{Type: engine.MsgHeartbeat, From: "n1", To: "n2", Term: 1, Commit: i}
	}
	p := n1.peer("n2")
	settleDirect(t, n1, n2)
	before := p.directSent.Load()
	p.mu.Lock()
	p.current.Store(nil) // as if another connection had replaced it
	p.mu.Unlock()
	n1.Send(hb(2))
	if got := recvUntil(t, n2, 1, 5*time.Second, nil); got[0].Commit != 2 {
		t.Fatalf("got %s", got[0].String())
	}
	if after := p.directSent.Load(); after != before {
		t.Errorf("%d direct writes onto a connection that is not the current one", after-before)
	}
}

// settleDirect sends heartbeats from a to b, each received, until one went
// direct: until the connections settle (both ends dial at first, and one
// of the two is retired) the send loop may write them.
func settleDirect(t *testing.T, a, b *Transport) {
	t.Helper()
	p := a.peer(b.ID())
	deadline := time.Now().Add(10 * time.Second)
	for i := uint64(0); p.directSent.Load() == 0; i++ {
		if time.Now().After(deadline) {
			t.Fatal("no direct write within 10 s of heartbeats")
		}
		a.Send(engine.Message{Type: engine.MsgHeartbeat, From: a.ID(), To: b.ID(), Term: 1, Commit: 1000 + i})
		recvUntil(t, b, 1, 5*time.Second, nil)
	}
}
