package netquic

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"

	"github.com/yggrdb/yggr/engine"
)

// This file is the only place msgpack is configured. Bodies are msgpack
// arrays of fixed-width Go integers (written in msgpack's shortest integer
// form), booleans and byte strings (always bin, never nil), in a fixed field
// order. Decoding accepts exactly the canonical form the encoder writes, so
// whatever decodes re-encodes to identical bytes.

// Field counts of the body arrays; a version bump may change them.
const (
	messageFields  = 19 // see encodeMessage for the order
	entryFields    = 4  // Term, Index, Type, Data
	snapshotFields = 4  // Index, Term, Membership, Size (version 1: see codec_v1.go)
	callReqFields  = 1  // payload
	callRespFields = 2  // status, payload
)

// minEntryBytes is the smallest encoding of an entry (fixarray, three
// fixints, empty bin8); it bounds an entry count before allocation.
const minEntryBytes = 6

// ErrBadFrame is wrapped by every decoding error: a frame or body that is
// malformed, non-canonical, too large or carries invalid field values.
var ErrBadFrame = errors.New("netquic: bad frame")

func badf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadFrame, fmt.Sprintf(format, args...))
}

// bodyEncoder writes msgpack bodies into a reusable buffer. It is not safe
// for concurrent use; each goroutine that encodes owns one.
type bodyEncoder struct {
	buf bytes.Buffer
	enc *msgpack.Encoder
	mem []byte // scratch for a membership's encoding
}

func newBodyEncoder() *bodyEncoder {
	e := &bodyEncoder{}
	e.enc = msgpack.NewEncoder(&e.buf)
	return e
}

// The encoder writes into a bytes.Buffer, whose writes never fail, so the
// errors msgpack returns are always nil and are ignored below.

func (e *bodyEncoder) uint(v uint64) { _ = e.enc.EncodeUint(v) }
func (e *bodyEncoder) bool(v bool)   { _ = e.enc.EncodeBool(v) }
func (e *bodyEncoder) array(n int)   { _ = e.enc.EncodeArrayLen(n) }
func (e *bodyEncoder) bytes(b []byte) {
	_ = e.enc.EncodeBytesLen(len(b))
	e.buf.Write(b)
}
func (e *bodyEncoder) str(s string) {
	_ = e.enc.EncodeBytesLen(len(s))
	e.buf.WriteString(s)
}

// encodeMessage writes m's body in wire version ver (everything but Type,
// which is the frame kind). Every field is written whatever the type, so
// any value the engine emits round-trips. The versions differ only in the
// snapshot metadata.
func (e *bodyEncoder) encodeMessage(m *engine.Message, ver byte) {
	e.array(messageFields)
	e.str(string(m.From))
	e.str(string(m.To))
	e.uint(m.Term)
	e.uint(m.LastIndex)
	e.uint(m.LastTerm)
	e.bool(m.Transfer)
	e.uint(m.PrevIndex)
	e.uint(m.PrevTerm)
	e.array(len(m.Entries))
	for i := range m.Entries {
		en := &m.Entries[i]
		e.array(entryFields)
		e.uint(en.Term)
		e.uint(en.Index)
		e.uint(uint64(en.Type))
		e.bytes(en.Data)
	}
	e.uint(m.Commit)
	e.bool(m.Reject)
	e.uint(m.Index)
	e.uint(m.HintIndex)
	e.uint(m.HintTerm)
	e.uint(m.Context)
	if ver == versionV1 {
		e.snapshotV1(&m.Snapshot)
	} else {
		e.snapshot(&m.Snapshot)
	}
	e.uint(m.Offset)
	e.bytes(m.Data)
	e.bool(m.Done)
}

// snapshot writes snapshot metadata: the membership is one bin holding
// engine.AppendMembership's bytes, yggr's one membership encoding.
func (e *bodyEncoder) snapshot(s *engine.SnapshotMeta) {
	e.array(snapshotFields)
	e.uint(s.Index)
	e.uint(s.Term)
	if len(s.Membership.Voters) == 0 && len(s.Membership.Learners) == 0 {
		e.buf.Write(emptyMembershipBin)
	} else {
		e.mem = engine.AppendMembership(e.mem[:0], s.Membership)
		e.bytes(e.mem)
	}
	e.uint(s.Size)
}

// emptyMembershipBin is the bin of the empty membership, which every
// message without a snapshot carries. Written as is, it costs what the two
// empty ID arrays of wire version 1 did; encoding it each time cost some
// 8 ns more per message (measured).
var emptyMembershipBin = func() []byte {
	e := newBodyEncoder()
	e.bytes(engine.AppendMembership(nil, engine.Membership{}))
	return e.buf.Bytes()
}()

// bodyDecoder reads one canonical msgpack body. Every length is checked
// against the bytes that remain before anything is allocated.
type bodyDecoder struct {
	body []byte
	r    bytes.Reader
	dec  *msgpack.Decoder
}

