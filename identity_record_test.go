package yggr

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestIdentityOneHome: a directory this release creates records the
// node's identity in yggr.json alone (its log is of format 3, which has no
// identity record). Edited, yggr.json is obeyed (the log holds no other
// record to contradict it); lost, the directory is refused as corrupt,
// with an error naming the file, rather than adopted by whatever ID the
// next Open is given.
func TestIdentityOneHome(t *testing.T) {
	dir := t.TempDir()
	ctx := testCtx(t)
	db, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if format, id := logFormat(t, dir); format != 3 || id {
		t.Errorf("a new directory: log format %d, identity record %v; want format 3 without one", format, id)
	}

	writeIdentityJSON(t, dir, identity{ID: "n2"})
	if _, err := Open(dir, nil); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), `"n2"`) {
		t.Fatalf("Open as n1 after yggr.json says n2: err = %v, want ErrConfig naming n2", err)
	}
	db, err = Open(dir, nil, WithID("n2"))
	if err != nil {
		t.Fatalf("Open as n2, as yggr.json says: %v", err)
	}
	if got := db.Status().ID; got != "n2" {
		t.Errorf("Status().ID = %q, want n2 (from yggr.json)", got)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	if err := os.Remove(identityPath(dir)); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"n1", "n2"} {
		_, err := Open(dir, nil, WithID(id))
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), identityPath(dir)) {
			t.Fatalf("Open as %s without yggr.json: err = %v, want ErrCorrupt naming %s", id, err, identityPath(dir))
		}
		if _, err := os.Stat(identityPath(dir)); !os.IsNotExist(err) {
			t.Fatalf("a refused Open as %s recorded an identity: %v", id, err)
		}
	}
}

// TestIdentityOfEarlierReleases: the committed fixtures hold the identity
// record earlier releases wrote in the log, beside their yggr.json. It is
// checked against yggr.json and the options on every open: a different
// node ID, in yggr.json or (yggr.json gone) in the options, is refused
// with ErrConfig naming both IDs, and records nothing; with the right ID
// the directory opens, with or without its yggr.json.
func TestIdentityOfEarlierReleases(t *testing.T) {
	for _, fixture := range []string{"node-v1.tar.gz", "node-v2.tar.gz"} {
		t.Run(fixture, func(t *testing.T) {
			root := t.TempDir()
			untarFixture(t, filepath.Join("testdata", fixture), root)
			dir := filepath.Join(root, "node")
			original, err := os.ReadFile(identityPath(dir))
			if err != nil {
				t.Fatal(err)
			}
			refused := func(what string) {
				t.Helper()
				_, err := Open(dir, nil, WithID("n2"), WithInsecure())
				if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), `node "n1"`) || !strings.Contains(err.Error(), `node "n2"`) {
					t.Fatalf("%s: Open as n2: err = %v, want ErrConfig naming node n1 and node n2", what, err)
				}
			}

			var id identity
			if err := json.Unmarshal(original, &id); err != nil {
				t.Fatal(err)
			}
			id.ID = "n2"
			writeIdentityJSON(t, dir, id)
			before, _ := os.ReadFile(identityPath(dir))
			refused("yggr.json says n2")
			if after, _ := os.ReadFile(identityPath(dir)); string(before) != string(after) {
				t.Errorf("a refused Open changed yggr.json:\n%s\nthen\n%s", before, after)
			}

			if err := os.Remove(identityPath(dir)); err != nil {
				t.Fatal(err)
			}
			refused("no yggr.json")
			if _, err := os.Stat(identityPath(dir)); !os.IsNotExist(err) {
				t.Fatalf("a refused first Open recorded an identity: %v", err)
			}
			openAsN1 := func() {
				t.Helper()
				db, err := Open(dir, nil, WithInsecure())
				if err != nil {
					t.Fatalf("Open as n1: %v", err)
				}
				if got := db.Status().ID; got != "n1" {
					t.Errorf("Status().ID = %q, want n1", got)
				}
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
			}
			openAsN1() // the log's record agrees: yggr.json is written anew
			data, _ := os.ReadFile(identityPath(dir))
			if err := json.Unmarshal(data, &id); err != nil || id.ID != "n1" {
				t.Errorf("yggr.json after a first open as n1 = %s (%v), want node n1", data, err)
			}
			if err := os.WriteFile(identityPath(dir), original, 0o644); err != nil {
				t.Fatal(err)
			}
			openAsN1()
		})
	}
}

func writeIdentityJSON(t *testing.T, dir string, id identity) {
	t.Helper()
	data, err := json.Marshal(id)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(identityPath(dir), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestFailedFirstOpenAndTheLog: a first Open records the identity before
// the node creates its log. If the start fails before the log exists,
// the record is removed again (the retry is a first open, under any ID);
// if it fails after, the record stays, since no log is left without one.
// The failures are forced by a directory where the node writes a file:
// members.json is read before the log is opened, the incarnation's
// temporary file is written after.
func TestFailedFirstOpenAndTheLog(t *testing.T) {
	for _, tt := range []struct {
		obstacle   string
		keepRecord bool
	}{
		{"members.json", false},
		{"incarnation.tmp", true},
	} {
		t.Run(tt.obstacle, func(t *testing.T) {
			dir := t.TempDir()
			obstacle := filepath.Join(dir, tt.obstacle)
			if err := os.Mkdir(obstacle, 0o700); err != nil {
				t.Fatal(err)
			}
			if db, err := Open(dir, nil); err == nil {
				db.Close()
				t.Fatalf("Open with a directory at %s succeeded", obstacle)
			}
			_, err := os.Stat(identityPath(dir))
			if kept := err == nil; kept != tt.keepRecord {
				t.Fatalf("after the failed first Open: yggr.json kept = %v (%v), want %v", kept, err, tt.keepRecord)
			}
			if err := os.Remove(obstacle); err != nil {
				t.Fatal(err)
			}
			db, err := Open(dir, nil, WithID("n2"))
			if !tt.keepRecord {
				if err != nil {
					t.Fatalf("retry as n2, a first open again: %v", err)
				}
				if got := db.Status().ID; got != "n2" {
					t.Errorf("Status().ID = %q, want n2", got)
				}
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("retry as n2 of n1's log: err = %v, want ErrConfig", err)
			}
			if db, err = Open(dir, nil); err != nil {
				t.Fatalf("retry as n1: %v", err)
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
