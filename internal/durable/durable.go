// Package durable writes small files so that a crash leaves either the old
// content or the new one, never a torn or empty file: the data goes to a
// temporary file that is fsynced, renamed over the target, and the
// directory is fsynced so that the rename itself survives a power loss.
//
// # Usage
//
//	err := durable.WriteFile(filepath.Join(dir, "yggr.json"), data)
//
// # Caveats
//
// A crash may leave path+".tmp" behind; the next WriteFile truncates it.
// Readers read path only.
package durable

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile replaces path with data atomically and durably (see the
// package comment). The file's mode is 0644.
func WriteFile(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// SyncDir fsyncs a directory, so that the entries created, renamed or
// removed in it are durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
