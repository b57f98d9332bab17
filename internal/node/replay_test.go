package node

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// Start replays the committed log above the snapshot into the state
// machine itself, in pieces (replayLog): the state is complete when Start
// returns, however many pieces the log takes, and the node goes on from
// it.
func TestStartReplaysLogInPieces(t *testing.T) {
	defer func(b uint64) { replayPieceBytes = b }(replayPieceBytes)
	replayPieceBytes = 100 // a few entries a piece
	dir := t.TempDir()
	snapshotted(t, dir) // "abc", then a snapshot
	cfg := Config{ID: "n1", Dir: dir, ClusterID: "c1", StateMachine: &bytesMachine{}, TickInterval: time.Millisecond}
	n, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var want strings.Builder
	want.WriteString("abc")
	for i := range 60 {
		c := fmt.Sprintf("<%d>", i)
		want.WriteString(c)
		if _, _, err := n.Propose(ctx, []byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 { // and again, from what the first replay left
		m := &bytesMachine{}
		cfg.StateMachine = m
		n, err = Start(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(m.state); got != want.String() {
			t.Fatalf("state when Start returned:\n%q\nwant\n%q", got, want.String())
		}
		if _, _, err := n.Propose(ctx, []byte("!")); err != nil {
			t.Fatal(err)
		}
		want.WriteString("!")
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		if got := string(m.state); got != want.String() {
			t.Fatalf("state after a write following the replay: %q, want %q", got, want.String())
		}
	}
}
