package main

import (
	"bytes"
	"os"
	"testing"
)

// TestGeneratedUpToDate fails while ../tree_gen.go differs from what the
// generator writes for the pg_query_go version in go.mod.
func TestGeneratedUpToDate(t *testing.T) {
	want, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../tree_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("tree_gen.go is out of date: run go generate ./internal/classify/sql")
	}
}
