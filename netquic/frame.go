package netquic

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/yggrdb/yggr/engine"
)

// Version is the wire format version this release prefers, the first byte
// of every frame. A connection's version is the one its TLS handshake
// negotiated (ALPN, see protocols): Version with a peer of this release,
// versionV1 with one that offers only that (codec_v1.go). Every frame on a
// connection carries its version, and a receiver refuses frames of any
// other.
const Version = 2

// frameKind is the second byte of a frame: what its body holds.
type frameKind uint8

// Kinds. A Raft message's kind is its engine.MessageType (MsgPreVote ..
// MsgReadIndexResp); forwarded calls have kinds of their own.
const (
	kindCallRequest  frameKind = 0x40 // a forwarded client request (Transport.Call)
	kindCallResponse frameKind = 0x41 // its response
)

// kindOf returns the frame kind of a Raft message type.
func kindOf(t engine.MessageType) frameKind { return frameKind(t) }

// valid reports whether k is a known kind.
func (k frameKind) valid() bool {
	return k == kindCallRequest || k == kindCallResponse || engine.MessageType(k).Valid()
}

// isMessage reports whether k carries a Raft message.
func (k frameKind) isMessage() bool { return engine.MessageType(k).Valid() }

func (k frameKind) String() string {
	switch {
	case k == kindCallRequest:
		return "CallRequest"
	case k == kindCallResponse:
		return "CallResponse"
	case k.isMessage():
		return engine.MessageType(k).String()
	}
	return fmt.Sprintf("Kind(%#x)", uint8(k))
}

// DefaultMaxFrameBytes bounds a frame's body unless Config says otherwise.
const DefaultMaxFrameBytes = 64 << 20

var (
	encoderPool = sync.Pool{New: func() any { return newBodyEncoder() }}
	decoderPool = sync.Pool{New: func() any { return newBodyDecoder() }}
)

func appendHeader(b []byte, ver byte, k frameKind, n int) []byte {
	b = append(b, ver, byte(k))
	return binary.AppendUvarint(b, uint64(n))
}

