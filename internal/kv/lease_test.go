package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func putL(key, value string, lease uint64) []byte {
	return EncodePutLease([]byte(key), []byte(value), lease)
}

func leaseKeys(t *testing.T, s *Store, id uint64) []string {
	t.Helper()
	info, ok := s.Lease(id)
	if !ok {
		t.Fatalf("Lease(%d) not found", id)
	}
	var ks []string
	for _, k := range info.Keys {
		ks = append(ks, string(k))
	}
	return ks
}

func TestLeaseGrantAttachRevoke(t *testing.T) {
	s := New()
	var events []Event
	s.Record(&events)
	res := applyAll(t, s, EncodeLeaseGrant(5000), EncodeLeaseGrant(100))
	a, b := res[0].Index, res[1].Index // IDs are the grant indexes
	if a != 1 || b != 2 {
		t.Fatalf("grant indexes %d, %d; want 1, 2", a, b)
	}
	if ttl, ok := s.LeaseTTL(a); !ok || ttl != 5000 {
		t.Fatalf("LeaseTTL(%d) = %d, %v; want 5000, true", a, ttl, ok)
	}
	applyAll(t, s,
		putL("k2", "v", a), putL("k1", "v", a), putL("k3", "v", b), put("plain", "v"),
		EncodeTxn(Txn{Then: []Request{{Op: OpPut, Key: []byte("t1"), Value: []byte("x"), Lease: a}, {Op: OpPut, Key: []byte("t2")}}}),
	)
	if diff := cmp.Diff([]string{"k1", "k2", "t1"}, leaseKeys(t, s, a)); diff != "" {
		t.Errorf("keys of lease a (-want +got):\n%s", diff)
	}
	// Moving a key to another lease, putting it without a lease, and
	// deleting it all detach it.
	applyAll(t, s, putL("k2", "w", b), put("t1", "y"), putL("gone", "v", a), del("gone"))
	if diff := cmp.Diff([]string{"k1"}, leaseKeys(t, s, a)); diff != "" {
		t.Errorf("keys of lease a after moves (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"k2", "k3"}, leaseKeys(t, s, b)); diff != "" {
		t.Errorf("keys of lease b (-want +got):\n%s", diff)
	}
	// Revoke deletes every key of the lease at one index, in key order,
	// and records each delete.
	events = events[:0]
	gen := s.LeaseGen()
	r := applyAll(t, s, EncodeLeaseRevoke(b))[0]
	if r.LeaseNotFound {
		t.Fatalf("revoke of a live lease: LeaseNotFound")
	}
	var deleted []string
	for _, ev := range events {
		if !ev.IsDelete() {
			t.Errorf("revoke recorded a put of %q", ev.Key())
		}
		deleted = append(deleted, ev.Key())
	}
	if diff := cmp.Diff([]string{"k2", "k3"}, deleted); diff != "" {
		t.Errorf("revoke's events (-want +got):\n%s", diff)
	}
	if _, ok := s.Get([]byte("k2")); ok {
		t.Errorf("k2 survived the revoke of its lease")
	}
	if _, ok := s.Get([]byte("plain")); !ok {
		t.Errorf("a key without a lease was deleted")
	}
	if _, ok := s.Lease(b); ok {
		t.Errorf("revoked lease still exists")
	}
	if s.LeaseGen() == gen {
		t.Errorf("LeaseGen did not change on revoke")
	}
	leases, _ := s.Leases()
	if diff := cmp.Diff([]LeaseInfo{{ID: a, TTL: 5000}}, leases); diff != "" {
		t.Errorf("Leases (-want +got):\n%s", diff)
	}
}

func TestLeaseNotFound(t *testing.T) {
	s := New()
	id := applyAll(t, s, EncodeLeaseGrant(1000))[0].Index
	applyAll(t, s, put("a", "1"))
	beforeItems := all(s)
	beforeLeases, _ := s.Leases()
	for _, tt := range []struct {
		name string
		cmd  []byte
	}{
		{"put to a never granted lease", putL("a", "2", 99)},
		{"txn put to a never granted lease", EncodeTxn(Txn{Then: []Request{
			{Op: OpDelete, Key: []byte("a")}, {Op: OpPut, Key: []byte("b"), Lease: 99}}})},
		{"revoke of a never granted lease", EncodeLeaseRevoke(99)},
	} {
		r := applyAll(t, s, tt.cmd)[0]
		if !r.LeaseNotFound || r.Err != "" {
			t.Errorf("%s: LeaseNotFound %v, Err %q; want true and no error", tt.name, r.LeaseNotFound, r.Err)
		}
		afterLeases, _ := s.Leases()
		if diff := cmp.Diff(beforeItems, all(s), equalBytes); diff != "" {
			t.Errorf("%s changed the items (-before +after):\n%s", tt.name, diff)
		}
		if diff := cmp.Diff(beforeLeases, afterLeases); diff != "" {
			t.Errorf("%s changed the leases (-before +after):\n%s", tt.name, diff)
		}
	}
	if it, ok := s.Get([]byte("a")); !ok || string(it.Value) != "1" {
		t.Errorf("a = %q, %v after refused commands; want 1", it.Value, ok)
	}
	if _, ok := s.Get([]byte("b")); ok {
		t.Errorf("a refused transaction wrote b")
	}
	// Attaching to a revoked lease is refused too.
	applyAll(t, s, EncodeLeaseRevoke(id))
	if r := applyAll(t, s, putL("c", "1", id))[0]; !r.LeaseNotFound {
		t.Errorf("put to a revoked lease: LeaseNotFound false")
	}
	if r := applyAll(t, s, EncodeLeaseRevoke(id))[0]; !r.LeaseNotFound {
		t.Errorf("second revoke: LeaseNotFound false")
	}
	// A failed compare runs Else, whose lease is checked, not Then's.
	r := applyAll(t, s, EncodeTxn(Txn{
		Compares: []Compare{{Key: []byte("zz"), Target: CmpExists}},
		Then:     []Request{{Op: OpPut, Key: []byte("t"), Lease: 99}},
		Else:     []Request{{Op: OpPut, Key: []byte("e")}},
	}))[0]
	if r.LeaseNotFound || r.Succeeded {
		t.Errorf("txn whose bad lease is in the branch not taken: %+v", r)
	}
	if _, ok := s.Get([]byte("e")); !ok {
		t.Errorf("Else did not run")
	}
}

func TestLeaseCommandEncoding(t *testing.T) {
	for _, c := range []Command{
		{Kind: KindLeaseGrant, TTL: 1},
		{Kind: KindLeaseGrant, TTL: 1 << 40},
		{Kind: KindLeaseRevoke, Lease: 300},
		{Kind: KindPut, Key: []byte("k"), Value: []byte("v"), Lease: 7},
		{Kind: KindTxn, Txn: Txn{Then: []Request{{Op: OpPut, Key: []byte("k"), Lease: 7}, {Op: OpPut, Key: []byte("j")}, {Op: OpGet, Key: []byte("k")}}}},
	} {
		b := EncodeCommand(c)
		if b[0] != commandVersionLease {
			t.Errorf("%v: version %d, want %d", c.Kind, b[0], commandVersionLease)
		}
		got, err := DecodeCommand(b)
		if err != nil {
			t.Fatalf("DecodeCommand(%x): %v", b, err)
		}
		if diff := cmp.Diff(c, got, equalBytes); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
	// Without a lease, puts and transactions keep their version 1 bytes.
	if b := EncodePutLease([]byte("k"), []byte("v"), 0); !bytes.Equal(b, EncodePut([]byte("k"), []byte("v"))) {
		t.Errorf("EncodePutLease with lease 0 = %x, want EncodePut's bytes", b)
	}
	for _, tt := range []struct {
		name string
		b    []byte
	}{
		{"v2 put with lease 0", []byte{2, byte(KindPut), 1, 'k', 0, 0}},
		{"v2 delete", []byte{2, byte(KindDelete), 1, 'k'}},
		{"v2 txn without a lease", []byte{2, byte(KindTxn), 0, 1, byte(OpPut), 1, 'k', 0, 0, 0}},
		{"grant in v1", []byte{1, byte(KindLeaseGrant), 5}},
		{"revoke in v1", []byte{1, byte(KindLeaseRevoke), 5}},
		{"grant ttl 0", []byte{2, byte(KindLeaseGrant), 0}},
		{"revoke id 0", []byte{2, byte(KindLeaseRevoke), 0}},
		{"grant overlong ttl", []byte{2, byte(KindLeaseGrant), 0x85, 0x00}},
		{"grant trailing", []byte{2, byte(KindLeaseGrant), 5, 0}},
		{"version 3", []byte{3, byte(KindLeaseGrant), 5}},
	} {
		if _, err := DecodeCommand(tt.b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: DecodeCommand = %v, want ErrCorrupt", tt.name, err)
		}
	}
}

// leased returns a store with two leases (one with keys) and keys with
// and without leases.
func leased(t testing.TB) *Store {
	s := New()
	applyAll(t, s, put("a", "1"), EncodeLeaseGrant(2000), EncodeLeaseGrant(30000),
		putL("b", "2", 2), putL("c", "3", 2), put("d", ""))
	return s
}

func TestSnapshotLeases(t *testing.T) {
	s := leased(t)
	b := snapshotBytes(t, s)
	if b[4] != snapshotVersionLease {
		t.Fatalf("snapshot of a store with leases: version %d, want %d", b[4], snapshotVersionLease)
	}
	r := populated(t)
	gen := r.LeaseGen()
	if err := r.Restore(bytes.NewReader(b)); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if r.LeaseGen() == gen {
		t.Errorf("LeaseGen unchanged by Restore")
	}
	if diff := cmp.Diff(all(s), all(r), equalBytes); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}
	want, _ := s.Leases()
	got, _ := r.Leases()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("leases (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"b", "c"}, leaseKeys(t, r, 2)); diff != "" {
		t.Errorf("restored keys of lease 2 (-want +got):\n%s", diff)
	}
	if again := snapshotBytes(t, r); !bytes.Equal(again, b) {
		t.Errorf("snapshot of the restored store differs")
	}
	// The restored table works: revoking deletes the keys.
	applyAll(t, r, EncodeLeaseRevoke(2))
	if r.Len() != 2 {
		t.Errorf("after revoke Len = %d, want 2 (a, d)", r.Len())
	}
	// Once the last lease is gone the store writes version 1 again.
	applyAll(t, r, EncodeLeaseRevoke(3))
	if v := snapshotBytes(t, r)[4]; v != snapshotVersion {
		t.Errorf("snapshot without leases: version %d, want %d", v, snapshotVersion)
	}
	goldenCheck(t, "snapshot_v2.golden", hexLines([]namedBytes{{"leased", b}}))
	// A failed restore leaves the lease table alone.
	assertRestoreFails(t, s, b[:len(b)-1], "truncated v2")
	if _, ok := s.Lease(2); !ok {
		t.Errorf("failed Restore dropped a lease")
	}
}

// rawV2 builds a version 2 stream body: header, leases, then the item
// count.
func rawV2(index uint64, leases [][2]uint64, count uint64) []byte {
	b := append([]byte(snapshotMagic), snapshotVersionLease)
	b = appendUv(b, index, uint64(len(leases)))
	for _, l := range leases {
		b = appendUv(b, l[0], l[1])
	}
	return appendUv(b, count)
}

func appendUv(b []byte, vs ...uint64) []byte {
	for _, v := range vs {
		b = binary.AppendUvarint(b, v)
	}
	return b
}

// rawV2Item appends a version 2 item.
func rawV2Item(b []byte, key, value string, create, mod, version, lease uint64) []byte {
	b = appendUv(b, uint64(len(key)), uint64(len(value)), create, mod, version, lease)
	return append(append(b, key...), value...)
}

func TestRestoreInvalidV2(t *testing.T) {
	for _, tt := range []struct {
		name string
		b    []byte
	}{
		{"no lease", rawV2(5, nil, 0)},
		{"lease id 0", rawV2(5, [][2]uint64{{0, 10}}, 0)},
		{"lease ids out of order", rawV2(5, [][2]uint64{{3, 10}, {2, 10}}, 0)},
		{"duplicate lease", rawV2(5, [][2]uint64{{3, 10}, {3, 10}}, 0)},
		{"lease above the index", rawV2(5, [][2]uint64{{6, 10}}, 0)},
		{"lease ttl 0", rawV2(5, [][2]uint64{{3, 0}}, 0)},
		{"item of an unknown lease", rawV2Item(rawV2(5, [][2]uint64{{3, 10}}, 1), "a", "1", 1, 1, 1, 4)},
		{"lease count past the leases", append(append([]byte(snapshotMagic), snapshotVersionLease), 5, 3, 1, 1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			target := leased(t)
			assertRestoreFails(t, target, withCRC(tt.b), tt.name)
		})
	}
	ok := withCRC(rawV2Item(rawV2Item(rawV2(5, [][2]uint64{{2, 10}, {3, 7}}, 2), "a", "1", 1, 1, 1, 3), "b", "", 4, 5, 2, 0))
	s := New()
	if err := s.Restore(bytes.NewReader(ok)); err != nil {
		t.Fatalf("Restore of a valid hand-built v2 stream: %v", err)
	}
	if diff := cmp.Diff([]string{"a"}, leaseKeys(t, s, 3)); diff != "" {
		t.Errorf("keys of lease 3 (-want +got):\n%s", diff)
	}
	if got := snapshotBytes(t, s); !bytes.Equal(got, ok) {
		t.Errorf("rewritten v2 stream %x, want %x", got, ok)
	}
}

// TestLeaseDeterminism: two replicas applying the same log reach the same
// snapshot bytes, whatever the map iteration orders.
func TestLeaseDeterminism(t *testing.T) {
	build := func() ([]byte, []string) {
		s := New()
		var events []Event
		s.Record(&events)
		applyAll(t, s, EncodeLeaseGrant(10), EncodeLeaseGrant(20))
		for i := range 50 {
			applyAll(t, s, putL(string(rune('a'+i%26))+string(rune('a'+i/26)), "v", uint64(1+i%2)))
		}
		events = events[:0]
		applyAll(t, s, EncodeLeaseRevoke(1))
		var keys []string
		for _, ev := range events {
			// A copy: Key's string is valid only while the Event is held.
			keys = append(keys, strings.Clone(ev.Key()))
		}
		return snapshotBytes(t, s), keys
	}
	b1, k1 := build()
	for range 5 {
		b2, k2 := build()
		if !bytes.Equal(b1, b2) {
			t.Fatalf("replicas differ")
		}
		if diff := cmp.Diff(k1, k2); diff != "" {
			t.Fatalf("revoke's event order differs (-first +later):\n%s", diff)
		}
	}
}

func TestCheckTxnLeaseOnNonPut(t *testing.T) {
	for _, op := range []Op{OpDelete, OpGet} {
		err := Limits{}.CheckTxn(Txn{Then: []Request{{Op: op, Key: []byte("k"), Lease: 3}}})
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s with a lease: CheckTxn = %v, want ErrInvalid", op, err)
		}
	}
	if err := (Limits{}).CheckTxn(Txn{Then: []Request{{Op: OpPut, Key: []byte("k"), Lease: 3}}}); err != nil {
		t.Errorf("put with a lease: CheckTxn = %v", err)
	}
}
