package snapshot

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/yggrdb/yggr/internal/diskfault"
	"github.com/yggrdb/yggr/internal/durable"
)

// syncDir fsyncs a directory so that the entries created, renamed or
// removed in it are durable.
func syncDir(dir string) error {
	if err := durable.SyncDir(dir); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}

// writeFileSync creates (or truncates) path, writes b and fsyncs it. The
// caller fsyncs the directory.
func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = diskfault.Check(diskfault.SnapshotSync, path)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("snapshot: write %s: %w", path, err)
	}
	return nil
}

// writeFileAtomic replaces dir/name with b: it writes dir/name.tmp, fsyncs
// it, renames it over dir/name and fsyncs dir.
func writeFileAtomic(dir, name string, b []byte) error {
	tmp := filepath.Join(dir, name+".tmp")
	if err := writeFileSync(tmp, b); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return syncDir(dir)
}

// readMetaFile reads a manifest or progress file, refusing files larger
// than maxMetaFileBytes.
func readMetaFile(f *os.File) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(f, maxMetaFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxMetaFileBytes {
		return nil, errors.New("file too large")
	}
	return b, nil
}

// readManifest reads and decodes dir/manifest. A damaged manifest is an
// error wrapping ErrCorrupt that names the file, and so is a missing one:
// it is read only for directories published complete.
func readManifest(root *os.Root, dir string) (*manifest, error) {
	path := filepath.Join(dir, manifestName)
	f, err := root.Open(manifestName)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	defer f.Close()
	b, err := readMetaFile(f)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	m, err := decodeManifest(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	return m, nil
}
