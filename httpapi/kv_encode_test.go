package httpapi

import (
	"encoding/json"
	"math"
	"testing"
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
