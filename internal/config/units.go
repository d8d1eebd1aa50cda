package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

const day = 24 * time.Hour

// ParseDuration parses a non-negative duration: anything time.ParseDuration
// accepts ("30s", "1h30m", "1.5h", "0"), optionally preceded by a whole number of
// days with the "d" suffix ("90d", "1d12h"). Negative durations are rejected.
func ParseDuration(s string) (time.Duration, error) {
	notDuration := fmt.Errorf("%q is not a duration (want a number with a unit, like 30s, 1h30m or 90d)", s)
	body := s
	neg := false
	if body != "" && (body[0] == '-' || body[0] == '+') {
		neg = body[0] == '-'
		body = body[1:]
	}
	if body == "" {
		return 0, notDuration
	}
	var d time.Duration
	if i := strings.IndexByte(body, 'd'); i >= 0 {
		days := body[:i]
		if !allDigits(days) {
			return 0, notDuration
		}
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n > int64(math.MaxInt64/day) {
			return 0, fmt.Errorf("%q is too large", s)
		}
		d = time.Duration(n) * day
		body = body[i+1:]
		if body != "" && (body[0] == '-' || body[0] == '+') {
			return 0, notDuration
		}
	}
	if body != "" {
		rest, err := time.ParseDuration(body)
		if err != nil {
			return 0, notDuration
		}
		if rest > math.MaxInt64-d {
			return 0, fmt.Errorf("%q is too large", s)
		}
		d += rest
	}
	if neg && d != 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return d, nil
}

// FormatDuration writes d the way ParseDuration reads it, shortest form first:
// 90*24h is "90d", 36h is "1d12h", 90m is "1h30m", 0 is "0".
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		if d == 0 {
			return "0"
		}
		return d.String()
	}
	var b strings.Builder
	if days := d / day; days > 0 {
		fmt.Fprintf(&b, "%dd", days)
		d -= days * day
	}
	if d > 0 {
		s := d.String()
		if strings.HasSuffix(s, "m0s") {
			s = strings.TrimSuffix(s, "0s")
		}
		if strings.HasSuffix(s, "h0m") {
			s = strings.TrimSuffix(s, "0m")
		}
		b.WriteString(s)
	}
	return b.String()
}

var byteUnits = []struct {
	suffix string
	size   int64
}{
	{"GiB", 1 << 30},
	{"MiB", 1 << 20},
	{"KiB", 1 << 10},
}

// ParseByteSize parses a non-negative byte count: a whole number of bytes
// ("1048576") or a whole number with a KiB, MiB or GiB suffix ("16MiB", "512 KiB").
// Decimal units (KB, MB, GB) are rejected as ambiguous.
func ParseByteSize(s string) (int64, error) {
	num, unit := s, int64(1)
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			num, unit = strings.TrimSuffix(rest, " "), u.size
			break
		}
	}
	neg := strings.HasPrefix(num, "-")
	if neg {
		num = num[1:]
	}
	if !allDigits(num) {
		return 0, fmt.Errorf("%q is not a byte size (want a whole number of bytes, or of KiB, MiB or GiB, like 16MiB)", s)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > math.MaxInt64/unit {
		return 0, fmt.Errorf("%q is too large", s)
	}
	if neg && n != 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return n * unit, nil
}

// FormatByteSize writes n with the largest binary unit that divides it exactly:
// 16<<20 is "16MiB", 1000 is "1000".
func FormatByteSize(n int64) string {
	if n != 0 {
		for _, u := range byteUnits {
			if n%u.size == 0 {
				return strconv.FormatInt(n/u.size, 10) + u.suffix
			}
		}
	}
	return strconv.FormatInt(n, 10)
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Duration is a time.Duration that reads and writes YAML the way vigil.yaml spells
// durations (see ParseDuration). Config itself uses plain time.Duration fields; this
// type is for other YAML documents that need the same spelling.
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("expected a duration, found " + describe(n))
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// String returns the duration as FormatDuration writes it.
func (d Duration) String() string { return FormatDuration(time.Duration(d)) }

// ByteSize is a byte count that reads and writes YAML the way vigil.yaml spells
// sizes (see ParseByteSize). Config itself uses plain int64 fields; this type is
// for other YAML documents that need the same spelling.
type ByteSize int64

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("expected a byte size, found " + describe(n))
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return err
	}
	*b = ByteSize(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

// String returns the size as FormatByteSize writes it.
func (b ByteSize) String() string { return FormatByteSize(int64(b)) }
