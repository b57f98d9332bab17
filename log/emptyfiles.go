package log

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// removeEmptyBadgerFiles deletes the empty memtable (.mem) and value-log
// (.vlog) files a crash can leave in Badger's directory.
//
// Badger creates such a file and only then sizes and maps it; a process
// killed between the two leaves a file of zero bytes, and badger.Open
// then fails with "while opening memtables ... Create a new file"
// (z.NewFile; dgraph-io/badger#2207, seen here in TestCrashRecovery).
// An empty file holds no record, and nothing in Badger's manifest or
// tables refers to it, so deleting it loses nothing. Files with any
// bytes are left for Badger, which checks them.
func removeEmptyBadgerFiles(dir string, logger *slog.Logger) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("log: read %s: %w", dir, err)
	}
	for _, e := range ents {
		name := e.Name()
		if e.IsDir() || !(strings.HasSuffix(name, ".mem") || strings.HasSuffix(name, ".vlog")) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return fmt.Errorf("log: stat %s: %w", filepath.Join(dir, name), err)
		}
		if info.Size() != 0 {
			continue
		}
		path := filepath.Join(dir, name)
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("log: remove empty %s: %w", path, err)
		}
		logger.Warn("log: removed an empty file left by a crash", "file", path)
	}
	return nil
}
