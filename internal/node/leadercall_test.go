package node

import (
	"context"
	"errors"
	"testing"

	"github.com/yggrdb/yggr/engine"
)

// A forwarded leader call reaches the handler only on the leader; a node
// that no longer leads answers NotLeader (which the caller retries at the
// leader it names) without running the handler.
func TestHandleLeaderCall(t *testing.T) {
	calls := 0
	n := &Node{addrs: &addrBook{addrs: map[engine.NodeID]string{"n2": "127.0.0.1:7"}}}
	n.cfg.LeaderCall = func(_ context.Context, req []byte) ([]byte, error) {
		calls++
		return append([]byte("re:"), req...), nil
	}
	n.status.Store(&engine.Status{Role: engine.Follower, Leader: "n2"})
	resp, err := n.handleCall(context.Background(), "n3", append([]byte{callLeader}, "ka"...))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = n.decodeResponse(resp)
	var nl *NotLeaderError
	if !errors.As(err, &nl) || nl.Leader != "n2" || calls != 0 {
		t.Fatalf("follower: err %v, handler calls %d; want NotLeader(n2) and no call", err, calls)
	}
	n.status.Store(&engine.Status{Role: engine.Leader, Leader: "n1"})
	resp, err = n.handleCall(context.Background(), "n3", append([]byte{callLeader}, "ka"...))
	if err != nil {
		t.Fatal(err)
	}
	data, _, err := n.decodeResponse(resp)
	if err != nil || string(data) != "re:ka" || calls != 1 {
		t.Fatalf("leader: %q, %v, calls %d; want re:ka from one call", data, err, calls)
	}
	// Without a handler, a call is an error, not a panic.
	n.cfg.LeaderCall = nil
	if _, err := n.CallLeader(context.Background(), []byte("x")); err == nil {
		t.Fatal("CallLeader without a handler succeeded")
	}
}
