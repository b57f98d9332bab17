package kv

import (
	"bytes"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// newStoreSlab returns an empty store whose arena has slabs of size bytes.
func newStoreSlab(size int) *Store {
	s := New()
	s.arena = newArenaSize(size)
	return s
}

// checkArena checks the arena's accounting against the live tree: every
// blob of the tree that is in a slab is in a slab of the current pinSet,
// each slab's live count is the bytes of the tree's blobs in it, and no
// full slab is under half live (compaction ran).
func checkArena(t interface {
	Helper()
	Fatalf(string, ...any)
}, s *Store) {
	t.Helper()
	s.mu.RLock()
	defer s.mu.RUnlock()
	a := s.arena
	live := map[*slab]int{}
	s.tree.Ascend(func(e entry) bool {
		if sl := a.pins.find(e.ref); sl != nil {
			live[sl] += len(e.blob()) + uvarintLen(uint64(len(e.blob())))
		} else if len(e.blob()) <= a.maxBlob() {
			t.Fatalf("blob of %q (%d bytes) is in no slab of the arena", e.key(), len(e.blob()))
		}
		return true
	})
	for _, sl := range a.pins.slabs {
		if sl.live != live[sl] {
			t.Fatalf("slab counts %d live bytes, the tree holds %d in it", sl.live, live[sl])
		}
		if sl != a.cur && 2*sl.live < sl.used {
			t.Fatalf("full slab %d of %d bytes live, not compacted", sl.live, sl.used)
		}
	}
	if len(a.sparse) != 0 {
		t.Fatalf("%d slabs left to compact", len(a.sparse))
	}
}

// waitSlabs collects garbage until at most want slabs are mapped.
func waitSlabs(t *testing.T, want int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for slabsMapped.Load() > want {
		if time.Now().After(deadline) {
			t.Fatalf("%d slabs mapped, want at most %d", slabsMapped.Load(), want)
		}
		runtime.GC()
		runtime.Gosched()
	}
}

func arenaValue(key, round int) []byte {
	return fmt.Appendf(nil, "value of %d in round %d", key, round)
}

// TestArenaReclaim checks the reclamation rules, for each holder alone: a
// snapshot, an event and a Range iterator taken before every key is
// overwritten many times (which compacts and drops the slabs they
// reference from the store's arena) still read the old items after
// collections (a freed slab would fault); once dropped, the slabs they
// held are freed.
func TestArenaReclaim(t *testing.T) {
	const keys, rounds = 200, 8
	for _, holder := range []string{"snapshot", "event", "range"} {
		t.Run(holder, func(t *testing.T) {
			// testArena's slabs (entry_test.go) are never freed; every
			// other test's are garbage by now. The checks below count
			// from there (with -count=2 the entry tests have run).
			base := int64(len(testArena.pins.slabs))
			waitSlabs(t, base)
			s := newStoreSlab(1024)
			var events []Event
			index := uint64(0)
			put := func(k, round int) {
				index++
				events = events[:0]
				s.Apply(index, EncodePut(fmt.Appendf(nil, "key%04d", k), arenaValue(k, round)))
			}
			for k := range keys {
				put(k, 0)
			}
			checkArena(t, s)
			first := s.arena.pins.slabs
			var sn *Snapshot
			var before bytes.Buffer
			var iter func(func(Item) bool)
			var ev Event
			switch holder {
			case "snapshot":
				sn = s.Snapshot()
				if _, err := sn.WriteTo(&before); err != nil {
					t.Fatal(err)
				}
			case "range":
				iter = s.Range(nil, nil)
			case "event":
				s.Record(&events)
				put(7, 0) // an event whose prev is round 0's first item
				ev = events[0]
				s.Record(nil)
			}
			for round := 1; round <= rounds; round++ {
				for k := range keys {
					put(k, round)
				}
				checkArena(t, s)
			}
			for _, sl := range s.arena.pins.slabs {
				for _, old := range first {
					if sl == old {
						t.Fatal("a slab of round 0 is still in the arena after every key was overwritten: nothing was compacted")
					}
				}
			}
			first = nil
			for range 3 { // collections, which run the cleanups of unreachable slabs
				runtime.GC()
				runtime.Gosched()
			}
			if got := slabsMapped.Load() - base; got <= int64(len(s.arena.pins.slabs)) {
				t.Fatalf("%d slabs mapped besides %d older ones, no more than the arena's %d: the %s holds none", got, base, len(s.arena.pins.slabs), holder)
			}
			switch holder {
			case "snapshot":
				var after bytes.Buffer
				if _, err := sn.WriteTo(&after); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(before.Bytes(), after.Bytes()) {
					t.Fatal("the snapshot's bytes changed after the store overwrote and compacted its slabs")
				}
			case "event":
				if prev, ok := ev.Prev(); !ok || !bytes.Equal(prev.Value, arenaValue(7, 0)) || ev.Key() != "key0007" {
					t.Fatalf("event: key %q, prev %q %v, want key0007 and round 0's value", ev.Key(), prev.Value, ok)
				}
			case "range":
				n := 0
				for it := range iter {
					if !bytes.Equal(it.Value, arenaValue(n, 0)) {
						t.Fatalf("Range item %d: %q, want round 0's value", n, it.Value)
					}
					n++
				}
				if n != keys {
					t.Fatalf("Range yielded %d items, want %d", n, keys)
				}
			}
			sn, iter, ev, events = nil, nil, Event{}, nil
			waitSlabs(t, base+int64(len(s.arena.pins.slabs)))
			for k := range keys {
				it, ok := s.Get(fmt.Appendf(nil, "key%04d", k))
				if !ok || !bytes.Equal(it.Value, arenaValue(k, rounds)) {
					t.Fatalf("key %d: %q %v, want the last round's value", k, it.Value, ok)
				}
			}
			runtime.KeepAlive(s)
		})
	}
}

// TestArenaConcurrentReaders overwrites keys with small slabs, so that
// slabs are compacted and freed all the time, while readers Get, Scan,
// Range and write snapshots; every item read must be one that was written.
// Run it with -race too.
func TestArenaConcurrentReaders(t *testing.T) {
	const keys, rounds = 64, 400
	s := newStoreSlab(512)
	valid := func(it Item) error {
		var k, round int
		if _, err := fmt.Sscanf(string(it.Value), "value of %d in round %d", &k, &round); err != nil {
			return fmt.Errorf("item %q: value %q: %v", it.Key, it.Value, err)
		}
		if want := fmt.Sprintf("key%04d", k); string(it.Key) != want {
			return fmt.Errorf("item %q has the value of %s", it.Key, want)
		}
		return nil
	}
	stop := make(chan struct{})
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	reader := func(read func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := read(); err != nil {
					errs <- err
					return
				}
				runtime.GC() // so that slabs are freed while others read
			}
		}()
	}
	reader(func() error {
		for k := range keys {
			if it, ok := s.Get(fmt.Appendf(nil, "key%04d", k)); ok {
				if err := valid(it); err != nil {
					return err
				}
			}
		}
		return nil
	})
	reader(func() error {
		items, _ := s.Scan(nil, nil, 0)
		for _, it := range items {
			if err := valid(it); err != nil {
				return err
			}
		}
		return nil
	})
	reader(func() error {
		for it := range s.Range(nil, nil) {
			if err := valid(it); err != nil {
				return err
			}
		}
		return nil
	})
	reader(func() error {
		var buf bytes.Buffer
		if _, err := s.Snapshot().WriteTo(&buf); err != nil {
			return err
		}
		return New().Restore(&buf)
	})
	index := uint64(0)
	for round := range rounds {
		for k := range keys {
			index++
			s.Apply(index, EncodePut(fmt.Appendf(nil, "key%04d", k), arenaValue(k, round)))
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	checkArena(t, s)
}

// TestArenaLargeBlob checks that a blob over the arena's maxBlob stays on
// the heap and is read back.
func TestArenaLargeBlob(t *testing.T) {
	s := newStoreSlab(1024)
	big := bytes.Repeat([]byte("b"), 200)
	s.Apply(1, EncodePut([]byte("big"), big))
	s.Apply(2, EncodePut([]byte("small"), []byte("s")))
	checkArena(t, s)
	e, _ := lookup(s.tree, []byte("big"))
	if s.arena.pins.find(e.ref) != nil {
		t.Fatal("a blob over maxBlob is in a slab")
	}
	if it, ok := s.Get([]byte("big")); !ok || !bytes.Equal(it.Value, big) {
		t.Fatalf("Get(big) = %d bytes, %v", len(it.Value), ok)
	}
}
