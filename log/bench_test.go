package log

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/yggrdb/yggr/engine"
)

// Run briefly, for example:
//
//	go test -run '^$' -bench . -benchtime 300x ./log/
//
// Every op is one synced write of a batch of entries with 128 bytes of data.

var benchBatches = []int{1, 16, 256}

const benchEntryBytes = 128

func reportEntries(b *testing.B, batch int) {
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkAppend measures Store.Write with sync (group commit).
func BenchmarkAppend(b *testing.B) {
	for _, n := range benchBatches {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			s, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			data := make([]byte, benchEntryBytes)
			es := make([]engine.Entry, n)
			next := uint64(1)
			b.SetBytes(int64(n * benchEntryBytes))
			b.ResetTimer()
			for range b.N {
				for i := range es {
					es[i] = engine.Entry{Term: 1, Index: next, Data: data}
					next++
				}
				if err := s.Write(Batch{Entries: es, HardState: &engine.HardState{Term: 1, Commit: next - 1}}); err != nil {
					b.Fatal(err)
				}
			}
			reportEntries(b, n)
		})
	}
}

// BenchmarkBadgerRaw measures the same writes straight into Badger (same
// options, unencoded values): with SyncWrites, as the Store does, and with
// SyncWrites off plus an explicit db.Sync after each transaction.
func BenchmarkBadgerRaw(b *testing.B) {
	for _, mode := range []string{"syncwrites", "explicit-sync"} {
		for _, n := range benchBatches {
			b.Run(fmt.Sprintf("%s/batch=%d", mode, n), func(b *testing.B) {
				opts := badgerOptions(filepath.Join(b.TempDir(), "raft"), Options{NoSync: mode != "syncwrites"}, slog.New(slog.DiscardHandler))
				db, err := badger.Open(opts)
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				data := make([]byte, benchEntryBytes)
				next := uint64(1)
				b.SetBytes(int64(n * benchEntryBytes))
				b.ResetTimer()
				for range b.N {
					txn := db.NewTransaction(true)
					for range n {
						if err := txn.Set(v1EntryKeyFor(next), data); err != nil {
							b.Fatal(err)
						}
						next++
					}
					if err := txn.Commit(); err != nil {
						b.Fatal(err)
					}
					if mode != "syncwrites" {
						if err := db.Sync(); err != nil {
							b.Fatal(err)
						}
					}
				}
				reportEntries(b, n)
			})
		}
	}
}

// BenchmarkFileAppend is the floor: the same bytes (with a small header per
// entry) appended to a plain file, then one fdatasync.
func BenchmarkFileAppend(b *testing.B) {
	for _, n := range benchBatches {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			f, err := os.OpenFile(filepath.Join(b.TempDir(), "wal"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			buf := make([]byte, 0, n*(benchEntryBytes+24))
			data := make([]byte, benchEntryBytes)
			next := uint64(1)
			b.SetBytes(int64(n * benchEntryBytes))
			b.ResetTimer()
			for range b.N {
				buf = buf[:0]
				for range n {
					buf = binary.BigEndian.AppendUint64(buf, next)
					buf = binary.BigEndian.AppendUint64(buf, 1)
					buf = binary.BigEndian.AppendUint32(buf, benchEntryBytes)
					buf = append(buf, data...)
					buf = binary.BigEndian.AppendUint32(buf, checksum(nil, buf[len(buf)-benchEntryBytes-20:]))
					next++
				}
				if _, err := f.Write(buf); err != nil {
					b.Fatal(err)
				}
				if err := datasync(f); err != nil {
					b.Fatal(err)
				}
			}
			reportEntries(b, n)
		})
	}
}

// BenchmarkEntriesFromBadger reads 100k checkpointed entries of 200 bytes
// (a node's log after 100k single puts) from Badger: all at once, as Load
// does at Open, and in reads of at most 1 MiB, as a leader sending them to
// a follower that is behind.
func BenchmarkEntriesFromBadger(b *testing.B) {
	const n, size = 100_000, 200
	s, err := Open(b.TempDir(), Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	writeEntries(b, s, n, 1000, size)
	if err := s.Checkpoint(); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name     string
		maxBytes uint64
	}{{"all", math.MaxUint64}, {"1MiB", 1 << 20}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(n * size)
			b.ReportAllocs()
			for range b.N {
				for lo := uint64(1); lo <= n; {
					es, err := s.Entries(lo, n+1, bc.maxBytes)
					if err != nil || len(es) == 0 {
						b.Fatalf("Entries(%d): %d entries, %v", lo, len(es), err)
					}
					lo += uint64(len(es))
				}
			}
		})
	}
	// Replay in pieces of 4 MiB, as a node's Open does (replayPieceBytes).
	b.Run("replay", func(b *testing.B) {
		b.SetBytes(n * size)
		b.ReportAllocs()
		for range b.N {
			read := 0
			if err := s.Replay(1, 4<<20, func(es []engine.Entry) error { read += len(es); return nil }); err != nil || read != n {
				b.Fatalf("Replay: %d entries, %v", read, err)
			}
		}
	})
}

// BenchmarkOpen times Open of a log whose history is 400k entries written
// 4 at a time (about 12k runs in Badger, as a node keeps after the bench's
// write rows): Open walks every run Badger holds (cleanRuns). It reports
// the runs it found.
func BenchmarkOpen(b *testing.B) {
	const n, batch = 400_000, 4
	dir := b.TempDir()
	s, err := Open(dir, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	writeEntries(b, s, n, batch, benchEntryBytes)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	runs := 0
	b.ResetTimer()
	for range b.N {
		s, err := Open(dir, Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runs = 0
		if err := s.eachRun(func(runID) error { runs++; return nil }); err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(runs), "runs")
}

// writeEntries writes entries 1 to n of term 1, each with size bytes of
// data, batch at a time (n a multiple of batch).
func writeEntries(b *testing.B, s *Store, n, batch uint64, size int) {
	b.Helper()
	data := make([]byte, size)
	for next := uint64(1); next <= n; next += batch {
		es := make([]engine.Entry, batch)
		for i := range es {
			es[i] = engine.Entry{Term: 1, Index: next + uint64(i), Data: data}
		}
		if err := s.Write(Batch{Entries: es}); err != nil {
			b.Fatal(err)
		}
	}
}
