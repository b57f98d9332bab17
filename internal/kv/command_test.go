package kv

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/yggrdb/yggr/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// goldenCheck compares got with testdata/name, or rewrites it with -update.
func goldenCheck(t *testing.T, name string, got []byte) {
	t.Helper()
	testutil.Golden(t, filepath.Join("testdata", name), got, *update)
}

// hexLines renders named encodings one per line for a golden file.
func hexLines(named []namedBytes) []byte {
	var b strings.Builder
	for _, n := range named {
		fmt.Fprintf(&b, "%-28s %s\n", n.name, hex.EncodeToString(n.b))
	}
	return []byte(b.String())
}

type namedBytes struct {
	name string
	b    []byte
}

// sampleTxn uses every target and op.
var sampleTxn = Txn{
	Compares: []Compare{
		{Key: []byte("e"), Target: CmpExists},
		{Key: []byte("m"), Target: CmpMissing},
		{Key: []byte("v"), Target: CmpValue, Value: []byte("old")},
		{Key: []byte("i"), Target: CmpModIndex, ModIndex: 300},
	},
	Then: []Request{
		{Op: OpPut, Key: []byte("k"), Value: []byte("new")},
		{Op: OpDelete, Key: []byte("d")},
	},
	Else: []Request{{Op: OpGet, Key: []byte("g")}},
}

var sampleCommands = []struct {
	name string
	cmd  Command
}{
	{"put", Command{Kind: KindPut, Key: []byte("key"), Value: []byte("value")}},
	{"put empty value", Command{Kind: KindPut, Key: []byte("k")}},
	{"put binary", Command{Kind: KindPut, Key: []byte{0, 0xff}, Value: bytes.Repeat([]byte{7}, 200)}},
	{"delete", Command{Kind: KindDelete, Key: []byte("key")}},
	{"txn empty", Command{Kind: KindTxn}},
	{"txn", Command{Kind: KindTxn, Txn: sampleTxn}},
	{"txn create_index", Command{Kind: KindTxn, Txn: Txn{
		Compares: []Compare{{Key: []byte("c"), Target: CmpCreateIndex, CreateIndex: 300}, {Key: []byte("e"), Target: CmpExists}},
		Then:     []Request{{Op: OpDelete, Key: []byte("c")}},
	}}},
}

func TestCommandRoundTrip(t *testing.T) {
	var named []namedBytes
	for _, tt := range sampleCommands {
		t.Run(tt.name, func(t *testing.T) {
			b := EncodeCommand(tt.cmd)
			got, err := DecodeCommand(b)
			if err != nil {
				t.Fatalf("DecodeCommand: %v", err)
			}
			if diff := cmp.Diff(tt.cmd, got, equalBytes); diff != "" {
				t.Errorf("decoded (-want +got):\n%s", diff)
			}
			if re := EncodeCommand(got); !bytes.Equal(re, b) {
				t.Errorf("re-encoded %x, want %x", re, b)
			}
			named = append(named, namedBytes{tt.name, b})
		})
	}
	goldenCheck(t, "commands.golden", hexLines(named))
}

func TestEncodeShortcuts(t *testing.T) {
	tests := []struct {
		name      string
		got, want []byte
	}{
		{"put", EncodePut([]byte("k"), []byte("v")), EncodeCommand(Command{Kind: KindPut, Key: []byte("k"), Value: []byte("v")})},
		{"delete", EncodeDelete([]byte("k")), EncodeCommand(Command{Kind: KindDelete, Key: []byte("k")})},
		{"txn", EncodeTxn(sampleTxn), EncodeCommand(Command{Kind: KindTxn, Txn: sampleTxn})},
		{"unused fields are not encoded",
			EncodeTxn(Txn{Compares: []Compare{{Key: []byte("k"), Target: CmpExists, Value: []byte("x"), ModIndex: 9}},
				Then: []Request{{Op: OpDelete, Key: []byte("k"), Value: []byte("x")}}}),
			EncodeTxn(Txn{Compares: []Compare{{Key: []byte("k"), Target: CmpExists}},
				Then: []Request{{Op: OpDelete, Key: []byte("k")}}})},
		{"create index is not encoded for another target",
			EncodeTxn(Txn{Compares: []Compare{{Key: []byte("k"), Target: CmpModIndex, ModIndex: 2, CreateIndex: 9}}}),
			EncodeTxn(Txn{Compares: []Compare{{Key: []byte("k"), Target: CmpModIndex, ModIndex: 2}}})},
		{"a create_index compare makes a version 2 command",
			EncodeTxn(Txn{Compares: []Compare{{Key: []byte("k"), Target: CmpCreateIndex, CreateIndex: 2}}})[:1],
			[]byte{commandVersionLease}},
	}
	for _, tt := range tests {
		if !bytes.Equal(tt.got, tt.want) {
			t.Errorf("%s: got %x, want %x", tt.name, tt.got, tt.want)
		}
	}
}

