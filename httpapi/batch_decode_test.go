package httpapi

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

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
		if !reflect.DeepEqual(normalizeKeys(normalize(got)), normalizeKeys(normalize(ops))) {
			t.Fatalf("%s: decoded %+v, sent %+v", body, got, ops)
		}
	})
}

// normalizeKeys makes empty keys alike (the client writes a nil key as
// null, an empty one as "").
func normalizeKeys(ops []BatchOp) []BatchOp {
	for i := range ops {
		if ops[i].Key != nil && len(ops[i].Key) == 0 {
			ops[i].Key = []byte{}
		}
	}
	return ops
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
