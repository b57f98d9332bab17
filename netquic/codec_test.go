package netquic

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/yggrdb/yggr/engine"

	"github.com/yggrdb/yggr/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// equateEmpty treats nil and empty slices alike (the codec decodes empty as
// nil) and compares byte slices fast.
var equateEmpty = cmp.Options{
	cmp.Comparer(bytes.Equal),
	cmp.FilterPath(func(p cmp.Path) bool { return p.Last().Type() != reflect.TypeFor[[]byte]() }, cmpopts.EquateEmpty()),
}

// sampleMessages holds one message of every type, shaped as the engine
// emits them, plus edge cases the engine can produce (trap 3: a stale-term
// AppendEntries rejection with zero indexes).
func sampleMessages() map[string]engine.Message {
	mem := engine.NewMembership([]engine.NodeID{"n1", "n2", "n3"}, []engine.NodeID{"n4"})
	return map[string]engine.Message{
		"prevote":         {Type: engine.MsgPreVote, From: "n1", To: "n2", Term: 5, LastIndex: 17, LastTerm: 4},
		"prevote-resp":    {Type: engine.MsgPreVoteResp, From: "n2", To: "n1", Term: 5, Reject: true},
		"vote":            {Type: engine.MsgVote, From: "n1", To: "n2", Term: 5, LastIndex: 17, LastTerm: 4, Transfer: true},
		"vote-resp":       {Type: engine.MsgVoteResp, From: "n2", To: "n1", Term: 5},
		"app":             {Type: engine.MsgApp, From: "n1", To: "n2", Term: 3, PrevIndex: 17, PrevTerm: 3, Commit: 17, Entries: []engine.Entry{{Term: 3, Index: 18, Type: engine.EntryNormal, Data: []byte("put k v")}, {Term: 3, Index: 19, Type: engine.EntryNoop}, {Term: 3, Index: 20, Type: engine.EntryConfig, Data: engine.MarshalConfig(engine.ConfChange{Op: engine.ConfAddLearner, Node: "n4", Addr: "127.0.0.1:7071"}, mem)}}},
		"app-resp":        {Type: engine.MsgAppResp, From: "n2", To: "n1", Term: 3, Index: 20},
		"app-resp-stale":  {Type: engine.MsgAppResp, From: "n2", To: "n1", Term: 9, Reject: true},
		"app-resp-hint":   {Type: engine.MsgAppResp, From: "n2", To: "n1", Term: 3, Reject: true, Index: 17, HintIndex: 12, HintTerm: 2},
		"heartbeat":       {Type: engine.MsgHeartbeat, From: "n1", To: "n2", Term: 3, Commit: 17, Context: 42},
		"heartbeat-resp":  {Type: engine.MsgHeartbeatResp, From: "n2", To: "n1", Term: 3, Context: 42},
		"snap":            {Type: engine.MsgSnap, From: "n1", To: "n2", Term: 3, Snapshot: engine.SnapshotMeta{Index: 100, Term: 2, Membership: mem, Size: 1 << 20}, Offset: 65536, Data: bytes.Repeat([]byte{0xab}, 300), Done: true},
		"snap-resp":       {Type: engine.MsgSnapResp, From: "n2", To: "n1", Term: 3, Snapshot: engine.SnapshotMeta{Index: 100, Term: 2}, Index: 65836},
		"timeout-now":     {Type: engine.MsgTimeoutNow, From: "n1", To: "n2", Term: 3},
		"read-index":      {Type: engine.MsgReadIndex, From: "n2", To: "n1", Term: 3, Context: 7},
		"read-index-resp": {Type: engine.MsgReadIndexResp, From: "n1", To: "n2", Term: 3, Context: 7, Index: 99},
		"max-values":      {Type: engine.MsgApp, From: engine.NodeID(strings.Repeat("a", engine.MaxNodeIDLen)), To: "Z.z-9_", Term: ^uint64(0), PrevIndex: 1 << 32, PrevTerm: 1<<16 + 1, Commit: 255, Entries: []engine.Entry{{Term: 128, Index: 65535, Data: make([]byte, 70000)}}},
	}
}

func TestMessageRoundTrip(t *testing.T) {
	for name, m := range sampleMessages() {
		t.Run(name, func(t *testing.T) {
			frame, err := AppendMessage(nil, &m, 0)
			if err != nil {
				t.Fatalf("AppendMessage: %v", err)
			}
			got, err := DecodeMessage(frame, 0)
			if err != nil {
				t.Fatalf("DecodeMessage: %v", err)
			}
			if d := cmp.Diff(m, got, equateEmpty); d != "" {
				t.Errorf("round trip (-want +got):\n%s", d)
			}
			again, err := AppendMessage(nil, &got, 0)
			if err != nil || !bytes.Equal(again, frame) {
				t.Errorf("re-encoding differs: err=%v", err)
			}
		})
	}
}

