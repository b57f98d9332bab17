package netquic

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/yggrdb/yggr/engine"

	"github.com/yggrdb/yggr/internal/testutil"
)

// lockedBuffer is a log sink that the transport's goroutines and the test
// share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newerProtocol is what a node of a later release with an incompatible
// wire format would offer.
const newerProtocol = "yggr/2"

// TestNewerClientRefused: a node that offers only a newer wire version is
// refused in the handshake; this node logs what it offered and counts it,
// and the newer node's dial fails with the no_application_protocol alert.
func TestNewerClientRefused(t *testing.T) {
	c := testCreds(t)
	var logs lockedBuffer
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
	for _, want := range []string{"refused peer", "offers=[" + newerProtocol + "]", "speaks=" + ALPN, "incompatible yggr release"} {
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
	var logs lockedBuffer
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
