package kv

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// longKey returns a key of n bytes that starts with "abcdefgh", so that
// long keys tie on their prefixes with short ones.
func longKey(n int, last byte) string {
	return "abcdefgh" + strings.Repeat("x", n-9) + string(last)
}

// TestEntryLess checks the tree order against bytes.Compare on keys that
// tie on, or differ only within, their 8-byte prefixes, including keys
// whose length takes more than one uvarint byte in the blob, and with
// both entries and pivots on either side.
func TestEntryLess(t *testing.T) {
	keys := []string{"\x00", "\x00\x00", "a", "a\x00", "a\x00\x00\x00\x00\x00\x00\x00\x01", "a\x01",
		"abcdefgh", "abcdefgh\x00", "abcdefghi", "abcdefgi", "\xff\xff\xff\xff\xff\xff\xff\xff", "\xff\xff\xff\xff\xff\xff\xff\xff\xff",
		longKey(127, 'a'), longKey(128, 'a'), longKey(128, 'b'), longKey(300, 'a'), longKey(20000, 'a')}
	asEntry := map[string]func([]byte) entry{
		"pivot": pivot,
		"entry": func(k []byte) entry { return testArena.newEntry(k, []byte("v"), 1, 2, 3) },
	}
	for an, ae := range asEntry {
		for bn, be := range asEntry {
			for _, a := range keys {
				for _, b := range keys {
					got := entryLess(ae([]byte(a)), be([]byte(b)))
					want := bytes.Compare([]byte(a), []byte(b)) < 0
					if got != want {
						t.Errorf("entryLess(%s %.20q (%d bytes), %s %.20q (%d bytes)) = %v, want %v",
							an, a, len(a), bn, b, len(b), got, want)
					}
				}
			}
		}
	}
}

// TestEntryRoundTrip checks that an entry gives back the parts it was
// built from, as copies, and that its blob has no slack.
func TestEntryRoundTrip(t *testing.T) {
	tests := []struct {
		name                 string
		key, value           string
		create, mod, version uint64
	}{
		{"small", "k", "v", 1, 1, 1},
		{"empty value", "k", "", 3, 5, 2},
		{"key of 127 bytes", longKey(127, 'z'), "v", 1, 2, 1},
		{"key of 128 bytes", longKey(128, 'z'), "v", 1, 2, 1},
		{"long key and value", longKey(70000, 'z'), strings.Repeat("v", 100000), 1 << 40, 1<<40 + 1, 1 << 20},
		{"largest indexes", "k", "v", math.MaxUint64 - 1, math.MaxUint64, math.MaxUint64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, value := []byte(tt.key), []byte(tt.value)
			e := testArena.newEntry(key, value, tt.create, tt.mod, tt.version)
			for i := range key {
				key[i] = 'X' // the entry keeps no reference to key
			}
			for i := range value {
				value[i] = 'X' // nor to value
			}
			want := Item{Key: []byte(tt.key), Value: []byte(tt.value), CreateIndex: tt.create, ModIndex: tt.mod, Version: tt.version}
			if tt.value == "" {
				want.Value = nil
			}
			it := e.item()
			if diff := cmp.Diff(want, it); diff != "" {
				t.Errorf("item() (-want +got):\n%s", diff)
			}
			if e.key() != tt.key {
				t.Errorf("key() = %.20q, want %.20q", e.key(), tt.key)
			}
			if got, want := e.prefix, keyPrefix(tt.key); got != want {
				t.Errorf("prefix = %x, want %x", got, want)
			}
			hdr, _ := appendBlobHeaders(nil, len(tt.key), tt.create, tt.mod, tt.version)
			if got, want := len(e.blob()), len(hdr)+len(tt.key)+len(tt.value); got != want {
				t.Errorf("blob holds %d bytes, want %d", got, want)
			}
			it.Key[0] = 'Y' // item() returns a copy
			if e.key() != tt.key {
				t.Errorf("writing to item().Key changed the entry's key to %.20q", e.key())
			}
		})
	}
}

// testArena holds the blobs of entries tests build outside a store; it is
// never collected, so their blobs stay valid.
var testArena = newArena()
