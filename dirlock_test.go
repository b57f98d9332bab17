package yggr

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestOpenDirInUse: a second Open of a directory in use fails with
// ErrConfig, in yggr's words, naming the holder's PID, before its
// transport listens (so not with "address already in use" from a second
// listener on the same peer address); once the first is closed the
// directory opens again.
func TestOpenDirInUse(t *testing.T) {
	dir := t.TempDir()
	addr := freeUDPAddr(t)
	peers := []string{"n1=" + addr}
	db, err := Open(dir, peers, WithID("n1"), WithInsecure(), WithUnsafeNoSync())
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir, peers, WithID("n1"), WithInsecure(), WithUnsafeNoSync())
	want := fmt.Sprintf("data directory %s is in use by another process (pid %d)", dir, os.Getpid())
	if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), want) {
		t.Errorf("second Open: got %v, want ErrConfig saying %q", err, want)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(dir, peers, WithID("n1"), WithInsecure(), WithUnsafeNoSync())
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}
