// Command coverfloor reads a Go coverage profile (as written by
// go test -coverprofile, possibly with -coverpkg so that one block appears
// once per test binary), prints statement coverage per package, for the
// whole module and for chosen packages, and exits 1 when a figure is below
// its floor.
//
// Usage:
//
//	go run ./scripts/cmd/coverfloor -profile cover.out -min 85 \
//	    -floor engine=92 -exclude internal/sim -exclude scripts
//
// A block counts as covered when any test binary executed it. Figures are
// statement-weighted, the same measure as go tool cover -func's total.
// Excluded directories (relative to the module root, matching the directory
// and everything below it) and generated files (ast.IsGenerated) do not count
// in the module total; excluded packages are still listed, marked as such.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// listFlag collects a repeated string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("coverfloor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	profile := fs.String("profile", "", "coverage profile to read (required)")
	module := fs.String("module", "", "module path (default: read from ./go.mod)")
	minModule := fs.Float64("min", 0, "floor for the module total, in percent")
	var floors, excludes listFlag
	fs.Var(&floors, "floor", "pkg=percent: floor for one package (relative to the module root); repeatable")
	fs.Var(&excludes, "exclude", "directory relative to the module root left out of the module total; repeatable")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *profile == "" {
		fmt.Fprintln(stderr, "coverfloor: -profile is required")
		return 2
	}
	pkgFloors, err := parseFloors(floors)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if *module == "" {
		*module, err = readModulePath("go.mod")
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
	}
	f, err := os.Open(*profile)
	if err != nil {
		fmt.Fprintf(stderr, "coverfloor: %v\n", err)
		return 2
	}
	defer f.Close()
	blocks, err := parseProfile(f)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	rep := summarize(blocks, *module, excludes, isGeneratedFile)
	if rep.print(stdout, *minModule, pkgFloors) {
		return 1
	}
	return 0
}

// block is one coverage block; the key identifies it across test binaries.
type block struct {
	file    string // import path of the package + "/" + file name
	key     string // file:start,end as in the profile
	stmts   int
	covered bool
}

// parseProfile reads a profile and merges blocks that appear in several test
// binaries: a block is covered if any binary covered it.
func parseProfile(r io.Reader) ([]block, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	index := map[string]int{}
	var out []block
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "mode:") {
			continue
		}
		// file:1.2,3.4 stmts count
		fields := strings.Fields(text)
		if len(fields) != 3 {
			return nil, fmt.Errorf("coverfloor: profile line %d: want 3 fields, got %q", line, text)
		}
		colon := strings.LastIndex(fields[0], ":")
		if colon <= 0 {
			return nil, fmt.Errorf("coverfloor: profile line %d: no file in %q", line, fields[0])
		}
		stmts, err := strconv.Atoi(fields[1])
		if err != nil || stmts < 0 {
			return nil, fmt.Errorf("coverfloor: profile line %d: bad statement count %q", line, fields[1])
		}
		count, err := strconv.ParseInt(fields[2], 10, 64)
		if err != nil || count < 0 {
			return nil, fmt.Errorf("coverfloor: profile line %d: bad count %q", line, fields[2])
		}
		key := fields[0]
		if i, ok := index[key]; ok {
			out[i].covered = out[i].covered || count > 0
			continue
		}
		index[key] = len(out)
		out = append(out, block{file: fields[0][:colon], key: key, stmts: stmts, covered: count > 0})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("coverfloor: reading profile: %w", err)
	}
	return out, nil
}

// figure is covered/total statements.
type figure struct{ covered, total int }

func (f figure) percent() float64 {
	if f.total == 0 {
		return 100
	}
	return 100 * float64(f.covered) / float64(f.total)
}

func (f *figure) add(b block) {
	f.total += b.stmts
	if b.covered {
		f.covered += b.stmts
	}
}

type report struct {
	packages  map[string]figure // relative package dir ("." for the root) -> figure
	excluded  map[string]bool   // relative package dir -> left out of the module total
	generated []string          // relative file names skipped as generated
	module    figure
}

// summarize groups blocks by package. isGenerated is asked once per file with
// the file's path relative to the module root.
func summarize(blocks []block, module string, excludes []string, isGenerated func(string) bool) report {
	rep := report{packages: map[string]figure{}, excluded: map[string]bool{}}
	generated := map[string]bool{}
	for _, b := range blocks {
		rel, ok := relPath(b.file, module)
		if !ok {
			continue // not in this module
		}
		gen, seen := generated[rel]
		if !seen {
			gen = isGenerated(rel)
			generated[rel] = gen
			if gen {
				rep.generated = append(rep.generated, rel)
			}
		}
		if gen {
			continue
		}
		dir := path.Dir(rel)
		fig := rep.packages[dir]
		fig.add(b)
		rep.packages[dir] = fig
		if isExcluded(dir, excludes) {
			rep.excluded[dir] = true
			continue
		}
		rep.module.add(b)
	}
	sort.Strings(rep.generated)
	return rep
}

