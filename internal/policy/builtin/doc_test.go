package builtin

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/builtin-rules.md from the packs")

// TestBuiltinRulesDoc keeps docs/builtin-rules.md generated from the packs:
// run `go test ./internal/policy/builtin -update` after changing a pack.
func TestBuiltinRulesDoc(t *testing.T) {
	rs, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.WriteString("# Built-in rules\n\n")
	b.WriteString("Generated from `internal/policy/builtin/*.yaml` by `go test ./internal/policy/builtin -update`; do not edit.\n")
	b.WriteString("The packs are embedded in the binary and apply to actions whose environment is `production`.\n")
	b.WriteString("Leave them out with `--no-builtin`. Every rule has inline tests (`vigil policy test`).\n")
	file := ""
	for _, r := range rs.Rules() {
		if r.File != file {
			file = r.File
			fmt.Fprintf(&b, "\n## %s\n\n| rule | effect | severity | what it catches | message |\n|---|---|---|---|---|\n", strings.TrimSuffix(file, ".yaml"))
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", r.ID, r.Effect, r.Severity, r.Description, r.Message)
	}
	path := filepath.Join("..", "..", "..", "docs", "builtin-rules.md")
	if *update {
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/policy/builtin -update)", err)
	}
	if !bytes.Equal(got, b.Bytes()) {
		t.Fatalf("docs/builtin-rules.md is out of date with the packs: run go test ./internal/policy/builtin -update")
	}
}
