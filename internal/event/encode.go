package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// The canonical encoding of an event is exactly what encoding/json produces for
// the Event struct with HTML escaping off. appendBody writes it field by field,
// without reflection, because it runs for every event appended; only attrs (an
// open map) goes through encoding/json. TestEncodingMatchesEncodingJSON and the
// fuzz target hold the two to the same bytes.

// appendBody appends the encoding of e, less `{"seq":N,`, to b.
func appendBody(b []byte, e *Event) ([]byte, error) {
	b = append(b, `"id":`...)
	b = appendString(b, e.ID)
	b = append(b, `,"time":"`...)
	b = e.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","source":`...)
	b = appendString(b, e.Source)
	b = append(b, `,"class_uid":`...)
	b = strconv.AppendInt(b, int64(e.ClassUID), 10)
	b = append(b, `,"activity":`...)
	b = appendString(b, e.Activity)

	a := &e.Actor
	b = append(b, `,"actor":{"user":`...)
	b = appendString(b, a.User)
	b = appendStrings(b, "roles", a.Roles)
	b = appendStrings(b, "groups", a.Groups)
	b = appendOpt(b, "type", a.Type)
	b = appendOpt(b, "src_ip", a.SrcIP)
	b = appendOpt(b, "user_agent", a.UserAgent)
	b = appendOpt(b, "session_id", a.SessionID)
	b = append(b, `},"action":`...)
	b = appendString(b, e.Action)

	r := &e.Resource
	b = append(b, `,"resource":{`...)
	n := len(b)
	b = appendOpt(b, "type", r.Type)
	b = appendOpt(b, "id", r.ID)
	b = appendOpt(b, "name", r.Name)
	b = appendOpt(b, "environment", r.Environment)
	if len(r.Labels) > 0 {
		b = append(b, `,"labels":{`...)
		keys := make([]string, 0, len(r.Labels))
		for k := range r.Labels {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, r.Labels[k])
		}
		b = append(b, '}')
	}
	if len(b) > n && b[n] == ',' { // drop the comma before the first field present
		b = append(b[:n], b[n+1:]...)
	}
	b = append(b, '}')
	b = appendOpt(b, "target", e.Target)
	b = append(b, `,"outcome":`...)
	b = appendString(b, e.Outcome)

	if d := e.Decision; d != nil {
		b = append(b, `,"decision":{"effect":`...)
		b = appendString(b, d.Effect)
		if len(d.Rules) > 0 {
			b = append(b, `,"rules":[`...)
			for i := range d.Rules {
				r := &d.Rules[i]
				if i > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"id":`...)
				b = appendString(b, r.ID)
				b = append(b, `,"effect":`...)
				b = appendString(b, r.Effect)
				b = appendOpt(b, "severity", r.Severity)
				b = appendOpt(b, "message", r.Message)
				if r.DryRun {
					b = append(b, `,"dry_run":true`...)
				}
				b = append(b, '}')
			}
			b = append(b, ']')
		}
		b = appendOpt(b, "message", d.Message)
		b = appendOpt(b, "review_id", d.ReviewID)
		b = append(b, '}')
	}
	b = appendOpt(b, "parent_id", e.ParentID)
	if len(e.Attrs) > 0 {
		b = append(b, `,"attrs":`...)
		var err error
		if b, err = appendValue(b, e.Attrs, 0); err != nil {
			return nil, fieldErr("attrs", "cannot be encoded: %v", err)
		}
	}
	if len(e.Raw) > 0 {
		b = append(b, `,"raw":`...)
		var buf bytes.Buffer
		if err := json.Compact(&buf, e.Raw); err != nil {
			return nil, fieldErr("raw", "is not valid JSON: %v", err)
		}
		b = append(b, buf.Bytes()...)
	}
	return append(b, '}'), nil
}

// maxDepth bounds attrs nesting, as encoding/json bounds cycles.
const maxDepth = 64

// appendValue appends v as encoding/json would (HTML escaping off), handling the
// types attrs hold in practice directly and the rest through encoding/json.
func appendValue(b []byte, v any, depth int) ([]byte, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("attrs nested deeper than %d levels", maxDepth)
	}
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case int32:
		return strconv.AppendInt(b, int64(x), 10), nil
	case uint64:
		return strconv.AppendUint(b, x, 10), nil
	case uint32:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case []string:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, s := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		return append(b, ']'), nil
	case []any:
		if x == nil {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendValue(b, e, depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		if x == nil {
			return append(b, "null"...), nil
		}
		var small [16]string // attrs maps are small: sort their keys without allocating
		keys := small[:0]
		if len(x) > len(small) {
			keys = make([]string, 0, len(x))
		}
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			var err error
			if b, err = appendValue(b, x[k], depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	}
	// Floats, json.Number, structs and everything else: encoding/json itself.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return append(b, bytes.TrimRight(buf.Bytes(), "\n")...), nil
}

// appendOpt appends `,"key":"v"` unless v is empty (omitempty).
func appendOpt(b []byte, key, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendString(b, v)
}

// appendStrings appends `,"key":["a","b"]` unless vs is empty (omitempty).
func appendStrings(b []byte, key string, vs []string) []byte {
	if len(vs) == 0 {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':', '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, v)
	}
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string exactly as encoding/json does with
// HTML escaping off: invalid UTF-8 becomes U+FFFD, U+2028 and U+2029 are escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// encodeReflect is the reference encoding, by encoding/json; tests compare
// appendBody with it.
func encodeReflect(e *Event) ([]byte, error) {
	c := *e
	c.Seq = 0
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&c); err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
