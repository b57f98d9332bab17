package kv

import (
	"bytes"
	"testing"
)

// TestEntryLess checks the tree order against bytes.Compare on keys that
// tie on, or differ only within, their 8-byte prefixes.
func TestEntryLess(t *testing.T) {
	keys := []string{"\x00", "\x00\x00", "a", "a\x00", "a\x00\x00\x00\x00\x00\x00\x00\x01", "a\x01",
		"abcdefgh", "abcdefgh\x00", "abcdefghi", "abcdefgi", "\xff\xff\xff\xff\xff\xff\xff\xff", "\xff\xff\xff\xff\xff\xff\xff\xff\xff"}
	for _, a := range keys {
		for _, b := range keys {
			got := entryLess(pivot([]byte(a)), pivot([]byte(b)))
			want := bytes.Compare([]byte(a), []byte(b)) < 0
			if got != want {
				t.Errorf("entryLess(%q, %q) = %v, want %v", a, b, got, want)
			}
		}
	}
}