func TestDecodeCommandErrors(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"version only", []byte{commandVersion}},
		{"unknown version", []byte{2, byte(KindDelete), 1, 'k'}},
		{"unknown kind", []byte{commandVersion, 0}},
		{"unknown kind 4", []byte{commandVersion, 4, 1, 'k'}},
		{"put without value", []byte{commandVersion, byte(KindPut), 1, 'k'}},
		{"put empty key", []byte{commandVersion, byte(KindPut), 0, 0}},
		{"key length past the end", []byte{commandVersion, byte(KindDelete), 5, 'k'}},
		{"huge key length", []byte{commandVersion, byte(KindDelete), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"uvarint overflow", []byte{commandVersion, byte(KindDelete), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"overlong uvarint", []byte{commandVersion, byte(KindDelete), 0x81, 0x00, 'k'}},
		{"trailing byte", []byte{commandVersion, byte(KindDelete), 1, 'k', 0}},
		{"txn truncated", EncodeTxn(sampleTxn)[:20]},
		{"txn huge compare count", []byte{commandVersion, byte(KindTxn), 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0}},
		{"txn compare count past the end", []byte{commandVersion, byte(KindTxn), 2, byte(CmpExists), 1, 'k', 0, 0}},
		{"txn unknown target", []byte{commandVersion, byte(KindTxn), 1, 9, 1, 'k', 0, 0}},
		{"txn target 0", []byte{commandVersion, byte(KindTxn), 1, 0, 1, 'k', 0, 0}},
		{"txn compare empty key", []byte{commandVersion, byte(KindTxn), 1, byte(CmpExists), 0, 0, 0}},
		{"txn unknown op", []byte{commandVersion, byte(KindTxn), 0, 1, 9, 1, 'k', 0}},
		{"txn request empty key", []byte{commandVersion, byte(KindTxn), 0, 1, byte(OpGet), 0, 0}},
		{"txn missing else", []byte{commandVersion, byte(KindTxn), 0, 0}},
		{"txn trailing byte", append(EncodeTxn(Txn{}), 0)},
		{"create_index compare in version 1", []byte{commandVersion, byte(KindTxn), 1, byte(CmpCreateIndex), 1, 'k', 2, 0, 0}},
		{"version 2 txn with neither a lease nor a create_index compare", []byte{commandVersionLease, byte(KindTxn), 1, byte(CmpExists), 1, 'k', 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := DecodeCommand(tt.b)
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("DecodeCommand(%x) = %+v, %v; want an error wrapping ErrCorrupt", tt.b, c, err)
			}
		})
	}
}

// TestDecodeCommandTruncations checks that every proper prefix of every
// sample fails to decode.
func TestDecodeCommandTruncations(t *testing.T) {
	for _, tt := range sampleCommands {
		b := EncodeCommand(tt.cmd)
		for n := range len(b) {
			if _, err := DecodeCommand(b[:n]); !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s: DecodeCommand of %d of %d bytes: err = %v, want ErrCorrupt", tt.name, n, len(b), err)
			}
		}
	}
}

