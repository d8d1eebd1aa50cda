// Package sources lists the ingest parsers by the source name users give
// (`vigil ingest --source NAME`, `POST /v1/ingest/NAME`).
package sources

import (
	"sort"

	"github.com/vigil-audit/vigil/internal/ingest"
	"github.com/vigil-audit/vigil/internal/ingest/cloudtrail"
	"github.com/vigil-audit/vigil/internal/ingest/github"
	"github.com/vigil-audit/vigil/internal/ingest/k8saudit"
)

// Parser returns a new parser for the named source, or false.
func Parser(name string) (ingest.Parser, bool) {
	switch name {
	case cloudtrail.Source:
		return &cloudtrail.Parser{}, true
	case k8saudit.Source:
		return &k8saudit.Parser{}, true
	case github.Source:
		return &github.Parser{}, true
	}
	return nil, false
}

// Names lists the sources, sorted.
func Names() []string {
	n := []string{cloudtrail.Source, k8saudit.Source, github.Source}
	sort.Strings(n)
	return n
}
