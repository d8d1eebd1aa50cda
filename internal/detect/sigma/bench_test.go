package sigma

import (
	"bufio"
	"bytes"
	"github.com/vigil-audit/vigil/internal/corpora"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-audit/vigil/internal/event"
)

// benchEvents returns the CloudTrail corpus events plus GitHub and Kubernetes
// audit records (raw lines, as their ingest parsers keep them in Raw).
func benchEvents(b *testing.B, root string) []event.Event {
	files, _ := filepath.Glob(filepath.Join(root, "cloudtrail", "stratus", "*.json"))
	var evs []event.Event
	for _, f := range files {
		evs = append(evs, parseCloudTrail(b, f)...)
	}
	lines := func(pattern, source string) {
		paths, _ := filepath.Glob(filepath.Join(root, pattern))
		for _, p := range paths {
			data, err := os.ReadFile(p)
			if err != nil {
				b.Fatal(err)
			}
			sc := bufio.NewScanner(bytes.NewReader(data))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				line := bytes.TrimSpace(sc.Bytes())
				if len(line) == 0 || line[0] != '{' {
					continue
				}
				evs = append(evs, event.Event{Source: source, Raw: append([]byte(nil), line...)})
			}
		}
	}
	lines("github/elastic/*.log", "github")
	lines("k8saudit/falco/*.json", "k8s-audit")
	return evs
}

// BenchmarkMatch measures events per second on one core with every SigmaHQ
// AWS, Kubernetes and GitHub rule loaded; each event starts from its raw JSON
// bytes, so navigating (decoding) the record is included.
func BenchmarkMatch(b *testing.B) {
	root := corpora.Dir(b)
	rules := loadRules(b, root, "cloud/aws/cloudtrail", "application/kubernetes/audit", "application/github/audit")
	e, err := NewEngine(rules, Options{})
	if err != nil {
		b.Fatal(err)
	}
	evs := benchEvents(b, root)
	var bytesTotal int
	for i := range evs {
		bytesTotal += len(evs[i].Raw)
	}
	b.SetBytes(int64(bytesTotal / len(evs)))
	b.ReportAllocs()
	hits := 0
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		e.MatchFunc(&evs[i%len(evs)], func(*Rule) { hits++ })
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(len(rules)), "rules")
}
