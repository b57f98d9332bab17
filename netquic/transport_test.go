package netquic

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/quic-go/quic-go"
	"go.uber.org/goleak"

	"github.com/yggrdb/yggr/engine"

	"github.com/yggrdb/yggr/internal/testutil"
)

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		os.Exit(m.Run()) // the fuzzing engine's own goroutines are not ours
	}
	goleak.VerifyTestMain(m)
}

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

func testLogger() *slog.Logger {
	if testing.Verbose() && os.Getenv("NETQUIC_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return quietLog
}

// creds is a cluster CA that issues node TLS configs.
type creds struct{ cert, key []byte }

var (
	sharedCredsOnce sync.Once
	sharedCreds     creds
)

func testCreds(t testing.TB) creds {
	sharedCredsOnce.Do(func() {
		c, k, err := NewCA("test")
		if err != nil {
			t.Fatal(err)
		}
		sharedCreds = creds{c, k}
	})
	return sharedCreds
}

func (c creds) nodePEM(t testing.TB, id engine.NodeID) (cert, key []byte) {
	t.Helper()
	cert, key, err := NewNodeCert(c.cert, c.key, id, []string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func (c creds) tls(t testing.TB, id engine.NodeID) *tls.Config {
	t.Helper()
	cert, key := c.nodePEM(t, id)
	tc, err := TLSConfig(c.cert, cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return tc
}

func listen(t testing.TB, cfg Config) *Transport {
	t.Helper()
	if cfg.ListenAddr == "" {
		cfg.ListenAddr = "127.0.0.1:0"
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	tr, err := Listen(cfg)
	if err != nil {
		t.Fatalf("Listen(%s): %v", cfg.ID, err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// startCluster starts one transport per id, each knowing all others.
func startCluster(t testing.TB, c creds, ids ...engine.NodeID) map[engine.NodeID]*Transport {
	t.Helper()
	ts := map[engine.NodeID]*Transport{}
	for _, id := range ids {
		ts[id] = listen(t, Config{ID: id, TLS: c.tls(t, id)})
	}
	for _, a := range ids {
		for _, b := range ids {
			if a != b {
				ts[a].SetPeer(b, ts[b].Addr())
			}
		}
	}
	return ts
}

// recvUntil reads tr's Inbound until n messages matching keep arrived or
// the deadline passes.
func recvUntil(t testing.TB, tr *Transport, n int, timeout time.Duration, keep func(engine.Message) bool) []engine.Message {
	t.Helper()
	return testutil.Receive(t, tr.Inbound(), n, timeout, keep)
}

func addressed(m engine.Message, from, to engine.NodeID) engine.Message {
	m.From, m.To = from, to
	return m
}

func sortMsgs(ms []engine.Message) {
	sort.Slice(ms, func(i, j int) bool {
		if ms[i].From != ms[j].From {
			return ms[i].From < ms[j].From
		}
		return ms[i].String() < ms[j].String()
	})
}

func TestExchangeEveryKind(t *testing.T) {
	ids := []engine.NodeID{"n1", "n2", "n3"}
	ts := startCluster(t, testCreds(t), ids...)
	samples := sampleMessages()
	want := map[engine.NodeID][]engine.Message{}
	for _, from := range ids {
		for _, to := range ids {
			if from == to {
				continue
			}
			for _, m := range samples {
				m = addressed(m, from, to)
				ts[from].Send(m)
				want[to] = append(want[to], m)
			}
		}
	}
	for _, id := range ids {
		defer func() {
			if t.Failed() {
				for _, id := range ids {
					t.Logf("%s metrics: %+v", id, ts[id].Metrics())
				}
			}
		}()
		got := recvUntil(t, ts[id], len(want[id]), 10*time.Second, nil)
		sortMsgs(got)
		sortMsgs(want[id])
		if d := cmp.Diff(want[id], got, equateEmpty); d != "" {
			t.Errorf("%s received (-want +got):\n%s", id, d)
		}
	}
	m := ts["n1"].Metrics()
	for _, id := range []engine.NodeID{"n2", "n3"} {
		pm := m.Peers[id]
		if pm.MessagesSent != uint64(len(samples)) || pm.MessagesReceived != uint64(len(samples)) || !pm.Connected || pm.Drops != 0 {
			t.Errorf("n1 metrics for %s: %+v, want %d sent and received, connected, no drops", id, pm, len(samples))
		}
	}
}

func TestCall(t *testing.T) {
	ts := startCluster(t, testCreds(t), "n1", "n2")
	ts["n2"].SetCallHandler(func(ctx context.Context, from engine.NodeID, req []byte) ([]byte, error) {
		switch string(req) {
		case "fail":
			return nil, errors.New("no leader")
		case "slow":
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return append([]byte(string(from)+":"), req...), nil
	})
	ctx := context.Background()
	big := bytes.Repeat([]byte("x"), 1<<20)
	tests := []struct {
		name    string
		to      engine.NodeID
		req     []byte
		want    []byte
		wantErr error
	}{
		{"echo", "n2", []byte("put k v"), []byte("n1:put k v"), nil},
		{"empty", "n2", nil, []byte("n1:"), nil},
		{"large", "n2", big, append([]byte("n1:"), big...), nil},
		{"handler error", "n2", []byte("fail"), nil, ErrRemote},
		{"unknown peer", "n9", []byte("x"), nil, ErrUnknownPeer},
	}
	for _, tt := range tests {
		got, err := ts["n1"].Call(ctx, tt.to, tt.req)
		if !errors.Is(err, tt.wantErr) || !bytes.Equal(got, tt.want) {
			t.Errorf("%s: got %.40q, %v; want %.40q, %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
	// No handler on n1.
	if _, err := ts["n2"].Call(ctx, "n1", []byte("x")); !errors.Is(err, ErrNoHandler) {
		t.Errorf("no handler: got %v, want ErrNoHandler", err)
	}
	// A cancelled ctx ends the wait and the handler's ctx.
	cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := ts["n1"].Call(cctx, "n2", []byte("slow")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow: got %v, want DeadlineExceeded", err)
	}
}

func TestPeerRestart(t *testing.T) {
	tests := []struct {
		name    string
		newKey  bool // the restarted node has a new key: no stateless reset
		crash   bool // no CONNECTION_CLOSE reaches the peer
		restart engine.NodeID
	}{
		{"graceful, higher id restarts", false, false, "n2"},
		{"graceful, new key, lower id restarts", true, false, "n1"},
		{"crash, same key, higher id restarts", false, true, "n2"},
		{"crash, same key, lower id restarts", false, true, "n1"},
		{"crash, new key, higher id restarts", true, true, "n2"},
		{"crash, new key, lower id restarts", true, true, "n1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testCreds(t)
			tlsOf := map[engine.NodeID]*tls.Config{"n1": c.tls(t, "n1"), "n2": c.tls(t, "n2")}
			n := map[engine.NodeID]*Transport{}
			for _, id := range []engine.NodeID{"n1", "n2"} {
				n[id] = listen(t, Config{ID: id, TLS: tlsOf[id]})
			}
			n["n1"].SetPeer("n2", n["n2"].Addr())
			n["n2"].SetPeer("n1", n["n1"].Addr())
			n["n1"].Send(engine.Message{Type: engine.MsgHeartbeat, From: "n1", To: "n2", Term: 1})
			recvUntil(t, n["n2"], 1, 5*time.Second, nil)
			n["n2"].Send(engine.Message{Type: engine.MsgHeartbeat, From: "n2", To: "n1", Term: 1})
			recvUntil(t, n["n1"], 1, 5*time.Second, nil)

			// Restart on the same address.
			r, other := tt.restart, engine.NodeID("n1")
			if r == "n1" {
				other = "n2"
			}
			addr := n[r].Addr()
			if tt.crash {
				n[r].udp.Close() // the goodbye cannot leave
			}
			n[r].Close()
			if tt.newKey {
				tlsOf[r] = c.tls(t, r)
			}
			n[r] = listen(t, Config{ID: r, TLS: tlsOf[r], ListenAddr: addr, Peers: map[engine.NodeID]string{other: n[other].Addr()}})
			start := time.Now()
			for _, dir := range [][2]engine.NodeID{{"n1", "n2"}, {"n2", "n1"}} {
				from, to := n[dir[0]], n[dir[1]]
				got := false
				deadline := time.Now().Add(20 * time.Second)
				for i := uint64(2); !got; i++ {
					if time.Now().After(deadline) {
						t.Fatalf("no message %s->%s after restart", dir[0], dir[1])
					}
					from.Send(engine.Message{Type: engine.MsgHeartbeat, From: dir[0], To: dir[1], Term: i})
					select {
					case <-to.Inbound():
						got = true
					case <-time.After(50 * time.Millisecond): // retransmit like Raft would
					}
				}
			}
			elapsed := time.Since(start)
			t.Logf("both directions flow %v after the restart", elapsed)
			if elapsed > idleTimeout/2 {
				t.Errorf("recovery took %v: stale connections waited for the idle timeout instead of being reset", elapsed)
			}
			if rc := n[other].Metrics().Peers[r].Reconnects; rc < 1 {
				t.Errorf("%s reconnects to %s: got %d, want >= 1", other, r, rc)
			}
		})
	}
}

func TestPeerDownBoundedQueue(t *testing.T) {
	c := testCreds(t)
	// A UDP socket that never answers stands in for a dead peer.
	dead, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	const queueLen = 64
	n1 := listen(t, Config{ID: "n1", TLS: c.tls(t, "n1"), QueueLen: queueLen})
	n2 := listen(t, Config{ID: "n2", TLS: c.tls(t, "n2")})
	n1.SetPeer("n2", n2.Addr())
	n1.SetPeer("n3", dead.LocalAddr().String())
	n1.Send(engine.Message{Type: engine.MsgHeartbeat, From: "n1", To: "n2", Term: 1})
	recvUntil(t, n2, 1, 5*time.Second, nil) // connected to the healthy peer

	// Flood the dead peer while heartbeating the healthy one: every
	// heartbeat must arrive promptly, and Send must never block.
	const flood, rounds = 20000, 50
	payload := make([]byte, 1024)
	var worst, sendTime time.Duration
	for r := range rounds {
		start := time.Now()
		for i := range flood / rounds {
			n1.Send(engine.Message{Type: engine.MsgApp, From: "n1", To: "n3", Term: 1, Entries: []engine.Entry{{Term: 1, Index: uint64(r*flood/rounds + i + 1), Data: payload}}})
		}
		sendTime += time.Since(start)
		start = time.Now()
		n1.Send(engine.Message{Type: engine.MsgHeartbeat, From: "n1", To: "n2", Term: 1, Context: uint64(r)})
		recvUntil(t, n2, 1, 2*time.Second, nil)
		worst = max(worst, time.Since(start))
	}
	t.Logf("%d sends to a dead peer took %v; worst heartbeat latency to the healthy peer %v", flood, sendTime, worst)
	if sendTime > 5*time.Second {
		t.Errorf("Send blocked: %d sends took %v", flood, sendTime)
	}
	pm := n1.Metrics().Peers["n3"]
	if pm.QueuedMessages > queueLen {
		t.Errorf("queue to dead peer holds %d messages, want <= %d", pm.QueuedMessages, queueLen)
	}
	if pm.Drops < flood-queueLen-1 {
		t.Errorf("drops to dead peer: got %d, want >= %d", pm.Drops, flood-queueLen-1)
	}
	if pm.Connected {
		t.Errorf("dead peer reported connected")
	}
}

func TestQueueDropsOldest(t *testing.T) {
	q := newSendQueue(3, 1<<20)
	var dropped int
	for i := range 5 {
		dropped += q.push(engine.Message{Index: uint64(i)})
	}
	got := q.popBatch(nil, 1<<20)
	var idx []uint64
	for _, m := range got {
		idx = append(idx, m.Index)
	}
	if d := cmp.Diff([]uint64{2, 3, 4}, idx); d != "" || dropped != 2 {
		t.Errorf("queue kept (-want +got):\n%s dropped %d, want 2", d, dropped)
	}
	q = newSendQueue(100, 3000)
	for range 10 {
		q.push(engine.Message{Data: make([]byte, 1000)})
	}
	if n := q.len(); n != 2 {
		t.Errorf("byte-bounded queue holds %d messages, want 2", n)
	}
}

// rawClient dials tr with an arbitrary TLS config, bypassing the
// transport's own checks, as an attacker or a misconfigured node would.
func rawClient(t *testing.T, addr string, tc *tls.Config) (*quic.Conn, error) {
	t.Helper()
	tc = tc.Clone()
	tc.NextProtos = []string{ALPN}
	tc.InsecureSkipVerify = true
	tc.VerifyConnection = nil
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return quic.DialAddr(ctx, addr, tc, &quic.Config{})
}

// sendRaw tries to deliver frames over c; errors are expected when c was
// refused.
func sendRaw(c *quic.Conn, frames ...[]byte) error {
	s, err := c.OpenUniStreamSync(context.Background())
	if err != nil {
		return err
	}
	for _, f := range frames {
		if _, err := s.Write(f); err != nil {
			return err
		}
	}
	return s.Close()
}

func frameOf(t *testing.T, m engine.Message) []byte {
	t.Helper()
	f, err := AppendMessage(nil, &m, 0)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestRefusedHandshakes(t *testing.T) {
	c := testCreds(t)
	other, err := func() (creds, error) { a, b, err := NewCA("other"); return creds{a, b}, err }()
	if err != nil {
		t.Fatal(err)
	}
	server := listen(t, Config{ID: "n1", TLS: c.tls(t, "n1")})
	noCert := c.tls(t, "n2").Clone()
	noCert.Certificates = nil
	tests := []struct {
		name string
		tc   *tls.Config
	}{
		{"no certificate", noCert},
		{"other CA", other.tls(t, "n2")},
		{"claims to be the server", c.tls(t, "n1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := server.Metrics().HandshakeFailures
			conn, err := rawClient(t, server.Addr(), tt.tc)
			if err == nil {
				// TLS 1.3: the client may finish before the server
				// refuses its certificate; the connection then dies.
				_ = sendRaw(conn, frameOf(t, engine.Message{Type: engine.MsgHeartbeat, From: "n2", To: "n1", Term: 1}))
				<-conn.Context().Done()
			}
			testutil.WaitFor(t, "server to count the refused handshake", func() bool {
				return server.Metrics().HandshakeFailures > before
			})
			select {
			case m := <-server.Inbound():
				t.Errorf("server received %v from a refused peer", m)
			default:
			}
		})
	}

	t.Run("dialed peer names another node", func(t *testing.T) {
		n3 := listen(t, Config{ID: "n3", TLS: c.tls(t, "n3")})
		server.SetPeer("n2", n3.Addr()) // n1 believes n2 lives there
		server.Send(engine.Message{Type: engine.MsgHeartbeat, From: "n1", To: "n2", Term: 1})
		testutil.WaitFor(t, "n1 to refuse n3 posing as n2", func() bool {
			return server.Metrics().Peers["n2"].HandshakeFailures > 0
		})
		if pm := server.Metrics().Peers["n2"]; pm.Connected || pm.MessagesSent != 0 {
			t.Errorf("n1 metrics for impostor: %+v, want not connected, nothing sent", pm)
		}
		server.RemovePeer("n2")
	})

	t.Run("forged sender", func(t *testing.T) {
		conn, err := rawClient(t, server.Addr(), c.tls(t, "n3"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.CloseWithError(0, "")
		forged := frameOf(t, engine.Message{Type: engine.MsgVote, From: "n2", To: "n1", Term: 9})
		honest := frameOf(t, engine.Message{Type: engine.MsgVote, From: "n3", To: "n1", Term: 9})
		if err := sendRaw(conn, forged, honest); err != nil {
			t.Fatal(err)
		}
		got := recvUntil(t, server, 1, 5*time.Second, nil)
		if got[0].From != "n3" {
			t.Errorf("got message from %s, want only the honest one from n3", got[0].From)
		}
		if n := server.Metrics().Peers["n3"].MismatchedFrom; n != 1 {
			t.Errorf("MismatchedFrom: got %d, want 1", n)
		}
	})
}

func TestBadFrames(t *testing.T) {
	c := testCreds(t)
	server := listen(t, Config{ID: "n1", TLS: c.tls(t, "n1")})
	conn, err := rawClient(t, server.Addr(), c.tls(t, "n2"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseWithError(0, "")
	good := frameOf(t, engine.Message{Type: engine.MsgHeartbeat, From: "n2", To: "n1", Term: 1})
	badBody := bytes.Clone(good)
	badBody[len(badBody)-1] = 0x07 // Done is not a bool
	// A bad body is skipped and the stream goes on.
	if err := sendRaw(conn, badBody, good); err != nil {
		t.Fatal(err)
	}
	recvUntil(t, server, 1, 5*time.Second, nil)
	if n := server.Metrics().Peers["n2"].BadFrames; n != 1 {
		t.Errorf("BadFrames: got %d, want 1", n)
	}
	// A peer that keeps sending bad frames is disconnected.
	for range maxBadFrames {
		_ = sendRaw(conn, []byte{9, 9, 9})
	}
	select {
	case <-conn.Context().Done():
	case <-time.After(5 * time.Second):
		t.Fatal("connection of a peer sending bad frames was not closed")
	}
	var ae *quic.ApplicationError
	if err := context.Cause(conn.Context()); !errors.As(err, &ae) || ae.ErrorCode != codeBadFrames {
		t.Errorf("close reason: got %v, want application error %d", err, codeBadFrames)
	}
}

func TestSecretCA(t *testing.T) {
	node := func(secret string, id engine.NodeID) *Transport {
		ca, key, err := CAFromSecret(secret)
		if err != nil {
			t.Fatal(err)
		}
		cert, nkey, err := NewNodeCert(ca, key, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		tc, err := TLSConfig(ca, cert, nkey)
		if err != nil {
			t.Fatal(err)
		}
		return listen(t, Config{ID: id, TLS: tc})
	}
	a1, _, _ := CAFromSecret("correct horse battery")
	a2, _, _ := CAFromSecret("correct horse battery")
	if !bytes.Equal(a1, a2) {
		t.Fatal("CAFromSecret is not deterministic")
	}
	if _, _, err := CAFromSecret("short"); err == nil {
		t.Error("CAFromSecret accepted a 5-byte secret")
	}
	n1, n2 := node("correct horse battery", "n1"), node("correct horse battery", "n2")
	n3 := node("wrong horse battery", "n3")
	for _, p := range []*Transport{n2, n3} {
		n1.SetPeer(p.ID(), p.Addr())
	}
	n1.Send(engine.Message{Type: engine.MsgHeartbeat, From: "n1", To: "n2", Term: 1})
	recvUntil(t, n2, 1, 5*time.Second, nil)
	n1.Send(engine.Message{Type: engine.MsgHeartbeat, From: "n1", To: "n3", Term: 1})
	testutil.WaitFor(t, "a different secret to be refused", func() bool {
		return n1.Metrics().Peers["n3"].HandshakeFailures > 0
	})
	select {
	case m := <-n3.Inbound():
		t.Errorf("node with another secret received %v", m)
	default:
	}
}

func TestInsecure(t *testing.T) {
	if _, err := Listen(Config{ID: "n1", ListenAddr: "127.0.0.1:0", Logger: quietLog}); !errors.Is(err, ErrNoTLS) {
		t.Errorf("no TLS: got %v, want ErrNoTLS", err)
	}
	n1 := listen(t, Config{ID: "n1", Insecure: true})
	n2 := listen(t, Config{ID: "n2", Insecure: true, Peers: map[engine.NodeID]string{"n1": n1.Addr()}})
	n2.Send(engine.Message{Type: engine.MsgVote, From: "n2", To: "n1", Term: 2})
	got := recvUntil(t, n1, 1, 5*time.Second, nil)
	if got[0].From != "n2" {
		t.Errorf("got from %s, want n2", got[0].From)
	}
}

func TestListenRefusesForeignCert(t *testing.T) {
	c := testCreds(t)
	_, err := Listen(Config{ID: "n1", ListenAddr: "127.0.0.1:0", TLS: c.tls(t, "n2"), Logger: quietLog})
	if !errors.Is(err, ErrPeerMismatch) {
		t.Errorf("got %v, want ErrPeerMismatch", err)
	}
}

func TestSetPeerAndRemovePeer(t *testing.T) {
	c := testCreds(t)
	n1 := listen(t, Config{ID: "n1", TLS: c.tls(t, "n1")})
	n2 := listen(t, Config{ID: "n2", TLS: c.tls(t, "n2")})
	n1.SetPeer("n2", "127.0.0.1:1") // wrong address first
	n1.SetPeer("n2", n2.Addr())
	n1.Send(engine.Message{Type: engine.MsgHeartbeat, From: "n1", To: "n2", Term: 1})
	recvUntil(t, n2, 1, 5*time.Second, nil)
	n1.RemovePeer("n2")
	n1.Send(engine.Message{Type: engine.MsgHeartbeat, From: "n1", To: "n2", Term: 2})
	if got := n1.Metrics().UnknownPeerDrops; got != 1 {
		t.Errorf("UnknownPeerDrops: got %d, want 1", got)
	}
	if _, ok := n1.Metrics().Peers["n2"]; ok {
		t.Error("removed peer still in metrics")
	}
}

func TestCloseIdempotentAndClosesInbound(t *testing.T) {
	ts := startCluster(t, testCreds(t), "n1", "n2")
	ts["n1"].Send(engine.Message{Type: engine.MsgHeartbeat, From: "n1", To: "n2", Term: 1})
	recvUntil(t, ts["n2"], 1, 5*time.Second, nil)
	for range 2 {
		if err := ts["n2"].Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := <-ts["n2"].Inbound(); ok {
		t.Error("Inbound not closed after Close")
	}
	if _, err := ts["n2"].Call(context.Background(), "n1", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Call after Close: got %v, want ErrClosed", err)
	}
	ts["n2"].Send(engine.Message{Type: engine.MsgHeartbeat, From: "n2", To: "n1"}) // must not panic or block
}

// A node that learns of a peer only from its connection (no address yet,
// as with a joining node) answers on that connection.
func TestReplyToPeerWithoutAddress(t *testing.T) {
	c := testCreds(t)
	n1 := listen(t, Config{ID: "n1", TLS: c.tls(t, "n1")})
	n4 := listen(t, Config{ID: "n4", TLS: c.tls(t, "n4"), Peers: map[engine.NodeID]string{"n1": n1.Addr()}})
	n4.Send(engine.Message{Type: engine.MsgReadIndex, From: "n4", To: "n1", Term: 1, Context: 3})
	recvUntil(t, n1, 1, 5*time.Second, nil)
	n1.Send(engine.Message{Type: engine.MsgReadIndexResp, From: "n1", To: "n4", Term: 1, Context: 3, Index: 9})
	got := recvUntil(t, n4, 1, 5*time.Second, nil)[0]
	if got.Type != engine.MsgReadIndexResp || got.Index != 9 {
		t.Errorf("got %v, want the read index response", got)
	}
	if pm := n1.Metrics().Peers["n4"]; pm.Addr != "" || !pm.Connected {
		t.Errorf("n1's view of n4: %+v, want no address, connected", pm)
	}
}

// TestRestartedPeerGetsQueuedMessagesAtOnce: while a peer is down, the
// redial backoff grows toward backoffMax; when it comes back it connects
// eagerly, and what was queued for it flows on that connection at once
// instead of after the rest of the backoff.
//
// The message is retransmitted until it arrives, as Raft would: delivery
// is at most once, and under load the first copy can be lost. n2's first
// incarnation may leave a connection in n1's accept queue (its own eager
// dial, which n1's side completed while n1's acceptLoop was not scheduled);
// n1 adopts it after the old connection died and before it processes the
// close n2 sent on it (or, if n2's Close destroyed the dial silently,
// before the restarted n2 resets it), and drains the queue into it.
func TestRestartedPeerGetsQueuedMessagesAtOnce(t *testing.T) {
	c := testCreds(t)
	n1 := listen(t, Config{ID: "n1", TLS: c.tls(t, "n1")})
	n2 := listen(t, Config{ID: "n2", TLS: c.tls(t, "n2")})
	n1.SetPeer("n2", n2.Addr())
	n2.SetPeer("n1", n1.Addr())
	n1.Send(engine.Message{Type: engine.MsgHeartbeat, From: "n1", To: "n2", Term: 1})
	recvUntil(t, n2, 1, 5*time.Second, nil)
	addr := n2.Addr()
	n2.Close()
	p := n1.peer("n2")
	testutil.WaitFor(t, "n1 to see n2's connection close", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return !alive(p.conn)
	})
	// As if n1 had been failing to reach n2 for a long time: its next dial
	// waits far longer than the test (growing the backoff for real costs
	// handshakeTimeout per failed dial). Only n2's own connection can get
	// the message through in time.
	p.mu.Lock()
	p.backoff = time.Hour
	p.mu.Unlock()
	n1.Send(engine.Message{Type: engine.MsgApp, From: "n1", To: "n2", Term: 3, Index: 7})
	n2 = listen(t, Config{ID: "n2", TLS: c.tls(t, "n2"), ListenAddr: addr, Peers: map[engine.NodeID]string{"n1": n1.Addr()}})
	// The backoff stays an hour: every copy still needs n2's own
	// connection.
	deadline := time.Now().Add(10 * time.Second)
	for got := false; !got; {
		if time.Now().After(deadline) {
			t.Fatal("the restarted n2 got no MsgApp within 10s")
		}
		select {
		case m, ok := <-n2.Inbound():
			if !ok {
				t.Fatal("n2's Inbound closed")
			}
			got = m.Type == engine.MsgApp
		case <-time.After(200 * time.Millisecond):
			n1.Send(engine.Message{Type: engine.MsgApp, From: "n1", To: "n2", Term: 3, Index: 7})
		}
	}
}
