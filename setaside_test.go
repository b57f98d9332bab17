package yggr

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// SetAside refuses a directory a running node holds, moves a closed one
// aside with its files, and says so when there is nothing to move.
func TestSetAside(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	db, err := Open(dir, nil, WithUnsafeNoSync())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := SetAside(dir); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "in use") {
		t.Errorf("SetAside of an open directory: %v, want ErrConfig: in use", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	to, err := SetAside(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(to, dir+".damaged-") {
		t.Errorf("moved to %s, want %s.damaged-<time>", to, dir)
	}
	if _, err := os.Stat(filepath.Join(to, "raft")); err != nil {
		t.Errorf("the moved directory lost its files: %v", err)
	}
	if _, err := SetAside(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("SetAside of a missing directory: %v, want ErrNotExist", err)
	}
}
