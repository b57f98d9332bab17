package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestBackupRestore backs a node up to a file and to stdout, restores
// both offline (from a file and from stdin) under new node IDs, serves
// the results, and finds the same keys and values.
func TestBackupRestore(t *testing.T) {
	t.Parallel()
	n := startNode(t)
	dir := t.TempDir()
	binary := "x\x00y\n\xff"
	runSteps(t, n.httpAddr, []step{
		{name: "put a", args: []string{"put", "a", "1"}, wantStdout: str("OK\n")},
		{name: "put binary", args: []string{"put", "bin"}, stdin: binary, wantStdout: str("OK\n")},
		{name: "put gone", args: []string{"put", "gone", "x"}, wantStdout: str("OK\n")},
		{name: "del gone", args: []string{"del", "gone"}, wantStdout: str("1\n")},
	})
	want := runIn(t, "", "scan", "-o", "json", "--addr", n.httpAddr)
	if want.code != 0 || !strings.Contains(want.stdout, `"key": "YQ=="`) {
		t.Fatalf("scan: %v", want)
	}

	file := filepath.Join(dir, "db.backup")
	r := runIn(t, "", "backup", "-o", "json", "--addr", n.httpAddr, file)
	var out backupOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); r.code != 0 || err != nil {
		t.Fatalf("backup -o json: %v (%v)", r, err)
	}
	st, err := os.Stat(file)
	if err != nil || out.File != file || out.Bytes != st.Size() || out.Bytes == 0 {
		t.Errorf("backup -o json: got %+v, want the file %s and its size (stat: %v, %v)", out, file, st, err)
	}
	if left, _ := filepath.Glob(file + ".tmp*"); len(left) != 0 {
		t.Errorf("backup left temporary files: %v", left)
	}
	r = runIn(t, "", "backup", "--addr", n.httpAddr, file)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "OK ") || !strings.HasSuffix(r.stdout, " bytes written to "+file+"\n") {
		t.Errorf("backup over an existing file: got %v", r)
	}
	streamed := runIn(t, "", "backup", "--addr", n.httpAddr, "-")
	if streamed.code != 0 || streamed.stderr != "" || len(streamed.stdout) == 0 {
		t.Fatalf("backup -: %v", streamed)
	}

	fromFile := filepath.Join(dir, "from-file")
	r = runIn(t, "", "restore", "--dir", fromFile, "--id", "r1", file)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "OK restored index ") || !strings.HasSuffix(r.stdout, " into "+fromFile+" (node r1)\n") {
		t.Fatalf("restore: %v", r)
	}
	fromStdin := filepath.Join(dir, "from-stdin")
	r = runIn(t, streamed.stdout, "restore", "-o", "json", "--dir", fromStdin, "--id", "r2", "-")
	var ro restoreOutput
	if err := json.Unmarshal([]byte(r.stdout), &ro); r.code != 0 || err != nil {
		t.Fatalf("restore -o json -: %v (%v)", r, err)
	}
	if ro.Dir != fromStdin || ro.ID != "r2" || ro.Index == 0 {
		t.Errorf("restore -o json: got %+v, want dir %s, id r2 and an index", ro, fromStdin)
	}

	for _, tt := range []struct{ dir, id string }{{fromFile, "r1"}, {fromStdin, "r2"}} {
		m := startNode(t, "--dir", tt.dir, "--id", tt.id)
		got := runIn(t, "", "scan", "-o", "json", "--addr", m.httpAddr)
		if diff := cmp.Diff(want.stdout, got.stdout); got.code != 0 || diff != "" {
			t.Errorf("scan of the database restored as %s: got %v; (-want +got):\n%s", tt.id, got, diff)
		}
		runSteps(t, m.httpAddr, []step{
			{name: "binary value", args: []string{"get", "bin"}, wantStdout: str(binary)},
			{name: "members", args: []string{"members"}, wantStdout: str("ID  ADDR  KIND\n" + tt.id + "        voter\n")},
			{name: "writable", args: []string{"put", "new", "v"}, wantStdout: str("OK\n")},
		})
	}

	junk := filepath.Join(dir, "junk.backup")
	if err := os.WriteFile(junk, []byte("not a backup"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		args      []string
		stdin     string
		wantCode  int
		stderrHas string
	}{
		{"restore into a non-empty dir", []string{"restore", "--dir", fromFile, "--id", "r1", file}, "", exitError, fromFile},
		{"restore a missing file", []string{"restore", "--dir", filepath.Join(dir, "x1"), "--id", "r1", filepath.Join(dir, "nope")}, "", exitError, "nope"},
		{"restore junk", []string{"restore", "--dir", filepath.Join(dir, "x2"), "--id", "r1", junk}, "", exitError, "Error: "},
		{"restore empty stdin", []string{"restore", "--dir", filepath.Join(dir, "x3"), "--id", "r1", "-"}, "", exitError, "Error: "},
		{"restore a cut backup", []string{"restore", "--dir", filepath.Join(dir, "x4"), "--id", "r1", "-"}, streamed.stdout[:len(streamed.stdout)/2], exitError, "Error: "},
		{"backup into a missing dir", []string{"backup", "--addr", n.httpAddr, filepath.Join(dir, "no", "db.backup")}, "", exitError, "no such file"},
		{"restore with a bad id", []string{"restore", "--dir", filepath.Join(dir, "x5"), "--id", "bad id", file}, "", exitUsage, `invalid node id "bad id"`},
		{"backup without a file", []string{"backup", "--addr", n.httpAddr}, "", exitUsage, "<file>"},
	}
	for _, tt := range tests {
		r := runIn(t, tt.stdin, tt.args...)
		if r.code != tt.wantCode || r.stdout != "" || !strings.HasPrefix(r.stderr, "Error: ") || !strings.Contains(r.stderr, tt.stderrHas) {
			t.Errorf("%s: yggr %v: got %v, want exit %d and \"Error: ...%s...\" on stderr only", tt.name, tt.args, r, tt.wantCode, tt.stderrHas)
		}
	}
	for _, d := range []string{"x2", "x3", "x4", "x5"} {
		if _, err := os.Stat(filepath.Join(dir, d, "yggr.json")); err == nil {
			t.Errorf("a failed restore left a database in %s", d)
		}
	}
}
