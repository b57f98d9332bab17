package testutil

import (
	"encoding/hex"
	"os"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// Golden compares got with the golden file at path, after rewriting the
// file with got when update is set (each package's -update flag). Golden
// files lock the bytes of a wire or disk format, so that a change shows as
// a reviewed diff. Binary content is shown in hex.
func Golden(t testing.TB, path string, got []byte, update bool) {
	t.Helper()
	if update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	show := func(b []byte) string {
		if utf8.Valid(b) {
			return string(b)
		}
		return hex.Dump(b)
	}
	if d := cmp.Diff(show(want), show(got)); d != "" {
		t.Errorf("%s changed: a format change needs review and, for released bytes, a new version (run go test -update after review; -golden +now):\n%s", path, d)
	}
}
