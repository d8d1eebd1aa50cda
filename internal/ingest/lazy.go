package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Lazy holds a JSON value as written, without decoding or copying it: it
// aliases the record being decoded and is only valid while that record is.
// Use it for fields whose type varies between records or that are rarely
// needed.
type Lazy []byte

// UnmarshalJSON keeps b.
func (l *Lazy) UnmarshalJSON(b []byte) error {
	*l = b
	return nil
}

// IsNull reports whether the value is absent or null.
func (l Lazy) IsNull() bool { return len(l) == 0 || string(l) == "null" }

// String returns the value if it is a JSON string, a number or a boolean as
// written, the first of these in an array, and "" otherwise.
func (l Lazy) String() string {
	if len(l) == 0 {
		return ""
	}
	switch l[0] {
	case '"':
		if bytes.IndexByte(l[1:], '\\') < 0 {
			return string(l[1 : len(l)-1])
		}
		var s string
		if json.Unmarshal(l, &s) != nil {
			return ""
		}
		return s
	case '[':
		return l.FirstElement().String()
	case '{', 'n':
		return ""
	}
	return string(l)
}

// Strings returns the strings of a JSON array, or of a single string.
func (l Lazy) Strings() []string {
	if len(l) == 0 || l[0] != '[' {
		if s := l.String(); s != "" {
			return []string{s}
		}
		return nil
	}
	var out []string
	_ = elements(l, func(el []byte, _ int, bad string) error {
		if bad == "" {
			if s := Lazy(el).String(); s != "" {
				out = append(out, s)
			}
		}
		return nil
	}, l)
	return out
}

// Member returns the member key of an object value.
func (l Lazy) Member(key string) Lazy { return Lazy(Member(l, key)) }

// FirstElement returns the first element of an array value, or nil.
func (l Lazy) FirstElement() Lazy {
	if len(l) == 0 || l[0] != '[' {
		return nil
	}
	i := skipSpaceAt(l, 1)
	end := skipValue(l, i)
	if end < 0 || end == i {
		return nil
	}
	return l[i:end]
}

// Object calls fn for every member of the JSON object obj, in order, with the
// key as written (escapes are not decoded) and the value. It does not validate
// the JSON (event.Normalize does): it only finds the members' bounds, and
// returns an error when obj is not an object or its members cannot be found.
func Object(obj []byte, fn func(key []byte, v Lazy) error) error {
	i := skipSpaceAt(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return fmt.Errorf("%s where an object was expected", describe(obj))
	}
	i = skipSpaceAt(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return nil
	}
	for {
		if i >= len(obj) || obj[i] != '"' {
			return errMalformed
		}
		kend := stringEnd(obj, i)
		if kend < 0 {
			return errMalformed
		}
		j := skipSpaceAt(obj, kend)
		if j >= len(obj) || obj[j] != ':' {
			return errMalformed
		}
		j = skipSpaceAt(obj, j+1)
		vend := skipValue(obj, j)
		if vend <= j {
			return errMalformed
		}
		if err := fn(obj[i+1:kend-1], Lazy(obj[j:vend])); err != nil {
			return err
		}
		i = skipSpaceAt(obj, vend)
		if i < len(obj) && obj[i] == '}' {
			return nil
		}
		if i >= len(obj) || obj[i] != ',' {
			return errMalformed
		}
		i = skipSpaceAt(obj, i+1)
	}
}

var errMalformed = errors.New("malformed JSON object")

// describe names the JSON type of a value for messages.
func describe(v []byte) string {
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "JSON object"
	case '[':
		return "JSON array"
	case '"':
		return "JSON string"
	case 't', 'f':
		return "JSON boolean"
	case 'n':
		return "JSON null"
	}
	return "JSON number"
}

// Str returns a string value ("" for null) or an error naming field when the
// value is of another type.
func (l Lazy) Str(field string) (string, error) {
	if l.IsNull() {
		return "", nil
	}
	if l[0] != '"' {
		return "", fmt.Errorf("field %s: %s where a string was expected", field, describe(l))
	}
	return l.String(), nil
}

// Each calls fn for every element of an array value; null has none.
func (l Lazy) Each(field string, fn func(el Lazy) error) error {
	if l.IsNull() {
		return nil
	}
	if l[0] != '[' {
		return fmt.Errorf("field %s: %s where an array was expected", field, describe(l))
	}
	return elements(l, func(el []byte, _ int, bad string) error {
		if bad != "" {
			return fmt.Errorf("field %s: %s", field, bad)
		}
		return fn(Lazy(el))
	}, l)
}
