package httpapi

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/yggrdb/yggr"
)

// FuzzParseWatchRequest: any query and headers parse to a valid request or
// to a 400/413 error, never a panic.
func FuzzParseWatchRequest(f *testing.F) {
	f.Add("prefix=p/&from=3&prev=true&progress=1s", "", "text/event-stream")
	f.Add("start=a&end=b", "17", "application/json;q=0.5, text/event-stream;q=0.1")
	f.Add("start=b&end=a&bogus", "x", "text/event-stream;q=bad")
	f.Add("prefix=%ff%ff&prev", "18446744073709551614", "")
	f.Fuzz(func(t *testing.T, query, lastEventID, accept string) {
		wr, err := parseWatchRequest(query, lastEventID, accept, 64)
		if err != nil {
			if s, _ := classify(err); s != 400 && s != 413 {
				t.Fatalf("error %v classifies as %d, want 400 or 413", err, s)
			}
			return
		}
		if wr.end != nil && bytes.Compare(wr.start, wr.end) >= 0 {
			t.Fatalf("empty range [%q, %q) accepted", wr.start, wr.end)
		}
		if wr.progress != 0 && (wr.progress < MinWatchProgress || wr.progress > MaxWatchProgress) {
			t.Fatalf("progress %v accepted", wr.progress)
		}
		if lastEventID != "" && wr.from == 0 {
			t.Fatalf("Last-Event-ID %q accepted as from 0", lastEventID)
		}
	})
}

// FuzzDecodeWatchLine: any line decodes to a change, a progress
// notification, a *WatchError or an error, never a panic; a decoded change
// encodes back to a line that decodes to the same change.
func FuzzDecodeWatchLine(f *testing.F) {
	for _, l := range []WatchLine{
		{Revision: 0, Progress: true},
		putLine(5, "k", "v", 3, 2, &Item{Key: []byte("k"), Value: []byte("u"), ModIndex: 3, CreateIndex: 3, Version: 1}),
		{Revision: 9, Events: []WatchEvent{{Type: EventTypeDelete, Item: Item{Key: []byte("k"), ModIndex: 9}}}},
	} {
		b, _ := json.Marshal(l)
		f.Add(b)
	}
	b, _ := json.Marshal(watchErrorLine{WatchError{Status: 410, Code: CodeCompacted, Message: "gone", Oldest: 7}})
	f.Add(b)
	f.Add([]byte(`{"revision":1,"events":[{"type":"frob","item":{"mod_index":1}}]}`))
	f.Add([]byte(`{"revision":1}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		c, err := decodeWatchLine(line)
		if err != nil {
			return
		}
		if !c.IsProgress() {
			for _, e := range c.Events {
				if e.Item.ModIndex != c.Revision || (e.Type != yggr.EventPut && e.Type != yggr.EventDelete) {
					t.Fatalf("decoded %+v from %q", c, line)
				}
			}
		}
		again, err := json.Marshal(lineOf(c))
		if err != nil {
			t.Fatal(err)
		}
		c2, err := decodeWatchLine(again)
		if err != nil {
			t.Fatalf("re-encoded %q does not decode: %v", again, err)
		}
		if diff := cmp.Diff(c, c2, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip of %q (-first +second):\n%s", line, diff)
		}
	})
}