// TestEveryTypeRoundTrips covers every MessageType with every optional
// field set and unset, so no value the engine emits can fail to decode.
func TestEveryTypeRoundTrips(t *testing.T) {
	for ty := engine.MsgNone + 1; ty.Valid(); ty++ {
		for _, full := range []bool{false, true} {
			m := engine.Message{Type: ty, From: "a", To: "b"}
			if full {
				m = engine.Message{Type: ty, From: "a", To: "b", Term: 1, LastIndex: 2, LastTerm: 3, Transfer: true, PrevIndex: 4, PrevTerm: 5,
					Entries: []engine.Entry{{Term: 6, Index: 7}}, Commit: 8, Reject: true, Index: 9, HintIndex: 10, HintTerm: 11, Context: 12,
					Snapshot: engine.SnapshotMeta{Index: 13, Term: 14, Membership: engine.NewMembership([]engine.NodeID{"a"}, nil), Size: 15}, Offset: 16, Data: []byte{17}, Done: true}
			}
			frame, err := AppendMessage(nil, &m, 0)
			if err != nil {
				t.Fatalf("%s full=%v: AppendMessage: %v", ty, full, err)
			}
			got, err := DecodeMessage(frame, 0)
			if err != nil {
				t.Fatalf("%s full=%v: DecodeMessage: %v", ty, full, err)
			}
			if d := cmp.Diff(m, got, equateEmpty); d != "" {
				t.Errorf("%s full=%v (-want +got):\n%s", ty, full, d)
			}
		}
	}
}

func TestEncodeRefusesInvalid(t *testing.T) {
	tests := []struct {
		name string
		m    engine.Message
	}{
		{"no type", engine.Message{From: "a", To: "b"}},
		{"unknown type", engine.Message{Type: 200, From: "a", To: "b"}},
		{"empty from", engine.Message{Type: engine.MsgApp, To: "b"}},
		{"bad to", engine.Message{Type: engine.MsgApp, From: "a", To: "b c"}},
		{"bad entry type", engine.Message{Type: engine.MsgApp, From: "a", To: "b", Entries: []engine.Entry{{Type: 9}}}},
		{"unsorted membership", engine.Message{Type: engine.MsgSnap, From: "a", To: "b", Snapshot: engine.SnapshotMeta{Membership: engine.Membership{Voters: []engine.NodeID{"b", "a"}}}}},
	}
	for _, tt := range tests {
		_, err := AppendMessage(nil, &tt.m, 0)
		if !errors.Is(err, ErrBadMessage) {
			t.Errorf("%s: got err %v, want ErrBadMessage", tt.name, err)
		}
	}
	big := engine.Message{Type: engine.MsgSnap, From: "a", To: "b", Data: make([]byte, 2000)}
	if _, err := AppendMessage(nil, &big, 1000); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("oversized: got err %v, want ErrFrameTooLarge", err)
	}
}

func TestDecodeRejects(t *testing.T) {
	hb := engine.Message{Type: engine.MsgHeartbeat, From: "n1", To: "n2", Term: 3}
	good, err := AppendMessage(nil, &hb, 0)
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	bodyAt := 3           // version, kind, 1-byte length
	termAt := bodyAt + 11 // array16 header, "n1" and "n2" as bin8
	if good[termAt] != 3 {
		t.Fatalf("layout changed: byte %d is %#x, want the term 3", termAt, good[termAt])
	}
	tests := []struct {
		name  string
		frame []byte
	}{
		{"empty", nil},
		{"unknown version", mutate(func(b []byte) []byte { b[0] = 2; return b })},
		{"unknown kind", mutate(func(b []byte) []byte { b[1] = 0x30; return b })},
		{"kind none", mutate(func(b []byte) []byte { b[1] = 0; return b })},
		{"call kind", mutate(func(b []byte) []byte { b[1] = byte(kindCallRequest); return b })},
		{"truncated", good[:len(good)-1]},
		{"trailing", append(bytes.Clone(good), 0)},
		{"overlong length", append([]byte{Version, byte(engine.MsgHeartbeat), 0x80 | good[2], 0}, good[bodyAt:]...)},
		{"not an array", mutate(func(b []byte) []byte { b[bodyAt] = 0xc0; return b })},
		{"wrong field count", mutate(func(b []byte) []byte { b[bodyAt+2]--; return b })},
		{"non-canonical array", append(append([]byte{Version, byte(engine.MsgHeartbeat), good[2] + 2}, 0xdd, 0, 0), good[bodyAt+1:]...)},
		{"invalid from", mutate(func(b []byte) []byte { b[termAt-5] = ' '; return b })},
		{"from as str", mutate(func(b []byte) []byte { b[termAt-8] = 0xa2; b[termAt-7] = 'n'; return b })},
		{"non-canonical int", append(append([]byte{Version, byte(engine.MsgHeartbeat), good[2] + 1}, good[bodyAt:termAt]...), append([]byte{0xcc, 3}, good[termAt+1:]...)...)},
		{"bool as int", mutate(func(b []byte) []byte { b[termAt+3] = 1; return b })},
	}
	for _, tt := range tests {
		if _, err := DecodeMessage(tt.frame, 0); !errors.Is(err, ErrBadFrame) {
			t.Errorf("%s: got err %v, want ErrBadFrame", tt.name, err)
		}
	}
	if _, err := DecodeMessage(good, len(good)-4); !errors.Is(err, ErrBadFrame) {
		t.Errorf("over limit: got err %v, want ErrBadFrame", err)
	}
}

