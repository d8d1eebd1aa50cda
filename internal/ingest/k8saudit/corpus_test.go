package k8saudit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigil-audit/vigil/internal/ingest"
	"github.com/vigil-audit/vigil/internal/ingest/ingesttest"
)

// knownBad are the corpus records that must be rejected, with the reason: the
// corpus README calls the first a deliberately malformed input; the second is a
// hand-minimised rule-test sample holding no audit payload at all.
var knownBad = map[string]string{
	"falco/fal_01_003.json:1":                 "field kind",
	"panther/gke-cloudaudit.labelled.jsonl:6": "without protoPayload",
}

// knownSkipped counts, per file, the records that are well formed but are not
// Kubernetes audit events (another Azure category, other GCP services): Panther
// keeps them as negative samples.
var knownSkipped = map[string]int{
	"panther/aks-kube-audit.labelled.jsonl": 1,
	"panther/gke-cloudaudit.labelled.jsonl": 7,
}

// TestCorpus parses every Kubernetes audit corpus file: no rejects beyond the
// known bad records, every event valid, and the first event of every file
// checked against a golden file.
func TestCorpus(t *testing.T) {
	dir := ingesttest.Corpus(t, "k8saudit")
	files, err := ingest.Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := &Parser{Now: ingesttest.Now}
	var views []ingesttest.View
	var total ingest.Stats
	nfiles := 0
	for _, f := range files {
		if filepath.Base(f) == "LICENSE" {
			continue
		}
		nfiles++
		rel, _ := filepath.Rel(dir, f)
		rel = filepath.ToSlash(rel)
		var data []byte
		if strings.Contains(f, ".labelled.") {
			data = ingesttest.Labelled(t, f) // the test wrapper is not part of the format
		} else if data, err = os.ReadFile(f); err != nil {
			t.Fatal(err)
		}
		r := ingesttest.ParseAll(t, p, rel, data)
		for _, rj := range r.Stats.Rejects {
			if want, ok := knownBad[rj.Position]; !ok || !strings.Contains(rj.Reason, want) {
				t.Errorf("unexpected reject %s", rj)
			}
		}
		if r.Stats.Skipped != knownSkipped[rel] {
			t.Errorf("%s: %d skipped, want %d", rel, r.Stats.Skipped, knownSkipped[rel])
		}
		if len(r.Events) > 0 {
			views = append(views, ingesttest.ViewOf(rel+" first", r.Events[0]))
		}
		total.Add(r.Stats)
	}
	if total.Rejected != len(knownBad) {
		t.Errorf("%d rejects, want exactly the %d known bad records", total.Rejected, len(knownBad))
	}
	t.Logf("k8saudit corpus: %d files, %d accepted, %d rejected, %d skipped", nfiles, total.Accepted, total.Rejected, total.Skipped)
	ingesttest.Golden(t, "testdata/corpus.golden.jsonl", views)
}
