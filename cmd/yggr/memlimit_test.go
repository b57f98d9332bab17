package main

import (
	"math"
	"runtime/debug"
	"strings"
	"testing"
)

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in      string
		want    byteSize
		wantErr string
	}{
		{"0", 0, ""},
		{"1048576", 1 << 20, ""},
		{"512MiB", 512 << 20, ""},
		{"512mib", 512 << 20, ""},
		{" 2GiB ", 2 << 30, ""},
		{"1.5GiB", 3 << 29, ""},
		{"1GB", 1e9, ""},
		{"64KiB", 64 << 10, ""},
		{"1TiB", 1 << 40, ""},
		{"100B", 100, ""},
		{"", 0, "is not a size"},
		{"MiB", 0, "is not a size"},
		{"12 apples", 0, "is not a size"},
		{"NaN", 0, "is not a size"},
		{"inf", 0, "is not a size"},
		{"-1MiB", 0, "is negative"},
		{"9999999TiB", 0, "too large"},
	}
	for _, tt := range tests {
		got, err := parseByteSize(tt.in)
		switch {
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("parseByteSize(%q) = %d, %v; want an error with %q", tt.in, got, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || got != tt.want):
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

// TestApplyMemoryLimit: a limit is set as the runtime's soft limit; 0
// leaves the runtime's (GOMEMLIMIT's) alone; a tiny one is refused.
func TestApplyMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })

	got, err := applyMemoryLimit(3 << 30)
	if err != nil || got != 3<<30 || debug.SetMemoryLimit(-1) != 3<<30 {
		t.Fatalf("applyMemoryLimit(3GiB) = %d, %v; runtime limit %d", got, err, debug.SetMemoryLimit(-1))
	}
	debug.SetMemoryLimit(math.MaxInt64)
	if got, err := applyMemoryLimit(0); err != nil || got != math.MaxInt64 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Fatalf("applyMemoryLimit(0) = %d, %v; want the runtime's limit left as is", got, err)
	}
	if _, err := applyMemoryLimit(1 << 20); err == nil || exitCode(err) != exitUsage {
		t.Fatalf("applyMemoryLimit(1MiB): err = %v, want a usage error", err)
	}
	if debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Fatal("a refused limit changed the runtime's")
	}
}
