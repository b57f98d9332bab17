package snapshot

import (
	"io"
	"path/filepath"
	"testing"

	"github.com/yggrdb/yggr/internal/testutil"
)

// The benchmarks move an 8 MiB snapshot of 1 MiB chunks per operation and
// report throughput (MB/s). Keep -benchtime short: every write fsyncs.
const benchSize = 8 << 20

func BenchmarkWrite(b *testing.B) {
	s := openStore(b, b.TempDir(), Options{Retain: 1})
	data := payload(1, benchSize)
	b.SetBytes(benchSize)
	var i uint64
	for b.Loop() {
		i++
		writeSnap(b, s, i, 1, data, 64<<10)
	}
}

func BenchmarkReceive(b *testing.B) {
	s := openStore(b, b.TempDir(), Options{Retain: 1})
	data := payload(1, benchSize)
	b.SetBytes(benchSize)
	var i uint64
	for b.Loop() {
		i++
		meta := metaOf(i, 1)
		meta.Size = benchSize
		rc, err := s.Receive(meta)
		if err != nil {
			b.Fatal(err)
		}
		sendPieces(b, rc, data, 0, len(data), []int{256 << 10})
	}
}

func BenchmarkRead(b *testing.B) {
	s := openStore(b, b.TempDir(), Options{})
	writeSnap(b, s, 1, 1, payload(1, benchSize), 0)
	buf := make([]byte, 32<<10)
	b.SetBytes(benchSize)
	for b.Loop() {
		r, err := s.Open(1, 1)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf)
		if err != nil || n != benchSize {
			b.Fatalf("read %d bytes, %v", n, err)
		}
		r.Close()
	}
}

// BenchmarkReadAt serves the snapshot in 100 KB pieces not aligned with
// chunks, as InstallSnapshot does.
func BenchmarkReadAt(b *testing.B) {
	s := openStore(b, b.TempDir(), Options{})
	writeSnap(b, s, 1, 1, payload(1, benchSize), 0)
	r, err := s.Open(1, 1)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, 100_000)
	b.SetBytes(benchSize)
	for b.Loop() {
		for off := int64(0); off < benchSize; off += int64(len(buf)) {
			if _, err := r.ReadAt(buf, off); err != nil && err != io.EOF {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkReadCold reads a 32 MiB snapshot through Read with its files
// dropped from the page cache before every operation, as after writing
// them with O_DIRECT: the device's speed and how many reads are queued
// on it decide (issue 15).
func BenchmarkReadCold(b *testing.B) {
	const size = 32 << 20
	dir := b.TempDir()
	s := openStore(b, dir, Options{})
	writeSnap(b, s, 1, 1, payload(1, size), 0)
	files, err := filepath.Glob(filepath.Join(dir, subdir, "*", "*"))
	if err != nil || len(files) == 0 {
		b.Fatalf("snapshot files: %v %v", files, err)
	}
	buf := make([]byte, 32<<10)
	b.SetBytes(size)
	for b.Loop() {
		b.StopTimer()
		for _, p := range files {
			if err := testutil.DropFileCache(p); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		r, err := s.Open(1, 1)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf)
		if err != nil || n != size {
			b.Fatalf("read %d bytes, %v", n, err)
		}
		r.Close()
	}
}
