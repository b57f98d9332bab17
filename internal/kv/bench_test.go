package kv

import (
	"bytes"
	"encoding/binary"
	"io"
	"sync"
	"testing"
)

// benchKey writes a 16-byte key for i in an order scattered over the key
// space, so inserts land all over the tree.
func benchKey(dst []byte, i uint64) []byte {
	dst = binary.BigEndian.AppendUint64(dst[:0], i*0x9E3779B97F4A7C15)
	return binary.BigEndian.AppendUint64(dst, i)
}

// cpuTimer reports the process CPU time per op (user+system, including GC
// and other goroutines) as the "cpu-ns/op" metric. Start it after setup.
type cpuTimer struct {
	b     *testing.B
	start int64
}

func startCPU(b *testing.B) cpuTimer {
	b.ResetTimer()
	return cpuTimer{b, processCPUNanos()}
}

func (c cpuTimer) stop() {
	c.b.StopTimer()
	c.b.ReportMetric(float64(processCPUNanos()-c.start)/float64(c.b.N), "cpu-ns/op")
}

var benchValue = bytes.Repeat([]byte("v"), 128)

const benchKeys = 1 << 20 // 1M

var (
	benchOnce  sync.Once
	benchStore *Store
	benchSnap  []byte
)

// benchSetup builds (once) a store of 1M keys (16 B keys, 128 B values) and
// its snapshot bytes.
func benchSetup(b *testing.B) (*Store, []byte) {
	b.Helper()
	benchOnce.Do(func() {
		s := New()
		var key []byte
		for i := range uint64(benchKeys) {
			key = benchKey(key, i)
			s.Apply(i+1, EncodePut(key, benchValue))
		}
		var buf bytes.Buffer
		if _, err := s.Snapshot().WriteTo(&buf); err != nil {
			b.Fatal(err)
		}
		benchStore, benchSnap = s, buf.Bytes()
	})
	return benchStore, benchSnap
}

// BenchmarkApplyPut applies puts of new 16 B keys with 128 B values to a
// growing store; encoding the command is included (see BenchmarkEncodePut).
func BenchmarkApplyPut(b *testing.B) {
	s := New()
	var key []byte
	b.SetBytes(int64(16 + len(benchValue)))
	b.ReportAllocs()
	cpu := startCPU(b)
	for i := range uint64(b.N) {
		key = benchKey(key, i)
		s.Apply(i+1, EncodePut(key, benchValue))
	}
	cpu.stop()
}

// BenchmarkApplyPutSnapshotted is BenchmarkApplyPut with a Snapshot every
// 1000 puts: the copy-on-write cost of a live snapshot or Range.
func BenchmarkApplyPutSnapshotted(b *testing.B) {
	s := New()
	var key []byte
	b.ReportAllocs()
	cpu := startCPU(b)
	for i := range uint64(b.N) {
		if i%1000 == 0 {
			s.Snapshot()
		}
		key = benchKey(key, i)
		s.Apply(i+1, EncodePut(key, benchValue))
	}
	cpu.stop()
}

func BenchmarkEncodePut(b *testing.B) {
	key := benchKey(nil, 1)
	b.ReportAllocs()
	cpu := startCPU(b)
	for range b.N {
		EncodePut(key, benchValue)
	}
	cpu.stop()
}

// BenchmarkGet reads random existing keys of a 1M-key store.
func BenchmarkGet(b *testing.B) {
	s, _ := benchSetup(b)
	var key []byte
	b.ReportAllocs()
	cpu := startCPU(b)
	for i := range uint64(b.N) {
		key = benchKey(key, i*7919%benchKeys)
		if _, ok := s.Get(key); !ok {
			b.Fatal("missing key")
		}
	}
	cpu.stop()
}

// BenchmarkGetParallel is BenchmarkGet from GOMAXPROCS goroutines.
func BenchmarkGetParallel(b *testing.B) {
	s, _ := benchSetup(b)
	b.ReportAllocs()
	cpu := startCPU(b)
	b.RunParallel(func(pb *testing.PB) {
		var key []byte
		var i uint64
		for pb.Next() {
			i++
			key = benchKey(key, i*7919%benchKeys)
			s.Get(key)
		}
	})
	cpu.stop()
}

// BenchmarkSnapshotWriteTo1M writes the snapshot of a 1M-key store (about
// 160 MB) to io.Discard: Snapshot (the Clone) plus the stream encoding.
func BenchmarkSnapshotWriteTo1M(b *testing.B) {
	s, snap := benchSetup(b)
	b.SetBytes(int64(len(snap)))
	b.ReportAllocs()
	cpu := startCPU(b)
	for range b.N {
		if _, err := s.Snapshot().WriteTo(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
	cpu.stop()
}

// BenchmarkRestore1M restores a 1M-key snapshot from memory.
func BenchmarkRestore1M(b *testing.B) {
	_, snap := benchSetup(b)
	b.SetBytes(int64(len(snap)))
	b.ReportAllocs()
	cpu := startCPU(b)
	for range b.N {
		if err := New().Restore(bytes.NewReader(snap)); err != nil {
			b.Fatal(err)
		}
	}
	cpu.stop()
}

// BenchmarkDecodeCommand decodes commands as Apply does: a put, a leased
// put, and a transaction with two compares and three requests.
func BenchmarkDecodeCommand(b *testing.B) {
	key := benchKey(nil, 1)
	cmds := []struct {
		name string
		b    []byte
	}{
		{"put", EncodePut(key, benchValue)},
		{"putLease", EncodePutLease(key, benchValue, 7)},
		{"txn", EncodeTxn(Txn{
			Compares: []Compare{{Key: key, Target: CmpValue, Value: benchValue}, {Key: key, Target: CmpModIndex, ModIndex: 9}},
			Then:     []Request{{Op: OpPut, Key: key, Value: benchValue}, {Op: OpGet, Key: key}},
			Else:     []Request{{Op: OpDelete, Key: key}},
		})},
	}
	for _, c := range cmds {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, err := DecodeCommand(c.b); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeResult decodes the result of a put.
func BenchmarkDecodeResult(b *testing.B) {
	s := New()
	res := s.Apply(1, EncodePut(benchKey(nil, 1), benchValue))
	b.ReportAllocs()
	for range b.N {
		if _, err := DecodeResult(res); err != nil {
			b.Fatal(err)
		}
	}
}
