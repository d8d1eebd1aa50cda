package cloudtrail

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/ingest"
	"github.com/vigil-audit/vigil/internal/ingest/ingesttest"
)

// corpusFiles returns the CloudTrail corpus files (skipping licences).
func corpusFiles(t testing.TB) []string {
	t.Helper()
	dir := ingesttest.Corpus(t, "cloudtrail")
	files, err := ingest.Files(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range files {
		if strings.HasSuffix(f, ".json") || strings.HasSuffix(f, ".json.gz") {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no CloudTrail files under %s", dir)
	}
	return out
}

// TestCorpus parses every CloudTrail corpus file: no rejects, every event valid
// and encodable, and the first record of each file checked against a golden file.
func TestCorpus(t *testing.T) {
	p := &Parser{Now: ingesttest.Now}
	var views []ingesttest.View
	var total ingest.Stats
	for _, path := range corpusFiles(t) {
		rc, err := ingest.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(path)
		i := 0
		st, err := p.Parse(rc, name, func(ev event.Event) error {
			if err := ev.Normalize(time.Now()); err != nil {
				t.Errorf("%s#%d: emitted event fails Normalize: %v", name, i, err)
			}
			if _, err := event.EncodeBody(&ev); err != nil {
				t.Errorf("%s#%d: EncodeBody: %v", name, i, err)
			}
			if !bytes.HasPrefix(ev.Raw, []byte("{")) || ev.Attrs["aws.event_id"] == nil {
				t.Errorf("%s#%d: raw record or event id missing", name, i)
			}
			if i == 0 {
				views = append(views, ingesttest.ViewOf(name+"#0", ev))
			}
			i++
			return nil
		})
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, r := range st.Rejects {
			t.Errorf("reject %s", r)
		}
		if st.Accepted == 0 {
			t.Errorf("%s: no records", name)
		}
		total.Add(st)
	}
	t.Logf("cloudtrail corpus: %d accepted, %d rejected, %d skipped", total.Accepted, total.Rejected, total.Skipped)
	ingesttest.Golden(t, "testdata/corpus.golden.jsonl", views)
}

// BenchmarkCloudTrailParse measures parse + normalize + canonical encoding over
// the corpus records, all in one stream.
func BenchmarkCloudTrailParse(b *testing.B) {
	var input []byte
	for _, path := range corpusFiles(b) {
		data, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		input = append(input, data...)
		input = append(input, '\n')
	}
	p := &Parser{}
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	events := 0
	cpu0 := ingesttest.CPUTime()
	for b.Loop() {
		_, err := p.Parse(bytes.NewReader(input), "bench", func(ev event.Event) error {
			if _, err := event.EncodeBody(&ev); err != nil {
				return err
			}
			events++
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	// Per CPU second: meaningful on a shared, busy machine. Run with -cpu 1.
	if cpu := (ingesttest.CPUTime() - cpu0).Seconds(); cpu > 0 {
		b.ReportMetric(float64(len(input))*float64(b.N)/1e6/cpu, "MB/cpu-s")
		b.ReportMetric(float64(events)/cpu, "events/cpu-s")
	}
}
