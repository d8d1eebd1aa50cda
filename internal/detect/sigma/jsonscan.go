package sigma

import (
	"encoding/json"
	"strconv"
	"unsafe"
)

// This file holds a small allocation-free JSON navigator. An event's raw record
// is never decoded as a whole: each field a rule names is found by skipping
// over the members it does not need, and each field is looked up at most once
// per event (see Doc).

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"', and
// whether it holds escapes; -1 if it is unterminated.
func skipString(b []byte, i int) (int, bool) {
	esc := false
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			esc = true
			j++
		case '"':
			return j + 1, esc
		}
	}
	return -1, esc
}

// skipValue returns the index after the JSON value starting at b[i], or -1.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		end, _ := skipString(b, i)
		return end
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, _ := skipString(b, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	default:
		j := i
		for j < len(b) {
			switch b[j] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return j
			}
			j++
		}
		return j
	}
}

// eachMember calls fn with the raw key (quotes removed, escapes kept) and the
// raw value of each member of the object obj, until fn returns false.
func eachMember(obj []byte, fn func(key []byte, esc bool, val []byte) bool) {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return
	}
	i = skipSpace(obj, i+1)
	for i < len(obj) && obj[i] == '"' {
		kend, esc := skipString(obj, i)
		if kend < 0 {
			return
		}
		key := obj[i+1 : kend-1]
		i = skipSpace(obj, kend)
		if i >= len(obj) || obj[i] != ':' {
			return
		}
		i = skipSpace(obj, i+1)
		vend := skipValue(obj, i)
		if vend < 0 {
			return
		}
		if !fn(key, esc, obj[i:vend]) {
			return
		}
		i = skipSpace(obj, vend)
		if i < len(obj) && obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
	}
}

// eachElement calls fn with each raw element of the array arr.
func eachElement(arr []byte, fn func(val []byte)) {
	i := skipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return
	}
	i = skipSpace(arr, i+1)
	for i < len(arr) && arr[i] != ']' {
		end := skipValue(arr, i)
		if end < 0 || end == i {
			return
		}
		fn(arr[i:end])
		i = skipSpace(arr, end)
		if i < len(arr) && arr[i] == ',' {
			i = skipSpace(arr, i+1)
		}
	}
}

// member returns the raw value of key in the object obj, or nil.
func member(obj []byte, key string) []byte {
	var out []byte
	eachMember(obj, func(k []byte, esc bool, v []byte) bool {
		if keyEquals(k, esc, key) {
			out = v
			return false
		}
		return true
	})
	return out
}

func keyEquals(k []byte, esc bool, key string) bool {
	if !esc {
		return string(k) == key
	}
	s, ok := unquote(k)
	return ok && s == key
}

// unquote decodes the inside of a JSON string that holds escapes.
func unquote(inner []byte) (string, bool) {
	q := make([]byte, 0, len(inner)+2)
	q = append(q, '"')
	q = append(q, inner...)
	q = append(q, '"')
	var s string
	if err := json.Unmarshal(q, &s); err != nil {
		return "", false
	}
	return s, true
}

// bytesString views b as a string without copying. The string must not
// outlive the event the bytes belong to.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// scalar turns a raw JSON value into a value; objects and arrays keep their
// raw text with kind kindComposite.
func scalar(raw []byte) value {
	if len(raw) == 0 {
		return value{kind: kindNull}
	}
	switch raw[0] {
	case '"':
		inner := raw[1 : len(raw)-1]
		for _, c := range inner {
			if c == '\\' {
				s, ok := unquote(inner)
				if !ok {
					return value{kind: kindString, s: bytesString(inner)}
				}
				return value{kind: kindString, s: s}
			}
		}
		return value{kind: kindString, s: bytesString(inner)}
	case 'n':
		return value{kind: kindNull}
	case 't', 'f':
		return value{kind: kindBool, s: bytesString(raw)}
	case '{', '[':
		return value{kind: kindComposite, s: bytesString(raw)}
	}
	return value{kind: kindNumber, s: bytesString(raw)}
}

// number reports the value as a float, for numbers and numeric strings.
func (v *value) number() (float64, bool) {
	if v.kind != kindNumber && v.kind != kindString {
		return 0, false
	}
	f, err := strconv.ParseFloat(v.s, 64)
	return f, err == nil
}
