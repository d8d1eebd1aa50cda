package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackageDocs requires exactly one package doc comment in every package of
// the module, so that each package says what it is for, once.
func TestPackageDocs(t *testing.T) {
	root := filepath.Join("..", "..")
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vigil-data") {
			return filepath.SkipDir
		}
		entries, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		var docs []string
		hasGo := false
		for _, e := range entries {
			n := e.Name()
			if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
				continue
			}
			hasGo = true
			f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(path, n), nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				return err
			}
			if f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != "" {
				docs = append(docs, n)
			}
		}
		if !hasGo {
			return nil
		}
		checked++
		switch len(docs) {
		case 0:
			t.Errorf("package %s has no package doc comment", path)
		case 1:
		default:
			t.Errorf("package %s has %d package doc comments (%s); keep one", path, len(docs), strings.Join(docs, ", "))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 10 {
		t.Fatalf("checked only %d packages; is the walk rooted at the module?", checked)
	}
}