// relPath turns an import-path file name into a path relative to the module root.
func relPath(file, module string) (string, bool) {
	rest, ok := strings.CutPrefix(file, module+"/")
	return rest, ok
}

func isExcluded(dir string, excludes []string) bool {
	for _, e := range excludes {
		e = strings.Trim(path.Clean(e), "/")
		if dir == e || strings.HasPrefix(dir, e+"/") {
			return true
		}
	}
	return false
}

// packageFigure returns the figure for dir and everything below it.
func (r report) packageFigure(dir string) (figure, bool) {
	dir = strings.Trim(path.Clean(dir), "/")
	var f figure
	found := false
	for d, fig := range r.packages {
		if d == dir || strings.HasPrefix(d, dir+"/") {
			f.covered += fig.covered
			f.total += fig.total
			found = true
		}
	}
	return f, found
}

// print writes the table and the floors; it reports whether any floor failed.
func (r report) print(w io.Writer, minModule float64, floors []pkgFloor) (failed bool) {
	dirs := make([]string, 0, len(r.packages))
	for d := range r.packages {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	fmt.Fprintf(w, "%-28s %8s %8s %7s\n", "package", "covered", "stmts", "cover")
	var below []string
	for _, d := range dirs {
		fig := r.packages[d]
		note := ""
		switch {
		case r.excluded[d]:
			note = "  (excluded from the module total)"
		case fig.percent() < minModule:
			note = fmt.Sprintf("  below %.0f%%", minModule)
			below = append(below, d)
		}
		fmt.Fprintf(w, "%-28s %8d %8d %6.1f%%%s\n", d, fig.covered, fig.total, fig.percent(), note)
	}
	for _, g := range r.generated {
		fmt.Fprintf(w, "generated, not counted: %s\n", g)
	}
	fmt.Fprintf(w, "module total: %.2f%% of %d statements (floor %.0f%%)\n", r.module.percent(), r.module.total, minModule)
	if r.module.percent() < minModule {
		failed = true
		fmt.Fprintf(w, "FAIL: module coverage %.2f%% is below the floor %.0f%%; packages below it: %s\n",
			r.module.percent(), minModule, strings.Join(below, ", "))
	}
	for _, pf := range floors {
		fig, ok := r.packageFigure(pf.dir)
		if !ok {
			failed = true
			fmt.Fprintf(w, "FAIL: %s: no coverage data (is the package still there?)\n", pf.dir)
			continue
		}
		fmt.Fprintf(w, "%s: %.2f%% of %d statements (floor %.0f%%)\n", pf.dir, fig.percent(), fig.total, pf.min)
		if fig.percent() < pf.min {
			failed = true
			fmt.Fprintf(w, "FAIL: %s coverage %.2f%% is below the floor %.0f%%\n", pf.dir, fig.percent(), pf.min)
		}
	}
	return failed
}

type pkgFloor struct {
	dir string
	min float64
}

func parseFloors(specs []string) ([]pkgFloor, error) {
	var out []pkgFloor
	for _, s := range specs {
		dir, pct, ok := strings.Cut(s, "=")
		if !ok || dir == "" {
			return nil, fmt.Errorf("coverfloor: -floor %q: want pkg=percent", s)
		}
		v, err := strconv.ParseFloat(pct, 64)
		if err != nil || v < 0 || v > 100 {
			return nil, fmt.Errorf("coverfloor: -floor %q: percent must be a number in [0, 100]", s)
		}
		out = append(out, pkgFloor{dir: dir, min: v})
	}
	return out, nil
}

// readModulePath returns the module path declared in a go.mod file.
func readModulePath(name string) (string, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return "", fmt.Errorf("coverfloor: %w", err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`), nil
		}
	}
	return "", errors.New("coverfloor: no module line in " + name)
}

// isGeneratedFile reports whether the Go file at name carries the standard
// "Code generated ... DO NOT EDIT." header. Unreadable files count as not
// generated, so they are never silently dropped.
func isGeneratedFile(name string) bool {
	f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		return false
	}
	return ast.IsGenerated(f)
}
