package httpapi

import (
	"bytes"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/yggrdb/yggr"
	"pgregory.net/rapid"
)

// strictBatch decodes body as the endpoint's definition does: encoding/json,
// unknown fields and trailing data refused.
func strictBatch(body []byte) ([]BatchOp, error) {
	var req BatchRequest
	err := decodeStrict(bytes.NewReader(body), &req, "batch JSON")
	return req.Ops, err
}

// Whatever the reflection-free parser accepts, encoding/json accepts too
// and decodes to exactly the same ops (nil and empty slices alike
// distinguished); it never panics.
func FuzzCanonicalBatchAgreesWithJSON(f *testing.F) {
	for _, s := range []string{
		`{"ops":[{"op":"put","key":"YQ==","value":"MQ==","lease":7},{"op":"get","key":"YQ==","consistency":"stale","min_index":3},{"op":"delete","key":"YQ=="}]}`,
		`{"ops":[]}`, `{"ops":null}`, `{"ops":[{"op":"put","key":null}]}`, `{"ops":[{"op":"put","key":"","value":""}]}`,
		`{"ops":[{"op":"put","key":"YQ==","lease":18446744073709551615}]}`,
		`{"ops":[{"op":"put","key":"YQ==","lease":18446744073709551616}]}`,
		`{"ops":[{"op":"put","key":"YQ==","lease":01}]}`, `{"ops":[{"op":"put","key":"YQ==","lease":-1}]}`,
		`{"ops":[{"op":"put","key":"YQ==","lease":1e3}]}`, `{"ops":[{"op":"put","key":"YQ"}]}`,
		`{"ops":[{"op":"p\u0075t","key":"YQ=="}]}`, `{"OPS":[{"Op":"put","key":"YQ=="}]}`,
		`{"ops":[{"op":"put","key":"YQ==","key":"Yg=="}]}`, `{"ops":[{"op":"put","key":"YQ=="}]}` + "\n",
		`{"ops":[{"op":"<&>","key":"YQ==","consistency":"x"}]}`, `{"ops":[{"key":"YQ==","op":"put"}]}`,
		`{"ops":[{"op":"put","key":"YQ=="}],"ops":[]}`, `{"ops":[{"op":"put","key":"Y\/Q="}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, ok := parseCanonicalBatch(body)
		if !ok {
			return
		}
		want, err := strictBatch(body)
		if err != nil {
			t.Fatalf("parseCanonicalBatch accepted %q, encoding/json refuses it: %v", body, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: parseCanonicalBatch %#v, encoding/json %#v", body, got, want)
		}
	})
}

// What the Go client sends always takes the fast path, and decodes to the
// ops it encoded.
func TestCanonicalBatchTakesClientBodies(t *testing.T) {
	bytesGen := rapid.OneOf(rapid.Just([]byte(nil)), rapid.SliceOfN(rapid.Byte(), 0, 40))
	u64 := rapid.OneOf(rapid.Just(uint64(0)), rapid.Uint64())
	opGen := rapid.Custom(func(t *rapid.T) BatchOp {
		return BatchOp{
			Op:          rapid.SampledFrom([]string{OpPut, OpGet, OpDelete}).Draw(t, "op"),
			Key:         bytesGen.Draw(t, "key"),
			Value:       bytesGen.Draw(t, "value"),
			Lease:       yggr.LeaseID(u64.Draw(t, "lease")),
			Consistency: rapid.SampledFrom([]string{"", "linearizable", "lease", "stale"}).Draw(t, "consistency"),
			MinIndex:    u64.Draw(t, "min"),
		}
	})
	rapid.Check(t, func(t *rapid.T) {
		ops := rapid.SliceOfN(opGen, 0, 20).Draw(t, "ops")
		body := []byte(`{"ops":[`)
		for i, op := range ops {
			if i > 0 {
				body = append(body, ',')
			}
			body = appendBatchOp(body, op)
		}
		body = append(body, "]}"...)
		got, ok := parseCanonicalBatch(body)
		if !ok {
			t.Fatalf("the client's body %s missed the fast path", body)
		}
		if len(ops) == 0 && len(got) == 0 {
			return
		}
		// A nil key travels as null and an empty one as "", so keys
		// come back as sent; values are omitted when empty.
		if !reflect.DeepEqual(normalize(got), normalize(ops)) {
			t.Fatalf("%s: decoded %+v, sent %+v", body, got, ops)
		}
	})
}

// The body's buffer goes back to the pool once decoded: nothing decoded
// refers to it (a later batch reusing the buffer does not change the ops
// of an earlier one).
func TestDecodeBatchOwnsItsOps(t *testing.T) {
	first, err := decodeBatch(strings.NewReader(`{"ops":[{"op":"put","key":"YQ==","value":"MQ==","consistency":"zz"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if _, err := decodeBatch(strings.NewReader(`{"ops":[{"op":"get","key":"Yg==","value":"Mg==","consistency":"yy"}]}`)); err != nil {
			t.Fatal(err)
		}
	}
	if op := first[0]; op.Op != OpPut || string(op.Key) != "a" || string(op.Value) != "1" || op.Consistency != "zz" {
		t.Fatalf("the first batch's op changed to %+v", op)
	}
}

// A body over MaxBatchOps is refused as before (413), and what the fast
// path allocates for a body is bounded by the limit, not by how many
// `{"op":` the body repeats.
func TestCanonicalBatchBounded(t *testing.T) {
	op := `{"op":"put","key":"YQ=="}`
	body := `{"ops":[` + strings.Repeat(op+",", MaxBatchOps) + op + `]}`
	if _, ok := parseCanonicalBatch([]byte(body)); ok {
		t.Errorf("the fast path took %d ops", MaxBatchOps+1)
	}
	if _, err := decodeBatch(strings.NewReader(body)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("%d ops: %v, want the batch refused as too large", MaxBatchOps+1, err)
	}
	junk := []byte(`{"ops":[` + strings.Repeat(`{"op":`, 1<<17)) // 768 KiB
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, ok := parseCanonicalBatch(junk); ok {
		t.Fatal("junk parsed")
	}
	runtime.ReadMemStats(&after)
	// The arena (3/4 of the body) and at most MaxBatchOps ops, with room
	// for what other goroutines allocate meanwhile; 131072 BatchOps
	// would be 12 MiB.
	if got, limit := after.TotalAlloc-before.TotalAlloc, 2*uint64(len(junk))+MaxBatchOps*uint64(unsafe.Sizeof(BatchOp{})); got > limit {
		t.Errorf("parsing %d bytes of junk allocated %d bytes, want at most %d", len(junk), got, limit)
	}
}
