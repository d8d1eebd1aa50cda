package classify

import (
	"fmt"
	"net/netip"
	"strings"
)

// Helpers for the classifiers that read decoded JSON (map[string]any): the
// AWS and Terraform ones.

// String returns v if it is a JSON string, else "".
func String(v any) string {
	s, _ := v.(string)
	return s
}

// Strings returns a JSON string, or the strings of a JSON list, as a list.
func Strings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// Int returns a JSON number, or a numeric string, as an int; -1 when v is
// neither.
func Int(v any) int {
	switch v := v.(type) {
	case float64:
		return int(v)
	case string:
		var n int
		if _, err := fmt.Sscan(v, &n); err == nil {
			return n
		}
	}
	return -1
}

// Objects returns the objects of a JSON list.
func Objects(v any) []map[string]any {
	l, _ := v.([]any)
	var out []map[string]any
	for _, x := range l {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// NonNil returns s, or an empty list for nil, so that it encodes as [].
func NonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// WorldCIDR reports whether cidr covers every address: a /0 prefix, whatever
// address it is written with ("0.0.0.0/0", "::/0", "10.1.2.3/0").
func WorldCIDR(cidr string) bool {
	p, err := netip.ParsePrefix(strings.TrimSpace(cidr))
	return err == nil && p.Bits() == 0
}
