package kv

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// model is the naive reference: a map, sorted on demand.
type model struct {
	items   map[string]Item
	applied uint64
	// leaseOf maps each key attached to a lease to it; ttls holds the
	// live leases.
	leaseOf map[string]uint64
	ttls    map[uint64]uint64
}

func (m *model) putLease(index uint64, key, value []byte, lease uint64) bool {
	found := m.put(index, key, value)
	if lease == 0 {
		delete(m.leaseOf, string(key))
	} else {
		m.leaseOf[string(key)] = lease
	}
	return found
}

// revoke deletes lease and its keys in key order.
func (m *model) revoke(lease uint64) bool {
	if _, ok := m.ttls[lease]; !ok {
		return false
	}
	var keys []string
	for k, l := range m.leaseOf {
		if l == lease {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		m.delete([]byte(k))
	}
	delete(m.ttls, lease)
	return true
}

func (m *model) leaseMissing(reqs []Request) bool {
	for _, q := range reqs {
		if _, ok := m.ttls[q.Lease]; q.Op == OpPut && q.Lease != 0 && !ok {
			return true
		}
	}
	return false
}

func (m *model) put(index uint64, key, value []byte) bool {
	old, found := m.items[string(key)]
	it := Item{Key: bytes.Clone(key), Value: bytes.Clone(value), CreateIndex: index, ModIndex: index, Version: 1}
	if found {
		it.CreateIndex, it.Version = old.CreateIndex, old.Version+1
	}
	m.items[string(key)] = it
	return found
}

func (m *model) delete(key []byte) bool {
	_, found := m.items[string(key)]
	delete(m.items, string(key))
	delete(m.leaseOf, string(key))
	return found
}

func (m *model) holds(c Compare) bool {
	it, found := m.items[string(c.Key)]
	switch c.Target {
	case CmpExists:
		return found
	case CmpMissing:
		return !found
	case CmpValue:
		return found && bytes.Equal(it.Value, c.Value)
	case CmpModIndex:
		if !found {
			return c.ModIndex == 0
		}
		return it.ModIndex == c.ModIndex
	case CmpCreateIndex:
		if !found {
			return c.CreateIndex == 0
		}
		return it.CreateIndex == c.CreateIndex
	}
	return false
}

// apply mirrors Store.Apply.
func (m *model) apply(index uint64, cmd []byte) *Result {
	if index <= m.applied {
		return nil
	}
	m.applied = index
	r := &Result{Index: index}
	c, err := DecodeCommand(cmd)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	switch c.Kind {
	case KindPut:
		if _, ok := m.ttls[c.Lease]; c.Lease != 0 && !ok {
			r.LeaseNotFound = true
			break
		}
		m.putLease(index, c.Key, c.Value, c.Lease)
	case KindDelete:
		r.Deleted = m.delete(c.Key)
	case KindLeaseGrant:
		m.ttls[index] = c.TTL
	case KindLeaseRevoke:
		r.LeaseNotFound = !m.revoke(c.Lease)
	case KindTxn:
		r.Succeeded = true
		for _, cmpr := range c.Txn.Compares {
			r.Succeeded = r.Succeeded && m.holds(cmpr)
		}
		reqs := c.Txn.Then
		if !r.Succeeded {
			reqs = c.Txn.Else
		}
		if m.leaseMissing(reqs) {
			r.LeaseNotFound = true
			break
		}
		for _, q := range reqs {
			o := OpResult{Op: q.Op}
			switch q.Op {
			case OpPut:
				o.Found = m.putLease(index, q.Key, q.Value, q.Lease)
			case OpDelete:
				o.Found = m.delete(q.Key)
			case OpGet:
				o.Item, o.Found = m.items[string(q.Key)]
			}
			r.Results = append(r.Results, o)
		}
	}
	return r
}

// scan mirrors Store.Scan.
func (m *model) scan(start, end []byte, limit int) ([]Item, bool) {
	keys := make([]string, 0, len(m.items))
	for k := range m.items {
		if k >= string(start) && (len(end) == 0 || k < string(end)) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	more := false
	if limit > 0 && len(keys) > limit {
		keys, more = keys[:limit], true
	}
	var items []Item
	for _, k := range keys {
		items = append(items, m.items[k])
	}
	return items, more
}

// propKeys is a small key space so that commands collide.
// Keys that share their first 8 bytes, or differ only by zero padding,
// exercise the tree's key-prefix comparison.
var propKeys = []string{"a", "a\x00", "ab", "b", "ba", "c", "\x00", "\xff", "m\x00n",
	"abcdefgh", "abcdefgh\x00", "abcdefghi", "abcdefgi"}

func genKey() *rapid.Generator[[]byte] {
	return rapid.Map(rapid.SampledFrom(propKeys), func(s string) []byte { return []byte(s) })
}

func genValue() *rapid.Generator[[]byte] {
	return rapid.SliceOfN(rapid.SampledFrom([]byte("01x\x00")), 0, 3)
}

func genBound() *rapid.Generator[[]byte] {
	return rapid.OneOf(genKey(), rapid.Just([]byte(nil)), rapid.Map(rapid.SampledFrom([]string{"aa", "bz", "d"}),
		func(s string) []byte { return []byte(s) }))
}

func genCompare(t *rapid.T, maxIndex uint64) Compare {
	c := Compare{Key: genKey().Draw(t, "cmpKey"), Target: rapid.SampledFrom([]CmpTarget{CmpExists, CmpMissing, CmpValue, CmpModIndex, CmpCreateIndex}).Draw(t, "target")}
	switch c.Target {
	case CmpCreateIndex:
		c.CreateIndex = rapid.Uint64Range(0, maxIndex).Draw(t, "cmpCreateIndex")
	case CmpValue:
		c.Value = genValue().Draw(t, "cmpValue")
	case CmpModIndex:
		c.ModIndex = rapid.Uint64Range(0, maxIndex).Draw(t, "cmpModIndex")
	}
	return c
}

// genLease draws a lease ID: 0 (none) or an index up to maxIndex, which
// may or may not name a live lease.
func genLease(t *rapid.T, label string, maxIndex uint64) uint64 {
	if rapid.Bool().Draw(t, label+"HasLease") {
		return rapid.Uint64Range(1, max(1, maxIndex)).Draw(t, label+"Lease")
	}
	return 0
}

func genRequests(t *rapid.T, label string, maxIndex uint64) []Request {
	n := rapid.IntRange(0, 3).Draw(t, label+"Count")
	var rs []Request
	for range n {
		r := Request{Op: rapid.SampledFrom([]Op{OpPut, OpDelete, OpGet}).Draw(t, label+"Op"), Key: genKey().Draw(t, label+"Key")}
		if r.Op == OpPut {
			r.Value = genValue().Draw(t, label+"Value")
			r.Lease = genLease(t, label, maxIndex)
		}
		rs = append(rs, r)
	}
	return rs
}

// TestPropertyModel applies random command sequences to a Store and to the
// naive model and requires identical results, Get and Scan answers, and
// that Snapshot→Restore reproduces the state.
func TestPropertyModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		// Small slabs fill, go sparse and are compacted within a run.
		slab := rapid.SampledFrom([]int{128, 1024, slabBytes}).Draw(t, "slab")
		s := newStoreSlab(slab)
		m := &model{items: map[string]Item{}, leaseOf: map[string]uint64{}, ttls: map[uint64]uint64{}}
		applyBoth := func(index uint64, cmd []byte) {
			got := s.Apply(index, cmd)
			want := m.apply(index, cmd)
			if want == nil {
				if got != nil {
					t.Fatalf("Apply(%d) = %x, want nil", index, got)
				}
				return
			}
			r, err := DecodeResult(got)
			if err != nil {
				t.Fatalf("DecodeResult(Apply(%d)): %v", index, err)
			}
			if diff := cmp.Diff(*want, r, equalBytes); diff != "" {
				t.Fatalf("Apply(%d, %x) result (-model +store):\n%s", index, cmd, diff)
			}
		}
		next := func() uint64 { return m.applied + rapid.Uint64Range(1, 3).Draw(t, "gap") }
		t.Repeat(map[string]func(*rapid.T){
			"put": func(t *rapid.T) {
				applyBoth(next(), EncodePut(genKey().Draw(t, "key"), genValue().Draw(t, "value")))
			},
			"delete": func(t *rapid.T) {
				applyBoth(next(), EncodeDelete(genKey().Draw(t, "key")))
			},
			"txn": func(t *rapid.T) {
				var txn Txn
				for range rapid.IntRange(0, 3).Draw(t, "compares") {
					txn.Compares = append(txn.Compares, genCompare(t, m.applied+1))
				}
				txn.Then, txn.Else = genRequests(t, "then", m.applied), genRequests(t, "else", m.applied)
				applyBoth(next(), EncodeTxn(txn))
			},
			"grant": func(t *rapid.T) {
				applyBoth(next(), EncodeLeaseGrant(rapid.Uint64Range(1, 1<<40).Draw(t, "ttl")))
			},
			"revoke": func(t *rapid.T) {
				applyBoth(next(), EncodeLeaseRevoke(rapid.Uint64Range(1, max(1, m.applied)).Draw(t, "revokeID")))
			},
			"put with lease": func(t *rapid.T) {
				applyBoth(next(), EncodePutLease(genKey().Draw(t, "key"), genValue().Draw(t, "value"), genLease(t, "put", m.applied)))
			},
			"garbage": func(t *rapid.T) {
				applyBoth(next(), rapid.SliceOfN(rapid.Byte(), 0, 12).Draw(t, "bytes"))
			},
			"stale": func(t *rapid.T) {
				applyBoth(rapid.Uint64Range(0, m.applied).Draw(t, "staleIndex"), EncodePut([]byte("a"), []byte("stale")))
			},
			"noop": func(t *rapid.T) {
				index := rapid.Uint64Range(0, m.applied+3).Draw(t, "noopIndex")
				s.ApplyNoop(index)
				m.applied = max(m.applied, index)
			},
			"scan": func(t *rapid.T) {
				start, end := genBound().Draw(t, "start"), genBound().Draw(t, "end")
				limit := rapid.IntRange(-1, 4).Draw(t, "limit")
				gotItems, gotMore := s.Scan(start, end, limit)
				wantItems, wantMore := m.scan(start, end, limit)
				if diff := cmp.Diff(wantItems, gotItems, equalBytes); diff != "" || gotMore != wantMore {
					t.Fatalf("Scan(%q, %q, %d): more %v, want %v; items (-model +store):\n%s", start, end, limit, gotMore, wantMore, diff)
				}
				var ranged []Item
				for it := range s.Range(start, end) {
					ranged = append(ranged, it)
				}
				wantAll, _ := m.scan(start, end, 0)
				if diff := cmp.Diff(wantAll, ranged, equalBytes); diff != "" {
					t.Fatalf("Range(%q, %q) (-model +store):\n%s", start, end, diff)
				}
			},
			"snapshot restore": func(t *rapid.T) {
				var buf bytes.Buffer
				if _, err := s.Snapshot().WriteTo(&buf); err != nil {
					t.Fatalf("WriteTo: %v", err)
				}
				if rapid.Bool().Draw(t, "intoFresh") {
					s = newStoreSlab(slab)
				}
				if err := s.Restore(&buf); err != nil {
					t.Fatalf("Restore: %v", err)
				}
			},
			"": func(t *rapid.T) {
				checkArena(t, s)
				if got, want := s.Applied(), m.applied; got != want {
					t.Fatalf("Applied() = %d, want %d", got, want)
				}
				if got, want := s.Len(), len(m.items); got != want {
					t.Fatalf("Len() = %d, want %d", got, want)
				}
				leases, _ := s.Leases()
				if len(leases) != len(m.ttls) {
					t.Fatalf("%d leases, want %d", len(leases), len(m.ttls))
				}
				for _, l := range leases {
					info, _ := s.Lease(l.ID)
					var want []string
					for k, id := range m.leaseOf {
						if id == l.ID {
							want = append(want, k)
						}
					}
					slices.Sort(want)
					var got []string
					for _, k := range info.Keys {
						got = append(got, string(k))
					}
					if m.ttls[l.ID] != l.TTL || !slices.Equal(got, want) {
						t.Fatalf("lease %d: ttl %d keys %q, want ttl %d keys %q", l.ID, l.TTL, got, m.ttls[l.ID], want)
					}
				}
				for _, k := range propKeys {
					got, gotOK := s.Get([]byte(k))
					want, wantOK := m.items[k]
					if diff := cmp.Diff(want, got, equalBytes); diff != "" || gotOK != wantOK {
						t.Fatalf("Get(%q): found %v, want %v; (-model +store):\n%s", k, gotOK, wantOK, diff)
					}
				}
			},
		})
	})
}

// TestModelScanAgrees is a sanity check of the model itself against a
// hand-computed answer, so that a broken model cannot hide a broken store.
func TestModelScanAgrees(t *testing.T) {
	m := &model{items: map[string]Item{}, leaseOf: map[string]uint64{}, ttls: map[uint64]uint64{}}
	for i, k := range []string{"b", "a", "c"} {
		m.apply(uint64(i+1), EncodePut([]byte(k), []byte(strings.ToUpper(k))))
	}
	items, more := m.scan([]byte("a"), []byte("c"), 1)
	want := []Item{item("a", "A", 2, 2, 1)}
	if diff := cmp.Diff(want, items); diff != "" || !more {
		t.Errorf("model scan: more %v, want true; (-want +got):\n%s", more, diff)
	}
}
