package yggr

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// lockFileName is the file in the data directory that an open DB holds
// locked, with the PID of its process in it.
const lockFileName = "yggr.lock"

// errLocked: the platform lock is held by another process.
var errLocked = errors.New("locked")

// lockDir takes the data directory's lock before anything else touches
// the directory or the network, so that a second Open of a directory in
// use fails at once, in yggr's words and naming the holder, rather than
// in the storage engine after the transport has started listening. The
// lock is released by unlockDir, or by the OS when the process ends.
func lockDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, errLocked) {
			holder := "another process"
			if b, rerr := os.ReadFile(path); rerr == nil {
				if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
					holder = fmt.Sprintf("another process (pid %d)", pid)
				}
			}
			return nil, fmt.Errorf("%w: data directory %s is in use by %s: stop it, or use another directory", ErrConfig, dir, holder)
		}
		return nil, fmt.Errorf("locking data directory %s: %w", dir, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

// unlockDir releases a lock taken by lockDir (nil: nothing to release).
func unlockDir(f *os.File) error {
	if f == nil {
		return nil
	}
	f.Truncate(0)
	return f.Close() // closing the file releases its lock
}
