package github

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vigil-audit/vigil/internal/ingest"
	"github.com/vigil-audit/vigil/internal/ingest/ingesttest"
)

// TestCorpus parses every GitHub corpus file with no rejects, checks every
// event, and compares every 8th event with a golden file.
func TestCorpus(t *testing.T) {
	dir := ingesttest.Corpus(t, "github")
	files, err := ingest.Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := &Parser{Now: ingesttest.Now}
	var views []ingesttest.View
	var total ingest.Stats
	for _, f := range files {
		if filepath.Base(f) == "LICENSE" {
			continue
		}
		rel, _ := filepath.Rel(dir, f)
		rel = filepath.ToSlash(rel)
		var data []byte
		if strings.Contains(f, ".labelled.") {
			data = ingesttest.Labelled(t, f)
		} else if data, err = os.ReadFile(f); err != nil {
			t.Fatal(err)
		}
		r := ingesttest.ParseAll(t, p, rel, data)
		for _, rj := range r.Stats.Rejects {
			t.Errorf("reject %s", rj)
		}
		if r.Stats.Skipped != 0 || r.Stats.Accepted == 0 {
			t.Errorf("%s: %d accepted, %d skipped", rel, r.Stats.Accepted, r.Stats.Skipped)
		}
		for i, ev := range r.Events {
			if i%8 == 0 {
				views = append(views, ingesttest.ViewOf(rel+" event "+itoa(i), ev))
			}
		}
		total.Add(r.Stats)
	}
	t.Logf("github corpus: %d accepted, %d rejected, %d skipped", total.Accepted, total.Rejected, total.Skipped)
	ingesttest.Golden(t, "testdata/corpus.golden.jsonl", views)
}

func itoa(i int) string { return strconv.Itoa(i) }