func TestKindOpTargetStrings(t *testing.T) {
	tests := []struct{ got, want string }{
		{KindPut.String(), "put"}, {KindDelete.String(), "delete"}, {KindTxn.String(), "txn"}, {Kind(9).String(), "kind(9)"},
		{OpPut.String(), "put"}, {OpDelete.String(), "delete"}, {OpGet.String(), "get"}, {Op(0).String(), "op(0)"},
		{CmpExists.String(), "exists"}, {CmpMissing.String(), "missing"}, {CmpValue.String(), "value"},
		{CmpModIndex.String(), "mod_index"}, {CmpCreateIndex.String(), "create_index"}, {CmpTarget(7).String(), "target(7)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// FuzzDecodeCommand: decoding never panics, and whatever decodes re-encodes
// to the same bytes and applies without panicking.
func FuzzDecodeCommand(f *testing.F) {
	for _, tt := range sampleCommands {
		f.Add(EncodeCommand(tt.cmd))
	}
	f.Add([]byte{commandVersion, byte(KindDelete), 0x81, 0x00, 'k'})
	f.Add(EncodeLeaseGrant(1000))
	f.Add(EncodeLeaseRevoke(3))
	f.Add(EncodePutLease([]byte("k"), []byte("v"), 2))
	f.Add(EncodeTxn(Txn{Then: []Request{{Op: OpPut, Key: []byte("k"), Lease: 2}, {Op: OpDelete, Key: []byte("j")}}}))
	f.Add([]byte{commandVersion, byte(KindTxn), 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0})
	f.Add(EncodeTxn(Txn{Compares: []Compare{{Key: []byte("k"), Target: CmpCreateIndex, CreateIndex: 2}},
		Then: []Request{{Op: OpPut, Key: []byte("k"), Value: []byte("v")}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		s := New()
		res, rerr := DecodeResult(s.Apply(1, b))
		if rerr != nil {
			t.Fatalf("DecodeResult(Apply): %v", rerr)
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			if res.Err == "" || s.Len() != 0 {
				t.Fatalf("Apply of an undecodable command: Err %q, Len %d; want an error and no change", res.Err, s.Len())
			}
			return
		}
		if re := EncodeCommand(c); !bytes.Equal(re, b) {
			t.Fatalf("re-encoded %x, want %x", re, b)
		}
		if res.Err != "" {
			t.Fatalf("Apply of a decodable command: Err %q", res.Err)
		}
	})
}

// TestDecodeErrorsNameTheField: a corrupt command's error says which field
// failed, as well as wrapping ErrCorrupt.
func TestDecodeErrorsNameTheField(t *testing.T) {
	for _, tt := range []struct {
		b    []byte
		want string
	}{
		{[]byte{commandVersion}, "kind: truncated"},
		{[]byte{commandVersion, byte(KindPut), 1, 'k'}, "put value: bad uvarint"},
		{[]byte{commandVersion, byte(KindPut), 0, 0}, "put key: empty key"},
		{[]byte{commandVersion, byte(KindDelete), 5, 'k'}, "delete key: length 5 exceeds the 1 bytes left"},
		{[]byte{commandVersion, byte(KindTxn), 2, byte(CmpExists), 1, 'k', 0, 0}, "compare count: count 2 exceeds"},
		{[]byte{commandVersion, byte(KindTxn), 0, 1, byte(OpPut), 1, 'k'}, "then value: bad uvarint"},
		{[]byte{commandVersion, byte(KindTxn), 0, 0, 1, byte(OpGet), 0, 0}, "else key: empty key"},
		{[]byte{commandVersion, byte(KindTxn), 0, 1, 9, 1, 'k', 0}, "unknown then op 9"},
		{[]byte{commandVersion, byte(KindDelete), 1, 'k', 0}, "1 trailing bytes"},
	} {
		_, err := DecodeCommand(tt.b)
		if !errors.Is(err, ErrCorrupt) || err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("DecodeCommand(%x) = %v, want ErrCorrupt saying %q", tt.b, err, tt.want)
		}
	}
	res := EncodeResult(Result{Index: 3, Prev: &Item{Key: []byte("k"), Value: []byte("v"), CreateIndex: 1, ModIndex: 2, Version: 1}})
	_, err := DecodeResult(res[:len(res)-2])
	if !errors.Is(err, ErrCorrupt) || err == nil || !strings.Contains(err.Error(), "prev version: bad uvarint") {
		t.Errorf("DecodeResult of a truncated result = %v, want ErrCorrupt saying prev version", err)
	}
}

// TestEncodeTxnExactSize checks that EncodeTxn allocates exactly the
// encoding's length (txnSize): the buffer is the proposal the engine and
// the log keep in memory. Lengths and indexes up to 3-byte uvarints.
func TestEncodeTxnExactSize(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		const maxIndex = 1 << 20
		bytesOf := func(label string) []byte {
			return make([]byte, rapid.SampledFrom([]int{0, 1, 127, 128, 16383, 16384}).Draw(t, label))
		}
		var tx Txn
		for range rapid.IntRange(0, 3).Draw(t, "compares") {
			c := genCompare(t, maxIndex)
			if c.Target == CmpValue {
				c.Value = bytesOf("cmpValueLen")
			}
			tx.Compares = append(tx.Compares, c)
		}
		tx.Then = genRequests(t, "then", maxIndex)
		tx.Else = genRequests(t, "else", maxIndex)
		for i := range tx.Then {
			if tx.Then[i].Op == OpPut {
				tx.Then[i].Value = bytesOf("valueLen")
			}
		}
		b := EncodeTxn(tx)
		if len(b) != cap(b) {
			t.Fatalf("EncodeTxn: %d bytes in a buffer of %d", len(b), cap(b))
		}
		if _, err := DecodeCommand(b); err != nil {
			t.Fatalf("DecodeCommand(EncodeTxn): %v", err)
		}
	})
}
