package yggr

import (
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestAliasDocsListFields: go doc and pkg.go.dev show an alias of an
// internal type with its own comment only, so every exported alias has a
// comment of its own, naming it, and an alias of a struct lists every
// field of the struct in it.
func TestAliasDocsListFields(t *testing.T) {
	aliases := map[string]reflect.Type{
		"Txn": reflect.TypeFor[Txn](), "Compare": reflect.TypeFor[Compare](), "Request": reflect.TypeFor[Request](),
		"OpResult": reflect.TypeFor[OpResult](), "CmpTarget": reflect.TypeFor[CmpTarget](), "Op": reflect.TypeFor[Op](),
		"Item": reflect.TypeFor[Item](), "Limits": reflect.TypeFor[Limits](), "Histogram": reflect.TypeFor[Histogram](),
		"CompactedError": reflect.TypeFor[CompactedError](), "NotLeaderError": reflect.TypeFor[NotLeaderError](),
		"StorageError": reflect.TypeFor[StorageError](),
	}
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, n, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	p, err := doc.NewFromFiles(fset, files, "github.com/yggrdb/yggr")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, typ := range p.Types {
		spec := typ.Decl.Specs[0].(*ast.TypeSpec)
		if !spec.Assign.IsValid() {
			continue
		}
		name := typ.Name
		seen[name] = true
		rt, ok := aliases[name]
		if !ok {
			t.Errorf("alias %s: add it to this test's table", name)
			continue
		}
		if len(typ.Decl.Specs) != 1 {
			t.Errorf("alias %s is declared in a group: its comment would be the group's", name)
		}
		words := strings.Fields(typ.Doc)
		if len(words) < 2 || (words[0] != name && words[1] != name) {
			t.Errorf("alias %s: its comment %q does not start with its name", name, typ.Doc)
		}
		if rt.Kind() != reflect.Struct {
			continue
		}
		for i := range rt.NumField() {
			if f := rt.Field(i).Name; !strings.Contains(typ.Doc, f) {
				t.Errorf("alias %s: its comment does not list the field %s", name, f)
			}
		}
	}
	for name := range aliases {
		if !seen[name] {
			t.Errorf("alias %s: not found in the package", name)
		}
	}
}
