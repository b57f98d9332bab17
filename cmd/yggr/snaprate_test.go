package main

import (
	"testing"

	"github.com/alecthomas/kong"

	"github.com/yggrdb/yggr"
)

// TestServeSnapshotWriteRate: --snapshot-write-rate defaults to the
// database's default cap and takes sizes, 0 (no cap) included.
func TestServeSnapshotWriteRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args    []string
		want    byteSize
		wantErr bool
	}{
		{nil, yggr.DefaultSnapshotWriteRate, false},
		{[]string{"--snapshot-write-rate", "0"}, 0, false},
		{[]string{"--snapshot-write-rate", "100MiB"}, 100 << 20, false},
		{[]string{"--snapshot-write-rate", "-1"}, 0, true},
		{[]string{"--snapshot-write-rate", "fast"}, 0, true},
	}
	for _, tt := range tests {
		var c cli
		parser, err := kong.New(&c, kong.Name("yggr"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = parser.Parse(append([]string{"serve"}, tt.args...))
		switch {
		case tt.wantErr && err == nil:
			t.Errorf("serve %v: parsed to %d, want an error", tt.args, c.Serve.SnapWriteRate)
		case !tt.wantErr && err != nil:
			t.Errorf("serve %v: %v", tt.args, err)
		case !tt.wantErr && c.Serve.SnapWriteRate != tt.want:
			t.Errorf("serve %v: --snapshot-write-rate got %d, want %d", tt.args, c.Serve.SnapWriteRate, tt.want)
		}
	}
}
