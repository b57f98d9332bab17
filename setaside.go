package yggr

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// SetAside moves the data directory dir out of the way, offline, so that
// the node can be rebuilt from the cluster: it takes the directory's lock
// (failing with ErrConfig if a running node holds it), renames dir to
// dir.damaged-<UTC time> beside it and returns the new path. The files are
// kept for inspection; delete them when done. A missing dir is an error
// matching fs.ErrNotExist.
//
// It is the offline step of rebuilding a node whose files are damaged
// (Open fails with ErrCorrupt) or whose disk was replaced; `yggr rebuild`
// runs the whole procedure (docs/disk-faults.md).
func SetAside(dir string) (string, error) {
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("yggr: set aside %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return "", err
	}
	to := dir + ".damaged-" + time.Now().UTC().Format("20060102T150405Z")
	if _, err := os.Stat(to); !errors.Is(err, fs.ErrNotExist) {
		unlockDir(lock)
		return "", fmt.Errorf("yggr: set aside %s: %s exists already", dir, to)
	}
	if err := os.Rename(dir, to); err != nil {
		unlockDir(lock)
		return "", fmt.Errorf("yggr: set aside %s: %w", dir, err)
	}
	unlockDir(lock)
	return to, nil
}
