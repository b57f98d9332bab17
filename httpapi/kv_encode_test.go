package httpapi

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"testing/iotest"
)

// TestAppendResponsesMatchJSON: the hand-written encodings of the PUT and
// DELETE answers are byte for byte what writeJSON (json.Marshal and a
// newline) writes.
func TestAppendResponsesMatchJSON(t *testing.T) {
	for _, index := range []uint64{0, 1, 9, 10, 12345, math.MaxUint32 + 1, math.MaxUint64} {
		want, err := json.Marshal(PutResponse{Index: index})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(appendPutResponse(nil, PutResponse{Index: index})); got != string(want)+"\n" {
			t.Errorf("appendPutResponse(%d) = %q, want %q", index, got, string(want)+"\n")
		}
		for _, deleted := range []bool{false, true} {
			d := DeleteResponse{Index: index, Deleted: deleted}
			want, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(appendDeleteResponse([]byte{}, d)); got != string(want)+"\n" {
				t.Errorf("appendDeleteResponse(%+v) = %q, want %q", d, got, string(want)+"\n")
			}
		}
	}
}

// TestParsePutResponse: the client's fast decoding of a PUT's answer takes
// exactly what the server writes and leaves anything else to
// encoding/json.
func TestParsePutResponse(t *testing.T) {
	for _, index := range []uint64{0, 7, 10, 12345, math.MaxUint64} {
		var p PutResponse
		body := appendPutResponse(nil, PutResponse{Index: index})
		if !parsePutResponse(body, &p) || p.Index != index {
			t.Errorf("parsePutResponse(%q) = %v, %d; want true, %d", body, parsePutResponse(body, &p), p.Index, index)
		}
	}
	for _, body := range []string{
		``, `{"index":}` + "\n", `{"index":12}`, `{"index":012}` + "\n", `{"index":-1}` + "\n",
		`{"index":18446744073709551616}` + "\n", `{"index":1.5}` + "\n", `{"index":1,"x":2}` + "\n",
		`{"index": 1}` + "\n", `{"error":{"code":"x"}}` + "\n",
	} {
		p := PutResponse{Index: 99}
		if parsePutResponse([]byte(body), &p) || p.Index != 99 {
			t.Errorf("parsePutResponse(%q) took it (index %d); want it left to encoding/json", body, p.Index)
		}
	}
}

// TestReadAllSized: reading with a size hint gives what io.ReadAll gives,
// whether the hint is right, short, long or unknown.
func TestReadAllSized(t *testing.T) {
	data := strings.Repeat("0123456789", 20)
	for _, size := range []int64{-1, 0, 5, 199, 200, 201, 1 << 20} {
		got, err := readAllSized(iotest.OneByteReader(strings.NewReader(data)), size)
		if err != nil || string(got) != data {
			t.Errorf("readAllSized(size %d) = %d bytes, %v; want the %d bytes", size, len(got), err, len(data))
		}
	}
	boom := errors.New("boom")
	if _, err := readAllSized(iotest.ErrReader(boom), 10); !errors.Is(err, boom) {
		t.Errorf("readAllSized of a failing reader: %v, want %v", err, boom)
	}
}
