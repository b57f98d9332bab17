package netquic

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/quic-go/quic-go"

	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/testutil"
)

// newerProtocol is what a node of a later release with an incompatible
// wire format would offer.
const newerProtocol = "yggr/3"

// TestNewerClientRefused: a node that offers only a newer wire version is
// refused in the handshake; this node logs what it offered and counts it,
// and the newer node's dial fails with the no_application_protocol alert.
func TestNewerClientRefused(t *testing.T) {
	c := testCreds(t)
	var logs testutil.LogBuffer
	server := listen(t, Config{ID: "n1", TLS: c.tls(t, "n1"), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	tc := c.tls(t, "n2").Clone()
	tc.NextProtos = []string{newerProtocol}
	tc.InsecureSkipVerify = true
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := quic.DialAddr(ctx, server.Addr(), tc, &quic.Config{})
	if err == nil {
		conn.CloseWithError(0, "")
		t.Fatal("a client offering only " + newerProtocol + " completed the handshake")
	}
	var te *quic.TransportError
	if !errors.As(err, &te) || te.ErrorCode != quic.TransportErrorCode(0x100+tlsAlertNoApplicationProtocol) {
		t.Errorf("dial error = %v, want the no_application_protocol alert", err)
	}
	testutil.WaitFor(t, "the refusal to be counted", func() bool { return server.Metrics().HandshakeFailures > 0 })
	log := logs.String()
	for _, want := range []string{"refused peer", "offers=[" + newerProtocol + "]", `speaks="[` + ALPN + " " + alpnV1 + `]"`, "incompatible yggr release"} {
		if !strings.Contains(log, want) {
			t.Errorf("server log lacks %q:\n%s", want, log)
		}
	}
}

// TestNewerServerRefused: dialing a node that speaks only a newer wire
// version fails with ErrWireVersion, logged with the peer's ID and address,
// and counted as a handshake failure of that peer.
func TestNewerServerRefused(t *testing.T) {
	c := testCreds(t)
	tc := c.tls(t, "n2").Clone()
	tc.NextProtos = []string{newerProtocol}
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	qt := &quic.Transport{Conn: udp}
	defer udp.Close()
	defer qt.Close()
	ln, err := qt.Listen(tc, &quic.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var logs testutil.LogBuffer
	client := listen(t, Config{ID: "n1", TLS: c.tls(t, "n1"), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	client.SetPeer("n2", ln.Addr().String())
	client.Send(engine.Message{Type: engine.MsgHeartbeat, From: "n1", To: "n2", Term: 1})
	testutil.WaitFor(t, "the refused dial to be counted", func() bool {
		return client.Metrics().HandshakeFailures > 0 && strings.Contains(logs.String(), "refused by peer")
	})
	log := logs.String()
	for _, want := range []string{"peer=n2", "addr=" + ln.Addr().String(), ErrWireVersion.Error()} {
		if !strings.Contains(log, want) {
			t.Errorf("client log lacks %q:\n%s", want, log)
		}
	}
}

// olderRelease is a node of the previous release: it offers only
// wire version 1.
func olderRelease(t *testing.T, c creds, id engine.NodeID) *Transport {
	return listen(t, Config{ID: id, TLS: c.tls(t, id), protocols: []string{alpnV1}})
}

// connProtocol returns the protocol tr's connection to peer negotiated,
// once it has one.
func connProtocol(t *testing.T, tr *Transport, peer engine.NodeID) string {
	t.Helper()
	var proto string
	testutil.WaitFor(t, "a connection to "+string(peer), func() bool {
		p := tr.peer(peer)
		if p == nil {
			return false
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if !alive(p.conn) {
			return false
		}
		proto = p.conn.ConnectionState().TLS.NegotiatedProtocol
		return true
	})
	return proto
}

// TestOlderReleaseInterop: a node of this release and one that offers only
// yggr/1 (the previous release) connect whichever of them dials, speak
// wire version 1, and exchange every kind of message, the snapshot chunks
// included, and calls, both ways. Two nodes of this release speak
// version 2.
func TestOlderReleaseInterop(t *testing.T) {
	c := testCreds(t)
	samples := sampleMessages()
	for _, tt := range []struct {
		name   string
		dialer engine.NodeID // the only node that knows the other's address
	}{
		{"new dials old", "n1"},
		{"old dials new", "n2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts := map[engine.NodeID]*Transport{"n1": listen(t, Config{ID: "n1", TLS: c.tls(t, "n1")}), "n2": olderRelease(t, c, "n2")}
			other := map[engine.NodeID]engine.NodeID{"n1": "n2", "n2": "n1"}
			ts[tt.dialer].SetPeer(other[tt.dialer], ts[other[tt.dialer]].Addr())
			// The dialer speaks first; the other node learns of it from
			// the connection.
			first := addressed(samples["heartbeat"], tt.dialer, other[tt.dialer])
			ts[tt.dialer].Send(first)
			recvUntil(t, ts[other[tt.dialer]], 1, 10*time.Second, nil)
			for id, tr := range ts {
				if got := connProtocol(t, tr, other[id]); got != alpnV1 {
					t.Fatalf("%s's connection negotiated %q, want %q", id, got, alpnV1)
				}
				if pm := tr.Metrics().Peers[other[id]]; !pm.Connected || pm.WireVersion != 1 {
					t.Errorf("%s's metrics of %s: connected %v, wire version %d, want connected, 1", id, other[id], pm.Connected, pm.WireVersion)
				}
			}
			for from, to := range other {
				var want []engine.Message
				for _, m := range samples {
					m = addressed(m, from, to)
					ts[from].Send(m)
					want = append(want, m)
				}
				got := recvUntil(t, ts[to], len(want), 10*time.Second, nil)
				sortMsgs(got)
				sortMsgs(want)
				if d := cmp.Diff(want, got, equateEmpty); d != "" {
					t.Errorf("%s received from %s (-want +got):\n%s", to, from, d)
				}
				ts[to].SetCallHandler(func(ctx context.Context, from engine.NodeID, req []byte) ([]byte, error) {
					return append([]byte(string(from)+":"), req...), nil
				})
				resp, err := ts[from].Call(context.Background(), to, []byte("ping"))
				if want := string(from) + ":ping"; err != nil || string(resp) != want {
					t.Errorf("call %s -> %s: %q, %v, want %q", from, to, resp, err, want)
				}
			}
			for id, tr := range ts {
				if pm := tr.Metrics().Peers[other[id]]; pm.BadFrames != 0 || pm.Drops != 0 {
					t.Errorf("%s metrics: %+v, want no bad frames or drops", id, pm)
				}
			}
		})
	}
	t.Run("same release", func(t *testing.T) {
		ts := startCluster(t, c, "n1", "n2")
		ts["n1"].Send(samples["snap"])
		got := recvUntil(t, ts["n2"], 1, 10*time.Second, nil)
		if d := cmp.Diff(samples["snap"], got[0], equateEmpty); d != "" {
			t.Errorf("snapshot chunk (-want +got):\n%s", d)
		}
		if got := connProtocol(t, ts["n1"], "n2"); got != ALPN {
			t.Errorf("connection negotiated %q, want %q", got, ALPN)
		}
		if pm := ts["n1"].Metrics().Peers["n2"]; !pm.Connected || pm.WireVersion != Version {
			t.Errorf("n1's metrics of n2: connected %v, wire version %d, want connected, %d", pm.Connected, pm.WireVersion, Version)
		}
	})
}

// TestVersion1GoldensOnVersion1Connection: the version 1 golden frames,
// the bytes nodes of the previous release send, are delivered when they
// arrive on a connection that negotiated yggr/1, and are bad frames on one
// that negotiated yggr/2.
func TestVersion1GoldensOnVersion1Connection(t *testing.T) {
	c := testCreds(t)
	server := listen(t, Config{ID: "n2", TLS: c.tls(t, "n2")})
	var frames [][]byte
	var want []engine.Message
	for name, m := range sampleMessages() {
		if name == "max-values" || m.From != "n1" {
			continue // the client is n1
		}
		frames = append(frames, readGolden(t, goldenPath(versionV1, "msg-"+name)))
		want = append(want, m)
	}
	dial := func(proto string) *quic.Conn {
		tc := c.tls(t, "n1").Clone()
		tc.NextProtos = []string{proto}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := quic.DialAddr(ctx, server.Addr(), tc, &quic.Config{})
		if err != nil {
			t.Fatal(err)
		}
		if got := conn.ConnectionState().TLS.NegotiatedProtocol; got != proto {
			t.Fatalf("negotiated %q, want %q", got, proto)
		}
		return conn
	}
	v1 := dial(alpnV1)
	defer v1.CloseWithError(0, "")
	if err := sendRaw(v1, frames...); err != nil {
		t.Fatal(err)
	}
	got := recvUntil(t, server, len(want), 10*time.Second, nil)
	sortMsgs(got)
	sortMsgs(want)
	if d := cmp.Diff(want, got, equateEmpty); d != "" {
		t.Errorf("received (-want +got):\n%s", d)
	}
	v1.CloseWithError(0, "")
	v2 := dial(ALPN)
	defer v2.CloseWithError(0, "")
	// The server abandons the stream at the bad header, which may fail
	// the write.
	_ = sendRaw(v2, frames[0])
	testutil.WaitFor(t, "the version 1 frame on a version 2 connection to be counted", func() bool {
		return server.Metrics().Peers["n1"].BadFrames == 1
	})
}