// validateMessage reports whether m can be sent: a known type, valid node
// IDs, valid entry types, a valid snapshot membership. Exactly the messages
// it accepts encode and decode.
func validateMessage(m *engine.Message) error {
	if !m.Type.Valid() {
		return fmt.Errorf("%w: invalid message type %d", ErrBadMessage, m.Type)
	}
	if !engine.ValidNodeID(m.From) || !engine.ValidNodeID(m.To) {
		return fmt.Errorf("%w: invalid node id in %s->%s", ErrBadMessage, m.From, m.To)
	}
	for _, e := range m.Entries {
		if !e.Type.Valid() {
			return fmt.Errorf("%w: invalid entry type %d", ErrBadMessage, e.Type)
		}
	}
	if err := m.Snapshot.Membership.Validate(); err != nil { // bounds each list by engine.MaxMembers
		return fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	return nil
}

// ErrBadMessage is returned when asked to encode a message that would not
// decode (see validateMessage).
var ErrBadMessage = errors.New("netquic: message cannot be encoded")

// ErrFrameTooLarge is returned when a frame exceeds the size limit.
var ErrFrameTooLarge = errors.New("netquic: frame too large")

// AppendMessage appends m's frame, in wire format Version, to b. It fails
// with ErrBadMessage if m would not decode, and with ErrFrameTooLarge if
// the body exceeds maxFrameBytes (0 means DefaultMaxFrameBytes).
func AppendMessage(b []byte, m *engine.Message, maxFrameBytes int) ([]byte, error) {
	if err := validateMessage(m); err != nil {
		return b, err
	}
	e := encoderPool.Get().(*bodyEncoder)
	defer putEncoder(e)
	return e.appendMessage(b, Version, m, maxFrameBytes)
}

// appendMessage is AppendMessage in wire format ver (a connection's), with
// the caller's encoder (a sender goroutine keeps one, so big snapshot
// chunks reuse its buffer).
func (e *bodyEncoder) appendMessage(b []byte, ver byte, m *engine.Message, maxFrameBytes int) ([]byte, error) {
	if err := validateMessage(m); err != nil {
		return b, err
	}
	e.buf.Reset()
	e.encodeMessage(m, ver)
	return appendBody(b, ver, kindOf(m.Type), e, maxFrameBytes)
}

func appendBody(b []byte, ver byte, k frameKind, e *bodyEncoder, maxFrameBytes int) ([]byte, error) {
	if maxFrameBytes <= 0 {
		maxFrameBytes = DefaultMaxFrameBytes
	}
	if e.buf.Len() > maxFrameBytes {
		return b, fmt.Errorf("%w: %s body of %d bytes exceeds %d", ErrFrameTooLarge, k, e.buf.Len(), maxFrameBytes)
	}
	b = appendHeader(b, ver, k, e.buf.Len())
	return append(b, e.buf.Bytes()...), nil
}

func putEncoder(e *bodyEncoder) {
	if e.buf.Cap() > 1<<20 {
		return // let big buffers go rather than pin them in the pool
	}
	e.buf.Reset()
	encoderPool.Put(e)
}

// Call frames are the same in every wire version but for the version byte.

func appendCallRequest(b []byte, ver byte, req []byte, maxFrameBytes int) ([]byte, error) {
	e := encoderPool.Get().(*bodyEncoder)
	defer putEncoder(e)
	e.encodeCallRequest(req)
	return appendBody(b, ver, kindCallRequest, e, maxFrameBytes)
}

func appendCallResponse(b []byte, ver byte, status uint64, payload []byte, maxFrameBytes int) ([]byte, error) {
	e := encoderPool.Get().(*bodyEncoder)
	defer putEncoder(e)
	e.encodeCallResponse(status, payload)
	return appendBody(b, ver, kindCallResponse, e, maxFrameBytes)
}

// DecodeMessage decodes exactly one frame of wire format Version holding a
// Raft message. The message's byte slices alias frame. Any
// malformed, non-canonical or invalid input is an error wrapping
// ErrBadFrame; it never panics and never allocates more than the frame's
// own length (bounded by maxFrameBytes, 0 meaning DefaultMaxFrameBytes).
func DecodeMessage(frame []byte, maxFrameBytes int) (engine.Message, error) {
	return decodeFrame(frame, Version, maxFrameBytes)
}

// decodeFrame is DecodeMessage for a connection of wire version ver.
func decodeFrame(frame []byte, ver byte, maxFrameBytes int) (engine.Message, error) {
	k, body, rest, err := splitFrame(frame, ver, maxFrameBytes)
	if err != nil {
		return engine.Message{}, err
	}
	if len(rest) != 0 {
		return engine.Message{}, badf("%d bytes after frame", len(rest))
	}
	return decodeMessageBody(ver, k, body)
}

func decodeMessageBody(ver byte, k frameKind, body []byte) (engine.Message, error) {
	if !k.isMessage() {
		return engine.Message{}, badf("kind %s is not a Raft message", k)
	}
	d := decoderPool.Get().(*bodyDecoder)
	defer func() { d.reset(nil); decoderPool.Put(d) }()
	m := engine.Message{Type: engine.MessageType(k)}
	if err := d.decodeMessage(body, ver, &m); err != nil {
		return engine.Message{}, fmt.Errorf("%w (kind %s)", err, k)
	}
	return m, nil
}

// splitFrame parses the header of the frame of wire version ver at the
// start of b and returns its kind, body and the bytes after it.
func splitFrame(b []byte, ver byte, maxFrameBytes int) (frameKind, []byte, []byte, error) {
	if maxFrameBytes <= 0 {
		maxFrameBytes = DefaultMaxFrameBytes
	}
	if len(b) < 3 {
		return 0, nil, nil, badf("short frame")
	}
	if b[0] != ver {
		return 0, nil, nil, badf("version %d on a connection of version %d", b[0], ver)
	}
	k := frameKind(b[1])
	if !k.valid() {
		return 0, nil, nil, badf("unknown kind %#x", b[1])
	}
	n, w := binary.Uvarint(b[2:])
	if w <= 0 || w != uvarintLen(n) {
		return 0, nil, nil, badf("bad length")
	}
	if n > uint64(maxFrameBytes) {
		return 0, nil, nil, badf("body of %d bytes exceeds %d", n, maxFrameBytes)
	}
	b = b[2+w:]
	if n > uint64(len(b)) {
		return 0, nil, nil, badf("truncated body")
	}
	return k, b[:n], b[n:], nil
}

func uvarintLen(n uint64) int {
	var buf [binary.MaxVarintLen64]byte
	return binary.PutUvarint(buf[:], n)
}

// errFrameHeader marks a frame whose header is unusable: the stream cannot
// be resynchronized and must be abandoned.
var errFrameHeader = errors.New("netquic: bad frame header")

// readFrame reads one frame of wire version ver from r. A header error
// (a frame of another version included) wraps both ErrBadFrame
// and errFrameHeader; an I/O error is returned as is (io.EOF at a frame
// boundary means the stream ended cleanly). The body is freshly allocated
// and at most maxFrameBytes long.
func readFrame(r *bufio.Reader, ver byte, maxFrameBytes int) (frameKind, []byte, error) {
	v, err := r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	if v != ver {
		return 0, nil, fmt.Errorf("%w: %w: version %d on a connection of version %d", ErrBadFrame, errFrameHeader, v, ver)
	}
	kb, err := r.ReadByte()
	if err != nil {
		return 0, nil, noEOF(err)
	}
	k := frameKind(kb)
	var n uint64
	var w int
	for shift := uint(0); ; shift += 7 {
		c, err := r.ReadByte()
		if err != nil {
			return 0, nil, noEOF(err)
		}
		w++
		if w > binary.MaxVarintLen64 || (w == binary.MaxVarintLen64 && c > 1) {
			return 0, nil, fmt.Errorf("%w: %w: length overflows", ErrBadFrame, errFrameHeader)
		}
		n |= uint64(c&0x7f) << shift
		if c < 0x80 {
			break
		}
	}
	if w != uvarintLen(n) {
		return 0, nil, fmt.Errorf("%w: %w: non-canonical length", ErrBadFrame, errFrameHeader)
	}
	if n > uint64(maxFrameBytes) {
		return 0, nil, fmt.Errorf("%w: %w: body of %d bytes exceeds %d", ErrBadFrame, errFrameHeader, n, maxFrameBytes)
	}
	body, err := readBody(r, int(n))
	if err != nil {
		return 0, nil, noEOF(err)
	}
	if !k.valid() {
		// The length is sound, so the stream stays in sync: only this
		// frame is bad.
		return k, nil, badf("unknown kind %#x", kb)
	}
	return k, body, nil
}

// bodyChunkBytes: of a body longer than this, only the first chunk is
// allocated until it has arrived, so a peer announcing huge frames and
// sending nothing pins at most this much per stream. Bodies up to it (a
// snapshot chunk of engine.DefaultSnapshotChunkBytes with its header, a
// MsgApp of the default byte limit) are read into one allocation.
const bodyChunkBytes = 8 << 20

func readBody(r io.Reader, n int) ([]byte, error) {
	if n <= bodyChunkBytes {
		body := make([]byte, n)
		_, err := io.ReadFull(r, body)
		return body, err
	}
	body := make([]byte, 0, bodyChunkBytes)
	for len(body) < n {
		if len(body) == cap(body) {
			// The peer did send the first chunk: trust the length now.
			body = slices.Grow(body, n-len(body))
		}
		k, err := io.ReadFull(r, body[len(body):min(n, cap(body))])
		body = body[:len(body)+k]
		if err != nil {
			return nil, err
		}
	}
	return body, nil
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// frameReaderBytes is the read buffer of a stream.
const frameReaderBytes = 64 << 10

func newFrameReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, frameReaderBytes) }

// callReaderBytes is the read buffer of a call stream (one frame each way).
const callReaderBytes = 4 << 10