func newBodyDecoder() *bodyDecoder {
	d := &bodyDecoder{}
	d.dec = msgpack.NewDecoder(&d.r)
	return d
}

func (d *bodyDecoder) reset(body []byte) {
	d.body = body
	d.r.Reset(body)
	d.dec.Reset(&d.r)
}

func (d *bodyDecoder) peek() (byte, error) {
	c, err := d.dec.PeekCode()
	if err != nil {
		return 0, badf("truncated body")
	}
	return c, nil
}

// uint reads an unsigned integer in its shortest msgpack form.
func (d *bodyDecoder) uint() (uint64, error) {
	c, err := d.peek()
	if err != nil {
		return 0, err
	}
	v, err := d.dec.DecodeUint64()
	if err != nil {
		return 0, badf("integer: %v", err)
	}
	if c != uintCode(v) {
		return 0, badf("non-canonical integer %d (code %#x)", v, c)
	}
	return v, nil
}

func uintCode(v uint64) byte {
	switch {
	case v <= math.MaxInt8:
		return byte(v)
	case v <= math.MaxUint8:
		return msgpcode.Uint8
	case v <= math.MaxUint16:
		return msgpcode.Uint16
	case v <= math.MaxUint32:
		return msgpcode.Uint32
	}
	return msgpcode.Uint64
}

func (d *bodyDecoder) bool() (bool, error) {
	c, err := d.peek()
	if err != nil {
		return false, err
	}
	if c != msgpcode.True && c != msgpcode.False {
		return false, badf("want bool, got code %#x", c)
	}
	v, _ := d.dec.DecodeBool()
	return v, nil
}

// array reads an array header in its shortest form and checks that n
// elements of at least minElem bytes each fit in what remains.
func (d *bodyDecoder) array(minElem int) (int, error) {
	c, err := d.peek()
	if err != nil {
		return 0, err
	}
	n, err := d.dec.DecodeArrayLen()
	if err != nil || n < 0 {
		return 0, badf("want array, got code %#x", c)
	}
	if c != arrayCode(n) {
		return 0, badf("non-canonical array length %d", n)
	}
	if n > d.r.Len()/max(minElem, 1) {
		return 0, badf("array of %d elements exceeds body", n)
	}
	return n, nil
}

func arrayCode(n int) byte {
	switch {
	case n <= 15:
		return msgpcode.FixedArrayLow | byte(n)
	case n <= math.MaxUint16:
		return msgpcode.Array16
	}
	return msgpcode.Array32
}

// fixedArray reads an array header that must announce exactly n elements.
func (d *bodyDecoder) fixedArray(n int, what string) error {
	got, err := d.array(1)
	if err != nil {
		return err
	}
	if got != n {
		return badf("%s has %d fields, want %d", what, got, n)
	}
	return nil
}

// bytes reads a bin of at most limit bytes. An empty bin decodes as nil; a
// non-empty one aliases the body.
func (d *bodyDecoder) bytes(limit int) ([]byte, error) {
	c, err := d.peek()
	if err != nil {
		return nil, err
	}
	if !msgpcode.IsBin(c) {
		return nil, badf("want bin, got code %#x", c)
	}
	n, err := d.dec.DecodeBytesLen()
	if err != nil || n < 0 {
		return nil, badf("bin length: %v", err)
	}
	if c != binCode(n) {
		return nil, badf("non-canonical bin length %d", n)
	}
	if n > limit || n > d.r.Len() {
		return nil, badf("bin of %d bytes exceeds limit", n)
	}
	if n == 0 {
		return nil, nil
	}
	// Alias the body instead of copying: the body belongs to the decoded
	// value. msgpack reads the bytes.Reader directly (no buffering of its
	// own), so skipping in the reader skips in the decoder.
	pos := len(d.body) - d.r.Len()
	b := d.body[pos : pos+n : pos+n]
	if _, err := d.r.Seek(int64(n), io.SeekCurrent); err != nil {
		return nil, badf("truncated bin")
	}
	return b, nil
}

func binCode(n int) byte {
	switch {
	case n <= math.MaxUint8:
		return msgpcode.Bin8
	case n <= math.MaxUint16:
		return msgpcode.Bin16
	}
	return msgpcode.Bin32
}

func (d *bodyDecoder) nodeID(what string) (engine.NodeID, error) {
	b, err := d.bytes(engine.MaxNodeIDLen)
	if err != nil {
		return "", err
	}
	id := engine.NodeID(b)
	if !engine.ValidNodeID(id) {
		return "", badf("invalid %s node id %q", what, b)
	}
	return id, nil
}

func (d *bodyDecoder) end() error {
	if d.r.Len() != 0 {
		return badf("%d trailing bytes", d.r.Len())
	}
	return nil
}

