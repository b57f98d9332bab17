package yggr

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestEveryDBMethodHasAnExample: the README promises a runnable example
// for every DB method; an ExampleDB_Method (or ExampleDB_Method_suffix)
// function must exist for each exported method.
func TestEveryDBMethodHasAnExample(t *testing.T) {
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv != nil {
				continue
			}
			if rest, ok := strings.CutPrefix(fd.Name.Name, "ExampleDB_"); ok {
				method, _, _ := strings.Cut(rest, "_")
				have[method] = true
			}
		}
	}
	typ := reflect.TypeFor[*DB]()
	for i := range typ.NumMethod() {
		if m := typ.Method(i).Name; !have[m] {
			t.Errorf("DB.%s has no runnable example (ExampleDB_%s)", m, m)
		}
	}
}
