// Package sources lists the ingest parsers by the source name users give
// (`vigil ingest --source NAME`, `POST /v1/ingest/NAME`).
package sources

import (
	"io"
	"sort"
	"strings"

	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/ingest"
	"github.com/vigil-audit/vigil/internal/ingest/auditd"
	"github.com/vigil-audit/vigil/internal/ingest/cloudtrail"
	"github.com/vigil-audit/vigil/internal/ingest/github"
	"github.com/vigil-audit/vigil/internal/ingest/jsonl"
	"github.com/vigil-audit/vigil/internal/ingest/k8saudit"
	"github.com/vigil-audit/vigil/internal/ingest/pgaudit"
)

// Parser returns a new parser for the named source, or false. The generic
// JSON source takes its field mapping after a colon, in jsonl.ParseMapping's
// compact form ("jsonl:actor=user.name,action=event.type"); plain "jsonl"
// is jsonl.DefaultMapping. A mapping that does not parse gives a parser whose
// Parse returns the error.
func Parser(name string) (ingest.Parser, bool) {
	switch name {
	case cloudtrail.Source:
		return &cloudtrail.Parser{}, true
	case k8saudit.Source:
		return &k8saudit.Parser{}, true
	case github.Source:
		return &github.Parser{}, true
	case pgaudit.Source:
		return &pgaudit.Parser{}, true
	case auditd.Source:
		return &auditd.Parser{}, true
	case jsonl.Source:
		return &jsonl.Parser{Mapping: jsonl.DefaultMapping()}, true
	}
	if spec, ok := strings.CutPrefix(name, jsonl.Source+":"); ok {
		m, err := jsonl.ParseMapping(spec)
		if err != nil {
			return failing{jsonl.Source, err}, true
		}
		return &jsonl.Parser{Mapping: m}, true
	}
	return nil, false
}

// Names lists the sources, sorted.
func Names() []string {
	n := []string{cloudtrail.Source, k8saudit.Source, github.Source, pgaudit.Source, auditd.Source, jsonl.Source}
	sort.Strings(n)
	return n
}

// failing is a parser that cannot be built: every Parse reports why.
type failing struct {
	source string
	err    error
}

func (f failing) Source() string { return f.source }

func (f failing) Parse(io.Reader, string, func(event.Event) error) (ingest.Stats, error) {
	return ingest.Stats{}, f.err
}
