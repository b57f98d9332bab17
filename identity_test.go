package yggr

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestIdentityRecord: yggr.json is written whole through a temporary file
// (what an interrupted write left is overwritten, never read), holds the
// node's identity, and a reopen as another node is refused by it.
func TestIdentityRecord(t *testing.T) {
	dir := t.TempDir()
	tmp := identityPath(dir) + ".tmp"
	if err := os.WriteFile(tmp, []byte(`{"id":"torn`), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := Open(dir, nil)
	if err != nil {
		t.Fatalf("Open beside a torn temporary record: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(identityPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	var got identity
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("yggr.json: %v", err)
	}
	if d := cmp.Diff(identity{ID: "n1"}, got); d != "" {
		t.Errorf("recorded identity (-want +got):\n%s", d)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("temporary record left behind: %v", err)
	}
	if _, err := Open(dir, nil, WithID("n2")); !errors.Is(err, ErrConfig) {
		t.Fatalf("reopen as n2: err = %v, want ErrConfig", err)
	}
	// A record that is not JSON is corruption, named as such.
	if err := os.WriteFile(identityPath(dir), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("empty yggr.json: err = %v, want ErrCorrupt", err)
	}
}

// TestIdentityOfFixtures: the committed data directories keep the identity
// they were created with across opens (format 1 has no yggr.json: the
// first open records one).
func TestIdentityOfFixtures(t *testing.T) {
	for _, fixture := range []string{"node-v1.tar.gz", "node-v2.tar.gz"} {
		t.Run(fixture, func(t *testing.T) {
			root := t.TempDir()
			untarFixture(t, filepath.Join("testdata", fixture), root)
			dir := filepath.Join(root, "node")
			before, _ := os.ReadFile(identityPath(dir))
			// Restarted from its data alone (node-v2 was created with an
			// address, so it listens: insecure for the test).
			db, err := Open(dir, nil, WithInsecure())
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			after, err := os.ReadFile(identityPath(dir))
			if err != nil {
				t.Fatal(err)
			}
			if before != nil && string(before) != string(after) {
				t.Errorf("yggr.json changed by a reopen:\n%s\nthen\n%s", before, after)
			}
			var got identity
			if err := json.Unmarshal(after, &got); err != nil || got.ID != "n1" {
				t.Errorf("yggr.json = %s (%v), want node n1", after, err)
			}
		})
	}
}

// TestFailedFirstOpenRecordsNothing: a first Open that fails (here its
// peer address is taken) leaves no identity behind, so the corrected
// retry is a first open too and records the peers it was given, not the
// mistaken ones.
func TestFailedFirstOpenRecordsNothing(t *testing.T) {
	dir := t.TempDir()
	taken, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	wrong := []string{"n1=" + taken.LocalAddr().String(), "n2=" + freeUDPAddr(t)}
	if db, err := Open(dir, wrong, WithID("n1"), WithInsecure()); err == nil {
		db.Close()
		t.Fatal("Open on a taken address succeeded")
	}
	if _, err := os.Stat(identityPath(dir)); !os.IsNotExist(err) {
		t.Fatalf("a failed first Open left %s: %v", identityPath(dir), err)
	}
	right := []string{"n1=" + freeUDPAddr(t), "n3=" + freeUDPAddr(t)}
	db, err := Open(dir, right, WithID("n1"), WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	data, err := os.ReadFile(identityPath(dir))
	if err != nil {
		t.Fatal(err)
	}
	var got identity
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(identity{ID: "n1", Peers: right}, got); d != "" {
		t.Errorf("recorded identity (-want +got):\n%s", d)
	}
}
