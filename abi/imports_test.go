package abi

import (
	"go/build"
	"go/parser"
	"go/token"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestStdlibOnlyImports enforces that the package (non-test files) imports
// only the Go standard library, so the ABI definition stays free of wazero
// and every other dependency.
func TestStdlibOnlyImports(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	files := 0
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatalf("parse %s: %v", name, err)
		}
		files++
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				t.Fatalf("%s: bad import %s: %v", name, imp.Path.Value, err)
			}
			if !isStdlib(path) {
				t.Errorf("%s imports %q; package abi may import only the standard library", name, path)
			}
		}
	}
	if files == 0 {
		t.Fatal("no non-test Go files found")
	}
}

func isStdlib(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	if path == "C" || strings.Contains(first, ".") {
		return false
	}
	pkg, err := build.Import(path, "", build.FindOnly)
	return err == nil && pkg.Goroot
}

func TestIsStdlib(t *testing.T) {
	tests := []struct {
		name string
		path string
		want bool
	}{
		{name: "stdlib", path: "encoding/binary", want: true},
		{name: "stdlib top level", path: "errors", want: true},
		{name: "module with dot", path: "github.com/tetratelabs/wazero", want: false},
		{name: "x repo", path: "golang.org/x/net/http2", want: false},
		{name: "cgo", path: "C", want: false},
		{name: "own module", path: "github.com/weirproxy/weir/host", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isStdlib(tt.path); got != tt.want {
				t.Errorf("isStdlib(%q) = %v, want %v", tt.path, got, tt.want)
			}
		})
	}
}