// decodeMessage reads a Raft message body of wire version ver. The caller
// sets Type from the frame kind.
func (d *bodyDecoder) decodeMessage(body []byte, ver byte, m *engine.Message) error {
	d.reset(body)
	var err error
	if err = d.fixedArray(messageFields, "message"); err != nil {
		return err
	}
	if m.From, err = d.nodeID("from"); err != nil {
		return err
	}
	if m.To, err = d.nodeID("to"); err != nil {
		return err
	}
	u := func(p *uint64) {
		if err == nil {
			*p, err = d.uint()
		}
	}
	b := func(p *bool) {
		if err == nil {
			*p, err = d.bool()
		}
	}
	u(&m.Term)
	u(&m.LastIndex)
	u(&m.LastTerm)
	b(&m.Transfer)
	u(&m.PrevIndex)
	u(&m.PrevTerm)
	if err != nil {
		return err
	}
	if m.Entries, err = d.entries(); err != nil {
		return err
	}
	u(&m.Commit)
	b(&m.Reject)
	u(&m.Index)
	u(&m.HintIndex)
	u(&m.HintTerm)
	u(&m.Context)
	if err != nil {
		return err
	}
	if ver == versionV1 {
		err = d.snapshotV1(&m.Snapshot)
	} else {
		err = d.snapshot(&m.Snapshot)
	}
	u(&m.Offset)
	if err != nil {
		return err
	}
	if m.Data, err = d.bytes(math.MaxInt); err != nil {
		return err
	}
	b(&m.Done)
	if err != nil {
		return err
	}
	return d.end()
}

// snapshot reads what (*bodyEncoder).snapshot writes. The membership's
// limit (engine.MaxMembers) and validation are engine.DecodeMembership's,
// and its bin must hold exactly one membership.
func (d *bodyDecoder) snapshot(s *engine.SnapshotMeta) error {
	if err := d.fixedArray(snapshotFields, "snapshot"); err != nil {
		return err
	}
	var err error
	if s.Index, err = d.uint(); err != nil {
		return err
	}
	if s.Term, err = d.uint(); err != nil {
		return err
	}
	b, err := d.bytes(math.MaxInt)
	if err != nil {
		return err
	}
	mem, n, err := engine.DecodeMembership(b)
	if err != nil {
		return badf("snapshot membership: %v", err)
	}
	if n != len(b) {
		return badf("snapshot membership: %d trailing bytes", len(b)-n)
	}
	s.Membership = mem
	s.Size, err = d.uint()
	return err
}

func (d *bodyDecoder) entries() ([]engine.Entry, error) {
	n, err := d.array(minEntryBytes)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	es := make([]engine.Entry, n)
	for i := range es {
		e := &es[i]
		if err := d.fixedArray(entryFields, "entry"); err != nil {
			return nil, err
		}
		if e.Term, err = d.uint(); err != nil {
			return nil, err
		}
		if e.Index, err = d.uint(); err != nil {
			return nil, err
		}
		t, err := d.uint()
		if err != nil {
			return nil, err
		}
		if t > math.MaxUint8 || !engine.EntryType(t).Valid() {
			return nil, badf("invalid entry type %d", t)
		}
		e.Type = engine.EntryType(t)
		if e.Data, err = d.bytes(math.MaxInt); err != nil {
			return nil, err
		}
	}
	return es, nil
}

// Call response statuses.
const (
	callOK         = 0 // payload is the handler's response
	callErr        = 1 // payload is the handler's error text
	callNoHandler  = 2 // the peer has no call handler
	maxCallStatus  = callNoHandler
	maxCallErrText = 4096
)

func (e *bodyEncoder) encodeCallRequest(req []byte) {
	e.array(callReqFields)
	e.bytes(req)
}

func (e *bodyEncoder) encodeCallResponse(status uint64, payload []byte) {
	e.array(callRespFields)
	e.uint(status)
	e.bytes(payload)
}

func (d *bodyDecoder) decodeCallRequest(body []byte) ([]byte, error) {
	d.reset(body)
	if err := d.fixedArray(callReqFields, "call request"); err != nil {
		return nil, err
	}
	req, err := d.bytes(math.MaxInt)
	if err != nil {
		return nil, err
	}
	return req, d.end()
}

func (d *bodyDecoder) decodeCallResponse(body []byte) (status uint64, payload []byte, err error) {
	d.reset(body)
	if err := d.fixedArray(callRespFields, "call response"); err != nil {
		return 0, nil, err
	}
	if status, err = d.uint(); err != nil {
		return 0, nil, err
	}
	if status > maxCallStatus {
		return 0, nil, badf("unknown call status %d", status)
	}
	if payload, err = d.bytes(math.MaxInt); err != nil {
		return 0, nil, err
	}
	return status, payload, d.end()
}
