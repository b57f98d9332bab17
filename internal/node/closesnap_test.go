package node

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/yggrdb/yggr/internal/diskfault"
	"github.com/yggrdb/yggr/internal/testutil"
)

// pieceMachine is bytesMachine with a snapshot image written 4 KiB at a
// time, as the kv store writes its items.
type pieceMachine struct{ bytesMachine }

type pieceImage []byte

func (p pieceImage) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for b := []byte(p); len(b) > 0; {
		k, err := w.Write(b[:min(len(b), 4<<10)])
		n += int64(k)
		if err != nil {
			return n, err
		}
		b = b[k:]
	}
	return n, nil
}

func (m *pieceMachine) Snapshot() (io.WriterTo, error) { return pieceImage(bytes.Clone(m.state)), nil }

// Close lets a snapshot in progress finish for closeSnapshotBudget, then
// abandons it: nothing of it is published, one log line says so, and the
// next Start replays the log it would have covered.
func TestCloseAbandonsASlowSnapshot(t *testing.T) {
	defer func(d time.Duration) { closeSnapshotBudget = d }(closeSnapshotBudget)
	closeSnapshotBudget = 0
	dir := t.TempDir()
	logs := &testutil.LogBuffer{}
	cfg := Config{ID: "n1", Dir: dir, ClusterID: "c1", StateMachine: &pieceMachine{}, TickInterval: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	n, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var want bytes.Buffer
	for i := range 64 { // 2 MiB of state: two snapshot chunks and more
		c := bytes.Repeat([]byte{byte('a' + i%26)}, 32<<10)
		want.Write(c)
		if _, _, err := n.Propose(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	// The snapshot's first chunk write waits for Close to begin.
	started := make(chan struct{})
	var once sync.Once
	defer diskfault.Set(func(op diskfault.Op, path string) error {
		if op == diskfault.SnapshotWrite && strings.HasPrefix(path, dir) {
			once.Do(func() { close(started) })
			<-n.stop
		}
		return nil
	})()
	snapErr := make(chan error, 1)
	go func() {
		_, err := n.Snapshot(ctx)
		snapErr <- err
	}()
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the snapshot never wrote a chunk")
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-snapErr; err == nil {
		t.Fatal("Snapshot succeeded though Close abandoned it")
	}
	if got := strings.Count(logs.String(), "snapshot abandoned"); got != 1 {
		t.Fatalf("log lines saying the snapshot was abandoned: %d, want 1; log:\n%s", got, logs)
	}

	m := &pieceMachine{}
	cfg.StateMachine = m
	n, err = Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if latest, ok := n.snaps.Latest(); ok {
		t.Fatalf("snapshot %s published though it was abandoned", latest)
	}
	if !bytes.Equal(m.state, want.Bytes()) {
		t.Fatalf("state after the restart: %d bytes, want the %d written", len(m.state), want.Len())
	}
}
