package classify

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
)

// Helpers for the classifiers of JSON actions: decoding them (Decode), and
// reading decoded JSON (map[string]any), as the AWS and Terraform ones do.

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

// Decode unmarshals raw, the JSON a classifier takes, into v. Errors name
// the classifier and what raw is: "aws: empty record", "aws: record: ...".
func Decode(raw json.RawMessage, v any, classifier, what string) error {
	if len(raw) == 0 {
		return fmt.Errorf("%s: empty %s", classifier, what)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %s: %w", classifier, what, err)
	}
	return nil
}

// NonNil returns s, or an empty list for nil, so that it encodes as [].
func NonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// WorldCIDR reports whether cidr opens to the internet at large: a /0
// prefix, whatever address it is written with, or one wide enough that it
// cannot be anything else, so that splitting the world into halves
// (0.0.0.0/1 and 128.0.0.0/1) changes nothing. That is an IPv4 prefix of 7
// bits or fewer (every such range holds public addresses; the private ones
// are /8 and narrower), and an IPv6 prefix of 15 bits or fewer that
// overlaps the global unicast space 2000::/3 (fc00::/7 and fe80::/10 do
// not).
func WorldCIDR(cidr string) bool {
	p, err := netip.ParsePrefix(strings.TrimSpace(cidr))
	if err != nil {
		return false
	}
	switch {
	case p.Bits() == 0:
		return true
	case p.Addr().Is4() || p.Addr().Is4In6() && p.Bits() >= 96:
		bits := p.Bits()
		if p.Addr().Is4In6() {
			bits -= 96
		}
		return bits <= 7
	default:
		return p.Bits() <= 15 && p.Overlaps(globalUnicast)
	}
}

var globalUnicast = netip.MustParsePrefix("2000::/3")
