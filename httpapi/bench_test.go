package httpapi

import (
	"fmt"
	"net/http/httptest"
	"testing"

	"github.com/yggrdb/yggr"
)

// BenchmarkClient measures one client round trip over loopback HTTP to a
// single-node database (fsync off): the HTTP layer's cost on top of the DB.
func BenchmarkClient(b *testing.B) {
	db, err := yggr.Open(b.TempDir(), nil, yggr.WithUnsafeNoSync())
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
	b.Run("put", func(b *testing.B) {
		for i := range b.N {
			if _, err := c.Put(ctx, fmt.Appendf(nil, "k%08d", i), value); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, cons := range []yggr.Consistency{yggr.Linearizable, yggr.Stale} {
		b.Run("get-"+cons.String(), func(b *testing.B) {
			for i := range b.N {
				if _, _, err := c.Get(ctx, fmt.Appendf(nil, "k%08d", i%100), yggr.WithConsistency(cons)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
