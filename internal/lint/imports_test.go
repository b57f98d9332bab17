package lint

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/yggrdb/yggr"

// rule says which module packages and which standard-library packages a
// package (and its subpackages) may not import.
type rule struct {
	pkg           string   // path relative to the module; "" is the root
	allowModule   []string // module packages it may import (prefix match); nil = none
	forbidStd     []string // standard-library packages it must not import
	forbidModules []string // module packages it must never import, even transitively allowed
}

// rules is DESIGN.md's dependency table, plus internal/record (the shared
// record helpers of the binary formats), which the table's layers below the
// root may import and which imports nothing from the module,
// internal/watch (the root's change feed, over internal/kv's events),
// internal/testutil (helpers for tests only: no package's own code imports
// it, and it imports only internal/freeport), internal/freeport (loopback
// ports for the demo's and the tests' clusters: it imports nothing from
// the module; cmd may use it), internal/diskfault (the
// tests' storage fault hook), which the storage layers, the runtime and the
// root may import and which imports nothing from the module, and
// concurrency (sessions, locks and elections: a package above the root
// that imports it, and that the root never imports; httpapi, cmd and the
// examples may use it), internal/durable (atomic, fsynced small files:
// it imports nothing from the module; the storage layers, the runtime and
// the root may use it), and internal/chaosnet (the tests' in-process twin
// of netquic: it imports engine and netquic, and no package's own code
// imports it, so that no binary ships it), raft (the runtime for an application's own
// state machine: a package above the root that imports it, and
// internal/opener, through which the root opens a node for it; cmd and the
// examples may use it, the root never does), and internal/opener, which
// imports only internal/node.
var rules = []rule{
	{pkg: "internal/record", allowModule: []string{"internal/record"}},
	{pkg: "internal/diskfault", allowModule: []string{"internal/diskfault"}},
	{pkg: "internal/durable", allowModule: []string{"internal/durable"}},
	{pkg: "internal/chaosnet", allowModule: []string{"engine", "netquic", "internal/chaosnet"}},
	{pkg: "engine", allowModule: []string{"engine"},
		forbidStd: []string{"time", "os", "net", "sync", "sync/atomic", "io/fs", "log", "crypto/rand", "math/rand", "syscall", "unsafe"}},
	{pkg: "log", allowModule: []string{"engine", "log", "internal/record", "internal/diskfault"}},
	{pkg: "netquic", allowModule: []string{"engine", "netquic"}},
	{pkg: "snapshot", allowModule: []string{"engine", "snapshot", "internal/record", "internal/diskfault", "internal/durable"}},
	{pkg: "internal/node", allowModule: []string{"engine", "log", "netquic", "snapshot", "internal/node", "internal/kv", "internal/record", "internal/diskfault", "internal/durable"}},
	{pkg: "internal/kv", allowModule: []string{"engine", "log", "netquic", "snapshot", "internal/kv", "internal/record"}},
	{pkg: "internal/watch", allowModule: []string{"internal/watch", "internal/kv"}},
	{pkg: "internal/lint", allowModule: []string{"internal/lint"}},
	{pkg: "internal/testutil", allowModule: []string{"internal/testutil", "internal/freeport"}},
	{pkg: "internal/freeport", allowModule: []string{"internal/freeport"}},
	{pkg: "scripts", allowModule: []string{"scripts"}}, // CI tools: the standard library only
	{pkg: "internal/sim", allowModule: []string{"engine", "snapshot", "internal/sim", "internal/record"}},
	{pkg: "concurrency", allowModule: []string{"", "concurrency"}},
	{pkg: "raft", allowModule: []string{"", "raft", "internal/opener"}},
	{pkg: "internal/opener", allowModule: []string{"internal/opener", "internal/node"}},
	{pkg: "httpapi", allowModule: []string{"", "httpapi", "concurrency"}},
	{pkg: "cmd", allowModule: []string{"", "httpapi", "concurrency", "raft", "cmd", "internal/freeport"}},
	{pkg: "examples", allowModule: []string{"", "httpapi", "concurrency", "raft", "examples"}},
	{pkg: "", forbidModules: []string{"internal/sim", "internal/testutil", "concurrency", "raft", "internal/chaosnet"}},
}

type listedPackage struct {
	ImportPath string
	Imports    []string
}

func listPackages(t *testing.T) []listedPackage {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", module+"/...")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pkgs []listedPackage
	dec := json.NewDecoder(out)
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go list: %v", err)
	}
	return pkgs
}

// rel returns p relative to the module ("" for the root) and whether p is in
// the module.
func rel(p string) (string, bool) {
	if p == module {
		return "", true
	}
	if r, ok := strings.CutPrefix(p, module+"/"); ok {
		return r, true
	}
	return "", false
}

func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }

// ruleFor returns the most specific rule for a module package: the root
// rule matches the root alone, the others a directory and everything below.
func ruleFor(p string) (rule, bool) {
	best, found := rule{}, false
	for _, r := range rules {
		match := r.pkg == p || (r.pkg != "" && under(p, r.pkg))
		if match && (!found || len(r.pkg) > len(best.pkg)) {
			best, found = r, true
		}
	}
	return best, found
}

func TestDependencyTable(t *testing.T) {
	pkgs := listPackages(t)
	if len(pkgs) < 2 {
		t.Fatalf("go list found %d packages; want the whole module", len(pkgs))
	}
	checked := 0
	for _, p := range pkgs {
		from, _ := rel(p.ImportPath)
		r, ok := ruleFor(from)
		if !ok {
			t.Errorf("%s has no rule: add one to rules, in the spirit of DESIGN.md's dependency table", p.ImportPath)
			continue
		}
		checked++
		for _, imp := range p.Imports {
			if to, inModule := rel(imp); inModule {
				for _, f := range r.forbidModules {
					if under(to, f) {
						t.Errorf("%s imports %s: forbidden by DESIGN.md", p.ImportPath, imp)
					}
				}
				if r.allowModule == nil {
					continue
				}
				allowed := false
				for _, a := range r.allowModule {
					if (a == "" && to == "") || (a != "" && under(to, a)) {
						allowed = true
					}
				}
				if !allowed {
					t.Errorf("%s imports %s: not allowed by DESIGN.md's dependency table", p.ImportPath, imp)
				}
				continue
			}
			if imp == "log" {
				t.Errorf("%s imports the standard library's log; use log/slog", p.ImportPath)
			}
			for _, f := range r.forbidStd {
				if imp == f {
					t.Errorf("%s imports %s: the engine must stay pure (no I/O, clock, goroutine sync or global randomness)", p.ImportPath, imp)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no package matched a rule")
	}
}

// TestRulesCatchViolations shows the checker has teeth: a fabricated engine
// package importing time and the root must be reported.
func TestRulesCatchViolations(t *testing.T) {
	r, ok := ruleFor("engine")
	if !ok || r.pkg != "engine" {
		t.Fatalf("ruleFor(engine) = %+v, %v", r, ok)
	}
	found := false
	for _, f := range r.forbidStd {
		if f == "time" {
			found = true
		}
	}
	if !found {
		t.Error("engine rule does not forbid time")
	}
	if r2, _ := ruleFor("internal/sim/adversary"); r2.pkg != "internal/sim" {
		t.Errorf("subpackage rule = %q, want internal/sim", r2.pkg)
	}
	if r3, _ := ruleFor(""); len(r3.forbidModules) == 0 {
		t.Error("root rule does not forbid internal/sim")
	}
}