func TestCallBodiesRoundTrip(t *testing.T) {
	for _, payload := range [][]byte{nil, []byte("x"), make([]byte, 300)} {
		f, err := appendCallRequest(nil, payload, 0)
		if err != nil {
			t.Fatal(err)
		}
		k, body, rest, err := splitFrame(f, 0)
		if err != nil || k != kindCallRequest || len(rest) != 0 {
			t.Fatalf("splitFrame: kind %s rest %d err %v", k, len(rest), err)
		}
		d := newBodyDecoder()
		got, err := d.decodeCallRequest(body)
		if err != nil || !bytes.Equal(got, payload) {
			t.Errorf("request: got %q, %v, want %q", got, err, payload)
		}
		f, err = appendCallResponse(nil, callErr, payload, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, body, _, _ = splitFrame(f, 0)
		st, got, err := d.decodeCallResponse(body)
		if err != nil || st != callErr || !bytes.Equal(got, payload) {
			t.Errorf("response: got %d %q %v, want %d %q", st, got, err, callErr, payload)
		}
	}
}

// TestGolden locks the bytes of every message kind. Run with -update to
// rewrite testdata/*.golden after a reviewed format change.
func TestGolden(t *testing.T) {
	cases := map[string][]byte{}
	for name, m := range sampleMessages() {
		if name == "max-values" {
			continue // large; covered by the round-trip test
		}
		f, err := AppendMessage(nil, &m, 0)
		if err != nil {
			t.Fatal(err)
		}
		cases["msg-"+name] = f
	}
	req, _ := appendCallRequest(nil, []byte(`{"op":"put"}`), 0)
	cases["call-request"] = req
	resp, _ := appendCallResponse(nil, callOK, []byte(`{"index":7}`), 0)
	cases["call-response"] = resp
	for name, frame := range cases {
		testutil.Golden(t, filepath.Join("testdata", name+".golden"), []byte(formatHex(frame)), *update)
	}
}

func formatHex(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		n := min(len(b), 32)
		sb.WriteString(hex.EncodeToString(b[:n]))
		sb.WriteByte('\n')
		b = b[n:]
	}
	return sb.String()
}

func parseHex(s string) ([]byte, error) {
	return hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(s), "\n", ""))
}

// FuzzDecodeMessage: decoding never panics, never allocates beyond the
// frame, and whatever decodes re-encodes to identical bytes.
func FuzzDecodeMessage(f *testing.F) {
	for _, m := range sampleMessages() {
		frame, err := AppendMessage(nil, &m, 0)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(frame)
	}
	if files, err := filepath.Glob(filepath.Join("testdata", "msg-*.golden")); err == nil {
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			frame, err := parseHex(string(b))
			if err != nil {
				f.Fatalf("%s: %v", p, err)
			}
			f.Add(frame)
		}
	}
	f.Add([]byte{Version, byte(engine.MsgApp), 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{Version, byte(engine.MsgApp), 3, 0xdd, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, frame []byte) {
		m, err := DecodeMessage(frame, 1<<20)
		if err != nil {
			if !errors.Is(err, ErrBadFrame) {
				t.Fatalf("error %v does not wrap ErrBadFrame", err)
			}
			return
		}
		again, err := AppendMessage(nil, &m, 1<<20)
		if err != nil {
			t.Fatalf("decoded message does not re-encode: %v", err)
		}
		if !bytes.Equal(again, frame) {
			t.Fatalf("re-encoding differs:\n in  %x\n out %x", frame, again)
		}
	})
}

// FuzzReadFrame: the stream reader never panics, and never allocates a body
// larger than its limit.
func FuzzReadFrame(f *testing.F) {
	hb := engine.Message{Type: engine.MsgHeartbeat, From: "n1", To: "n2", Term: 3}
	good, _ := AppendMessage(nil, &hb, 0)
	f.Add(append(bytes.Clone(good), good...))
	f.Add([]byte{Version, 0x30, 2, 0, 0})
	f.Add([]byte{Version, byte(kindCallRequest), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 1024
		r := newFrameReader(bytes.NewReader(data))
		for range 64 {
			_, body, err := readFrame(r, limit)
			if len(body) > limit {
				t.Fatalf("body of %d bytes beyond limit", len(body))
			}
			if err != nil && !errors.Is(err, ErrBadFrame) {
				return // I/O error or end of input
			}
			if errors.Is(err, errFrameHeader) {
				return
			}
		}
	})
}

func TestReadBodyLarge(t *testing.T) {
	for _, n := range []int{0, 10, bodyChunkBytes, bodyChunkBytes + 1, 5*bodyChunkBytes + 7} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i * 7)
		}
		got, err := readBody(bytes.NewReader(data), n)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("n=%d: got %d bytes, %v", n, len(got), err)
		}
		if n > 0 {
			if _, err := readBody(bytes.NewReader(data[:n-1]), n); err == nil {
				t.Errorf("n=%d: truncated input read without error", n)
			}
		}
	}
}
