package sigma

import (
	"bytes"
	"github.com/vigil-audit/vigil/internal/corpora"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/ingest/cloudtrail"
)

// loadRules parses every rule file under the given folders of the Sigma corpus.
func loadRules(t testing.TB, root string, dirs ...string) []*Rule {
	t.Helper()
	var rules []*Rule
	for _, d := range dirs {
		err := filepath.WalkDir(filepath.Join(root, "sigma", "rules", d), func(p string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() || !strings.HasSuffix(p, ".yml") {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			c, err := ParseAll(data, p)
			if err != nil {
				t.Errorf("%v", err)
				return nil
			}
			rules = append(rules, c.Rules...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return rules
}

func TestCorpusRulesLoadAndLint(t *testing.T) {
	root := corpora.Dir(t)
	var files, nrules int
	err := filepath.WalkDir(filepath.Join(root, "sigma", "rules"), func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() || !strings.HasSuffix(p, ".yml") {
			return err
		}
		files++
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		r, err := Parse(data, p)
		if err != nil {
			t.Errorf("parse: %v", err)
			return nil
		}
		nrules++
		if _, err := NewEngine([]*Rule{r}, Options{}); err != nil {
			t.Errorf("compile: %v", err)
		}
		for _, is := range LintFile(data, p) {
			if is.Severity != SevWarning {
				t.Errorf("lint: %v", is)
			} else {
				t.Logf("lint: %v", is)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files != 157 {
		t.Errorf("walked %d rule files, the corpus README lists 157", files)
	}
	all := loadRules(t, root, ".")
	if _, err := NewEngine(all, Options{}); err != nil {
		t.Errorf("all rules in one engine: %v", err)
	}
	t.Logf("%d rule files, %d rules parsed, compiled and linted clean", files, nrules)
}

// parseCloudTrail reads one CloudTrail corpus file into events.
func parseCloudTrail(t testing.TB, path string) []event.Event {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var evs []event.Event
	_, err = (&cloudtrail.Parser{}).Parse(bytes.NewReader(data), filepath.Base(path), func(ev event.Event) error {
		evs = append(evs, ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func titles(rs map[string]bool) []string {
	var out []string
	for r := range rs {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
