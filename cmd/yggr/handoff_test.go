package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// A leader asked to stop (SIGTERM) hands its leadership to another voter
// before it exits, and says so; the others do not.
func TestServeLeaderHandsOffOnStop(t *testing.T) {
	t.Parallel()
	nodes, err := newLocalNodes(yggrBin, t.TempDir(), 3, "handoff-test-secret")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		n.args = append(n.args, "--log-level", "info") // the last flag wins
		if err := n.start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.kill() })
	}
	for _, n := range nodes {
		waitReady(t, n, 30*time.Second)
	}
	all := nodes[0].httpAddr + "," + nodes[1].httpAddr + "," + nodes[2].httpAddr
	cl := testClient(t, strings.Split(all, ",")...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cl.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	st, err := cl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var leader, follower *localNode
	for _, n := range nodes {
		switch {
		case n.id == st.Leader:
			leader = n
		case follower == nil:
			follower = n
		}
	}
	if leader == nil {
		t.Fatalf("no node is the leader %q", st.Leader)
	}
	if err := follower.stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := leader.stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	const said = "handed leadership to another voter before stopping"
	if log := readLog(t, follower); strings.Contains(log, said) || strings.Contains(log, "could not hand leadership") {
		t.Errorf("a follower tried to hand leadership off; its log:\n%s", follower.logTail(20))
	}
	// With one of the two others already stopped, the hand-off goes to
	// the last one, which then leads alone (no majority: it cannot
	// commit, but it is the leader the transfer made).
	if log := readLog(t, leader); !strings.Contains(log, said) {
		t.Errorf("the stopped leader did not hand leadership off; its log:\n%s", leader.logTail(20))
	}
}

func readLog(t *testing.T, n *localNode) string {
	t.Helper()
	b, err := os.ReadFile(n.logPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
