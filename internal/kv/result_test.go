package kv

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var sampleResults = []struct {
	name string
	r    Result
}{
	{"zero", Result{}},
	{"put", Result{Index: 42}},
	{"delete", Result{Index: 1 << 40, Deleted: true}},
	{"error", Result{Index: 7, Err: "kv: corrupt data: truncated"}},
	{"prev", Result{Index: 9, Prev: &Item{Key: []byte("k"), Value: []byte("v"), CreateIndex: 2, ModIndex: 5, Version: 3}}},
	{"txn failed", Result{Index: 10}},
	{"txn", Result{Index: 11, Succeeded: true, Results: []OpResult{
		{Op: OpPut},
		{Op: OpPut, Found: true},
		{Op: OpDelete, Found: true},
		{Op: OpDelete},
		{Op: OpGet},
		{Op: OpGet, Found: true, Item: Item{Key: []byte("g"), CreateIndex: 1, ModIndex: 11, Version: 4}},
	}}},
}

func TestResultRoundTrip(t *testing.T) {
	var named []namedBytes
	for _, tt := range sampleResults {
		t.Run(tt.name, func(t *testing.T) {
			b := EncodeResult(tt.r)
			got, err := DecodeResult(b)
			if err != nil {
				t.Fatalf("DecodeResult: %v", err)
			}
			if diff := cmp.Diff(tt.r, got, equalBytes); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
			if re := EncodeResult(got); !bytes.Equal(re, b) {
				t.Errorf("re-encoded %x, want %x", re, b)
			}
			named = append(named, namedBytes{tt.name, b})
		})
	}
	goldenCheck(t, "results.golden", hexLines(named))
}

func TestEncodeResultDropsUnusedItems(t *testing.T) {
	r := Result{Results: []OpResult{
		{Op: OpPut, Item: Item{Key: []byte("x")}},
		{Op: OpGet, Found: false, Item: Item{Key: []byte("x")}},
	}}
	got, err := DecodeResult(EncodeResult(r))
	if err != nil {
		t.Fatal(err)
	}
	want := Result{Results: []OpResult{{Op: OpPut}, {Op: OpGet}}}
	if diff := cmp.Diff(want, got, equalBytes); diff != "" {
		t.Errorf("decoded (-want +got):\n%s", diff)
	}
}

func TestDecodeResultErrors(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"unknown version", []byte{2, 0, 0, 0, 0}},
		{"missing flags", []byte{resultVersion, 0}},
		{"unknown flags", []byte{resultVersion, 0, 0x10, 0, 0}}, // 0x08 is LeaseNotFound since leases
		{"overlong index", []byte{resultVersion, 0x80, 0x00, 0, 0, 0}},
		{"error past the end", []byte{resultVersion, 0, 0, 9, 'x', 0}},
		{"prev flag without item", []byte{resultVersion, 0, resultPrev, 0, 0}},
		{"prev with empty key", []byte{resultVersion, 0, resultPrev, 0, 0, 0, 1, 1, 1, 0}},
		{"huge result count", []byte{resultVersion, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"unknown op", []byte{resultVersion, 0, 0, 0, 1, 9, 0}},
		{"unknown op flags", []byte{resultVersion, 0, 0, 0, 1, byte(OpPut), 2}},
		{"found get without item", []byte{resultVersion, 0, 0, 0, 1, byte(OpGet), opFound}},
		{"trailing byte", append(EncodeResult(Result{Index: 1}), 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := DecodeResult(tt.b)
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("DecodeResult(%x) = %+v, %v; want an error wrapping ErrCorrupt", tt.b, r, err)
			}
		})
	}
	for _, tt := range sampleResults {
		b := EncodeResult(tt.r)
		for n := range len(b) {
			if _, err := DecodeResult(b[:n]); !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s: DecodeResult of %d of %d bytes: err = %v, want ErrCorrupt", tt.name, n, len(b), err)
			}
		}
	}
}

// FuzzDecodeResult: decoding never panics, and whatever decodes re-encodes
// to the same bytes.
func FuzzDecodeResult(f *testing.F) {
	for _, tt := range sampleResults {
		f.Add(EncodeResult(tt.r))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeResult(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if re := EncodeResult(r); !bytes.Equal(re, b) {
			t.Fatalf("re-encoded %x, want %x", re, b)
		}
	})
}
