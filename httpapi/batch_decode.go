package httpapi

import (
	"bytes"
	"encoding/base64"
	"io"
	"sync"

	"github.com/yggrdb/yggr"
)

// A batch body is read whole, then parsed by parseCanonicalBatch if it is
// exactly what json.Marshal (and the Go client's appendBatchOp) writes:
// the fields of each op in BatchOp's order, no whitespace, no escapes,
// numbers as plain digits. Anything else, every error included, goes to
// encoding/json (decodeStrict), which stays the definition of what the
// endpoint accepts; parseCanonicalBatch accepts a subset of that and
// decodes it to the same ops (FuzzCanonicalBatchAgreesWithJSON). It
// exists because the reflection decoder was 6.5% of a yggr-serve
// leader's CPU at concurrency 64.

// batchBodies holds the buffers batch bodies are read into; nothing
// decoded refers to one once decodeBatch returns (keys and values are
// base64-decoded into their own memory, strings are copied or constant).
var batchBodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBody bounds the buffers batchBodies keeps.
const maxPooledBody = 1 << 20

// readBatchBody reads r whole into a pooled buffer; release returns it.
func readBatchBody(r io.Reader) (body []byte, release func(), err error) {
	buf := batchBodies.Get().(*bytes.Buffer)
	buf.Reset()
	release = func() {
		if buf.Cap() <= maxPooledBody {
			batchBodies.Put(buf)
		}
	}
	if _, err := buf.ReadFrom(r); err != nil {
		release()
		return nil, nil, err
	}
	return buf.Bytes(), release, nil
}

// parseCanonicalBatch parses body if it is a BatchRequest in json.Marshal's
// form ({"ops":[...]} or {"ops":null}, each op's fields among op, key,
// value, lease, consistency, min_index in that order, op and key present);
// ok is false for anything else, to be decoded by encoding/json.
func parseCanonicalBatch(body []byte) (ops []BatchOp, ok bool) {
	p := canonParser{b: body}
	if !p.lit(`{"ops":`) {
		return nil, false
	}
	if p.lit("null}") {
		return nil, p.i == len(p.b)
	}
	if !p.lit("[") {
		return nil, false
	}
	// One allocation for every key and value of the batch: their base64
	// is shorter than the body.
	p.arena = make([]byte, 0, base64.StdEncoding.DecodedLen(len(body)))
	// Sized by the ops the body seems to hold, but never beyond the
	// limit: a body of nothing but `{"op":` must not cost 96 bytes of
	// BatchOp per 6 bytes sent.
	ops = make([]BatchOp, 0, min(bytes.Count(body, []byte(`{"op":`)), MaxBatchOps))
	if p.lit("]}") {
		return ops, p.i == len(p.b)
	}
	for {
		op, ok := p.op()
		if !ok || len(ops) == MaxBatchOps {
			// Beyond the limit too: encoding/json reads it and
			// decodeBatch refuses it (413) as before.
			return nil, false
		}
		ops = append(ops, op)
		if p.lit("]}") {
			return ops, p.i == len(p.b)
		}
		if !p.lit(",") {
			return nil, false
		}
	}
}

// canonParser reads a canonical batch body (parseCanonicalBatch).
type canonParser struct {
	b     []byte
	i     int
	arena []byte // keys' and values' bytes, appended
}

// lit consumes s if the body continues with it.
func (p *canonParser) lit(s string) bool {
	if len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		return false
	}
	p.i += len(s)
	return true
}

func (p *canonParser) op() (op BatchOp, ok bool) {
	if !p.lit(`{"op":`) {
		return op, false
	}
	if op.Op, ok = p.str(OpPut, OpGet, OpDelete); !ok {
		return op, false
	}
	if !p.lit(`,"key":`) {
		return op, false
	}
	if !p.lit("null") {
		if op.Key, ok = p.bytes(); !ok {
			return op, false
		}
	}
	if p.lit(`,"value":`) {
		if op.Value, ok = p.bytes(); !ok {
			return op, false
		}
	}
	if p.lit(`,"lease":`) {
		var n uint64
		if n, ok = p.uint(); !ok {
			return op, false
		}
		op.Lease = yggr.LeaseID(n)
	}
	if p.lit(`,"consistency":`) {
		if op.Consistency, ok = p.str("linearizable", "lease", "stale"); !ok {
			return op, false
		}
	}
	if p.lit(`,"min_index":`) {
		if op.MinIndex, ok = p.uint(); !ok {
			return op, false
		}
	}
	return op, p.lit("}")
}

// str reads a JSON string without escapes, of printable ASCII, as one of
// known (no allocation) or a copy.
func (p *canonParser) str(known ...string) (string, bool) {
	s, ok := p.raw()
	if !ok {
		return "", false
	}
	for _, k := range known {
		if string(s) == k {
			return k, true
		}
	}
	return string(s), true
}

// raw reads a JSON string of printable ASCII without escapes and returns
// its contents.
func (p *canonParser) raw() ([]byte, bool) {
	if !p.lit(`"`) {
		return nil, false
	}
	start := p.i
	for ; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			return s, true
		case c < 0x20 || c > 0x7e || c == '\\':
			return nil, false
		}
	}
	return nil, false
}

// bytes reads a JSON string of standard base64 and returns its bytes, in
// the arena ([]byte{} for "", as encoding/json gives).
func (p *canonParser) bytes() ([]byte, bool) {
	s, ok := p.raw()
	if !ok {
		return nil, false
	}
	start := len(p.arena)
	// encoding/json decodes with StdEncoding, which skips '\r' and '\n';
	// raw has refused those already, so the two agree on every input.
	n, err := base64.StdEncoding.Decode(p.arena[start:start+base64.StdEncoding.DecodedLen(len(s))], s)
	if err != nil {
		return nil, false
	}
	p.arena = p.arena[:start+n]
	return p.arena[start : start+n : start+n], true
}

// uint reads a JSON number that is a uint64 in canonical digits ("0" or
// no leading zero, no sign, fraction or exponent, no overflow).
func (p *canonParser) uint() (uint64, bool) {
	start := p.i
	var n uint64
	for ; p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9'; p.i++ {
		d := uint64(p.b[p.i] - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	digits := p.i - start
	if digits == 0 || digits > 1 && p.b[start] == '0' {
		return 0, false
	}
	return n, true
}
