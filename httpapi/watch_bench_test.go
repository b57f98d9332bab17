package httpapi

import (
	"context"
	"fmt"
	"iter"
	"net/http/httptest"
	"testing"

	"github.com/yggrdb/yggr"
)

// BenchmarkWatchStream measures how fast a watch receives changes already
// in the log: "http" through Client.Watch over loopback (NDJSON encoding,
// a flush per line, the client's decoding), "library" from db.Watch
// directly, the baseline. One op is one change of one 128-byte put.
func BenchmarkWatchStream(b *testing.B) {
	for _, via := range []string{"http", "library"} {
		b.Run(via, func(b *testing.B) {
			// Snapshots (and so compactions) rare enough that the history stays.
			db, err := yggr.Open(b.TempDir(), nil, yggr.WithUnsafeNoSync(), yggr.WithSnapshotEntries(1<<30))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			srv := httptest.NewServer(NewHandler(db, Options{}))
			defer srv.Close()
			c, err := NewClient([]string{srv.URL}, ClientOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			ctx := b.Context()
			value := make([]byte, 128)
			from := db.Status().Applied + 1
			for i := range b.N {
				if err := db.Put(ctx, fmt.Appendf(nil, "k%08d", i%1000), value); err != nil {
					b.Fatal(err)
				}
			}
			watch := func(ctx context.Context) iter.Seq2[yggr.Change, error] {
				return c.Watch(ctx, nil, nil, yggr.FromRevision(from))
			}
			if via == "library" {
				watch = func(ctx context.Context) iter.Seq2[yggr.Change, error] {
					return db.Watch(ctx, nil, nil, yggr.FromRevision(from))
				}
			}
			b.ResetTimer()
			n := 0
			for _, err := range watch(ctx) {
				if err != nil {
					b.Fatal(err)
				}
				if n++; n == b.N {
					break
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "changes/s")
		})
	}
}
