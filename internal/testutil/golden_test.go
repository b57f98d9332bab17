package testutil

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type goldenRecorder struct {
	testing.TB
	failed, fatal string
}

func (r *goldenRecorder) Helper()                           {}
func (r *goldenRecorder) Errorf(format string, args ...any) { r.failed = format }
func (r *goldenRecorder) Fatalf(format string, args ...any) { r.fatal = format }
func (r *goldenRecorder) Fatal(args ...any)                 { r.fatal = "fatal" }

func TestGolden(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.golden")
	r := &goldenRecorder{TB: t}
	Golden(r, path, []byte("a\n"), false)
	if !strings.Contains(r.fatal, "-update") {
		t.Errorf("missing golden file: fatal %q, want a hint at -update", r.fatal)
	}
	r = &goldenRecorder{TB: t}
	Golden(r, path, []byte("a\n"), true)
	Golden(r, path, []byte("a\n"), false)
	if r.failed != "" || r.fatal != "" {
		t.Errorf("same bytes: failed %q, fatal %q", r.failed, r.fatal)
	}
	if b, _ := os.ReadFile(path); string(b) != "a\n" {
		t.Errorf("-update wrote %q", b)
	}
	for _, got := range [][]byte{[]byte("b\n"), {0xff, 0x00}} {
		r = &goldenRecorder{TB: t}
		Golden(r, path, got, false)
		if r.failed == "" {
			t.Errorf("changed bytes %x were not reported", got)
		}
	}
}
