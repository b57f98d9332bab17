package snapshot

import (
	"bytes"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// fakeClock is a pacer's clock that sleeps by moving itself forward.
type fakeClock struct {
	t     time.Time
	slept []time.Duration
}

func (c *fakeClock) now() time.Time { return c.t }
func (c *fakeClock) sleep(d time.Duration, _ <-chan struct{}) bool {
	c.slept = append(c.slept, d)
	c.t = c.t.Add(d)
	return true
}

func TestPacer(t *testing.T) {
	type step struct {
		idle time.Duration // time passing before the take (encoding)
		n    int
		want time.Duration // the wait take must do
	}
	tests := []struct {
		name  string
		rate  int64
		burst int
		steps []step
	}{
		{"first chunk free, then one chunk per 1/rate", 1000, 100, []step{
			{0, 100, 0}, {0, 100, 100 * time.Millisecond}, {0, 100, 100 * time.Millisecond},
		}},
		{"time spent encoding counts", 1000, 100, []step{
			{0, 100, 0}, {60 * time.Millisecond, 100, 40 * time.Millisecond}, {100 * time.Millisecond, 100, 0},
		}},
		{"an idle spell saves up one burst only", 1000, 100, []step{
			{0, 100, 0}, {10 * time.Second, 100, 0}, {0, 100, 100 * time.Millisecond},
		}},
		{"a short tail costs its own bytes", 1000, 100, []step{
			{0, 100, 0}, {0, 100, 100 * time.Millisecond}, {0, 10, 10 * time.Millisecond},
		}},
		{"a take larger than the burst waits for the excess", 1000, 100, []step{
			{0, 300, 200 * time.Millisecond}, {0, 100, 100 * time.Millisecond},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &fakeClock{t: time.Unix(1000, 0)}
			p := newPacer(tt.rate, tt.burst)
			p.now, p.sleep = c.now, c.sleep
			for i, s := range tt.steps {
				c.t = c.t.Add(s.idle)
				c.slept = nil
				if !p.take(s.n, nil) {
					t.Fatalf("take %d: stopped without a stop channel", i)
				}
				var got time.Duration
				for _, d := range c.slept {
					got += d
				}
				if d := got - s.want; d < -time.Microsecond || d > time.Microsecond {
					t.Errorf("take %d (%d bytes after %v): waited %v, want %v", i, s.n, s.idle, got, s.want)
				}
			}
		})
	}
}

func TestPacerOff(t *testing.T) {
	if p := newPacer(0, 1<<20); p != nil {
		t.Fatalf("newPacer(0): got %+v, want nil (no cap)", p)
	}
	var p *pacer
	if !p.take(1<<30, nil) { // a nil pacer never waits (and does not panic)
		t.Fatal("nil pacer: take reported a stop")
	}
}

// TestWriterPaced writes a snapshot with a cap in a synctest bubble, where
// the clock moves only while the writer waits: the time a snapshot of
// size bytes takes is then (size − one chunk) / rate (to rounding), and without
// a cap it is zero.
func TestWriterPaced(t *testing.T) {
	const chunk = 2 * directAlign
	data := payload(7, 10*chunk+100)
	tests := []struct {
		rate int64
		want time.Duration
	}{
		{0, 0},
		{chunk, 9*time.Second + 100*time.Second/chunk},
		{4 * chunk, (9*time.Second + 100*time.Second/chunk) / 4},
	}
	for _, tt := range tests {
		synctest.Test(t, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir, Options{ChunkBytes: chunk, WriteBytesPerSec: tt.rate})
			start := time.Now()
			meta := writeSnap(t, s, 5, 1, data, 1000)
			if got := time.Since(start); got < tt.want-time.Microsecond || got > tt.want+time.Microsecond {
				t.Errorf("rate %d B/s: snapshot of %d bytes took %v, want %v", tt.rate, len(data), got, tt.want)
			}
			got, err := readSnap(s, meta.Index, meta.Term)
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("rate %d B/s: read back %d bytes, %v; want the %d written", tt.rate, len(got), err, len(data))
			}
		})
	}
}

// TestWriterUncapOn: closing the Writer's uncap channel ends a pacing
// wait at once and lifts the cap for the rest of the snapshot, which
// commits whole (a node's Close keeps the snapshot it was writing).
func TestWriterUncapOn(t *testing.T) {
	const chunk = 2 * directAlign
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		s := openStore(t, dir, Options{ChunkBytes: chunk, WriteBytesPerSec: 1}) // a chunk per 1024 s
		w, err := s.Create(metaOf(5, 1))
		if err != nil {
			t.Fatal(err)
		}
		uncap := make(chan struct{})
		w.UncapOn(uncap)
		start := time.Now()
		data := payload(3, 3*chunk)
		written := make(chan error, 1)
		go func() {
			_, err := w.Write(data)
			written <- err
		}()
		synctest.Wait() // the writer is parked in the pacer after its first chunk
		select {
		case err := <-written:
			t.Fatalf("Write returned %v before the uncap; want it waiting for the cap", err)
		default:
		}
		time.Sleep(time.Minute) // fake time: the cap still holds it
		close(uncap)
		if err := <-written; err != nil {
			t.Fatalf("Write after uncap: %v", err)
		}
		if got := time.Since(start); got != time.Minute {
			t.Errorf("Write returned %v after it started, want 1m0s (at the uncap, the rest unpaced)", got)
		}
		more := payload(4, 2*chunk)
		if _, err := w.Write(more); err != nil {
			t.Fatalf("later Write: %v", err)
		}
		meta, err := w.Commit()
		if err != nil {
			t.Fatalf("Commit: %v", err)
		}
		if got := time.Since(start); got != time.Minute {
			t.Errorf("Commit %v after the start, want 1m0s: the cap is lifted", got)
		}
		want := append(slices.Clone(data), more...)
		got, err := readSnap(s, meta.Index, meta.Term)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("snapshot holds %d bytes (%v), want the %d written", len(got), err, len(want))
		}
	})
}

// TestReceivePaceless checks that the cap is the local Writer's only: a
// Receiver (catch-up from a leader) of the same store stores a snapshot
// of many chunks without waiting.
func TestReceivePaceless(t *testing.T) {
	const chunk = 64
	data := payload(9, 20*chunk)
	synctest.Test(t, func(t *testing.T) {
		s := openStore(t, t.TempDir(), Options{ChunkBytes: chunk, WriteBytesPerSec: 1})
		start := time.Now()
		rc, err := s.Receive(metaOf(3, 2))
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		for off := 0; off < len(data); off += chunk {
			if err := rc.WriteAt(uint64(off), data[off:off+chunk], off+chunk == len(data)); err != nil {
				t.Fatalf("WriteAt(%d): %v", off, err)
			}
		}
		if got := time.Since(start); got != 0 {
			t.Errorf("receiving %d bytes at WriteBytesPerSec 1 took %v, want 0 (not paced)", len(data), got)
		}
		if got, err := readSnap(s, 3, 2); err != nil || !bytes.Equal(got, data) {
			t.Errorf("read back %d bytes, %v; want the %d received", len(got), err, len(data))
		}
	})
}

func TestOpenNegativeWriteRate(t *testing.T) {
	if _, err := Open(t.TempDir(), Options{WriteBytesPerSec: -1}); err == nil {
		t.Error("Open with WriteBytesPerSec -1: got nil error, want one")
	}
}
