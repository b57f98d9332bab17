package main

import (
	"fmt"
	"math"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/alecthomas/kong"
)

// byteSize is a flag value in bytes with an optional unit: GOMEMLIMIT's
// binary units (B, KiB, MiB, GiB, TiB) or decimal ones (KB, MB, GB, TB),
// case-insensitive: 512MiB, 2GiB, 1.5GB, 1048576.
type byteSize int64

// byteUnits lists the accepted suffixes, longest first so "mib" is tried
// before "b".
var byteUnits = []struct {
	suffix string
	mult   float64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"b", 1},
}

// parseByteSize parses a size such as "512MiB"; see byteSize.
func parseByteSize(s string) (byteSize, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	for _, u := range byteUnits {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%q is not a size (examples: 512MiB, 2GiB, 1073741824)", s)
	}
	if f < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	n := f * mult
	if n >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return byteSize(n), nil
}

// Decode implements kong.MapperValue.
func (b *byteSize) Decode(ctx *kong.DecodeContext) error {
	var s string
	if err := ctx.Scan.PopValueInto("size", &s); err != nil {
		return err
	}
	v, err := parseByteSize(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// minMemoryLimit is the smallest --memory-limit accepted: below it the
// garbage collector would run almost constantly for any real data set.
const minMemoryLimit = 32 << 20

// applyMemoryLimit sets the Go runtime's soft memory limit (as GOMEMLIMIT
// does) when limit is set, and returns the limit in force.
func applyMemoryLimit(limit byteSize) (int64, error) {
	if limit == 0 {
		return debug.SetMemoryLimit(-1), nil
	}
	if limit < minMemoryLimit {
		return 0, usagef("--memory-limit %d is below the minimum of 32MiB", int64(limit))
	}
	debug.SetMemoryLimit(int64(limit))
	return int64(limit), nil
}
