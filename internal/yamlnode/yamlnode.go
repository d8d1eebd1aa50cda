// Package yamlnode holds what Vigil's YAML loaders (vigil.yaml, policy rule
// files, Sigma rules and correlations) share when they read yaml.v3 node
// trees and report where a problem is.
package yamlnode

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Get returns the value of key in mapping m, or nil when m is not a mapping
// or has no such key.
func Get(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// SyntaxError splits a YAML parser error ("yaml: line 3: did not find
// expected key") into the line it names (0 when it names none) and the rest
// of its message.
func SyntaxError(err error) (line int, msg string) {
	msg = strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if n, convErr := strconv.Atoi(num); convErr == nil {
				return n, text
			}
		}
	}
	return 0, msg
}
