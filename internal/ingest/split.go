package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// maxValue bounds one top-level JSON value (a record, or a whole container
// such as a CloudTrail log file); elements of a top-level array are streamed.
const maxValue = 256 << 20

// token is one top-level JSON value, one element of a top-level array, or a
// stretch of input that cannot be one (bad says why).
type token struct {
	data    []byte
	line    int
	off     int64
	element bool
	bad     string
}

// splitter cuts a stream into JSON values without decoding them. It tracks
// strings and nesting only; the values are validated when decoded. In a stream
// of JSON lines, a line that ends inside a value is reported and the next line
// is read afresh, so one truncated line does not swallow the ones after it.
type splitter struct {
	r       io.Reader
	buf     []byte
	p, w    int // unread data is buf[p:w]
	eof     bool
	err     error
	line    int
	off     int64
	inArr   bool // inside a top-level array
	needSep bool // inside a top-level array, after an element
	lines   bool // the stream looks like JSON lines
	seen    bool // a top-level value has been read
}

func newSplitter(r io.Reader) *splitter {
	return &splitter{r: r, buf: make([]byte, 64<<10), line: 1}
}

// fill reads more input, keeping buf[p:w]; it reports false at the end of the
// input or on a read error (kept in s.err).
func (s *splitter) fill() bool {
	if s.eof {
		return false
	}
	if s.p > 0 {
		copy(s.buf, s.buf[s.p:s.w])
		s.w -= s.p
		s.p = 0
	}
	if s.w == len(s.buf) {
		if len(s.buf) >= maxValue {
			s.eof, s.err = true, fmt.Errorf("a JSON value is larger than %d MiB", maxValue>>20)
			return false
		}
		nb := make([]byte, 2*len(s.buf))
		copy(nb, s.buf[:s.w])
		s.buf = nb
	}
	for range 100 {
		n, err := s.r.Read(s.buf[s.w:])
		s.w += n
		if err != nil {
			s.eof = true
			if !errors.Is(err, io.EOF) {
				s.err = err
			}
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
	s.eof, s.err = true, io.ErrNoProgress
	return false
}

func (s *splitter) advance(n int) {
	s.line += bytes.Count(s.buf[s.p:s.p+n], []byte{'\n'})
	s.off += int64(n)
	s.p += n
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// skipSpace skips white space (and a UTF-8 byte order mark at the start) and
// reports whether a byte follows.
func (s *splitter) skipSpace() bool {
	for {
		for s.p < s.w {
			c := s.buf[s.p]
			switch {
			case isSpace(c):
				if c == '\n' {
					s.line++
				}
				s.p++
				s.off++
				continue
			case s.off == 0 && bytes.HasPrefix(s.buf[s.p:s.w], []byte("\xef\xbb\xbf")):
				s.advance(3)
				continue
			}
			return true
		}
		if !s.fill() {
			return false
		}
	}
}

func (s *splitter) next() (token, error) {
	for {
		if !s.skipSpace() {
			if s.err != nil {
				return token{}, s.err
			}
			if s.inArr {
				s.inArr = false
				return token{line: s.line, off: s.off, bad: "input ends inside a JSON array"}, nil
			}
			return token{}, io.EOF
		}
		c := s.buf[s.p]
		if s.inArr {
			if s.needSep || c == ']' {
				switch c {
				case ',':
					s.advance(1)
					s.needSep = false
					continue
				case ']':
					s.advance(1)
					s.inArr, s.needSep = false, false
					continue
				}
				s.inArr, s.needSep = false, false
				return token{line: s.line, off: s.off, bad: fmt.Sprintf("expected ',' or ']' after an array element, found %q", c)}, nil
			}
			tok := s.value(true)
			tok.element = true
			s.needSep = true
			return tok, nil
		}
		if c == '[' {
			s.advance(1)
			s.inArr = true
			s.seen = true
			continue
		}
		tok := s.value(false)
		if !s.seen {
			s.seen = true
			s.lines = tok.bad == "" && bytes.IndexByte(tok.data, '\n') < 0
		}
		return tok, nil
	}
}

// value reads the value at buf[p]. A top-level scalar or garbage runs to the
// end of its line.
func (s *splitter) value(element bool) token {
	tok := token{line: s.line, off: s.off}
	c := s.buf[s.p]
	if c != '{' && c != '[' && (!element || c != '"') {
		i := s.p
		for {
			for ; i < s.w; i++ {
				b := s.buf[i]
				if b == '\n' || element && (isSpace(b) || b == ',' || b == ']' || b == '}') {
					break
				}
			}
			if i < s.w || !s.more(&i) {
				break
			}
		}
		tok.data = s.buf[s.p:i]
		s.advance(i - s.p)
		return tok
	}
	depth := 0
	i := s.p
	firstNL := -1
	for {
		if i >= s.w {
			if !s.more(&i) {
				break
			}
			continue
		}
		switch s.buf[i] {
		case '"':
			// Jump to the closing quote: strings are most of the bytes.
			j, open := i+1, i
			for {
				k := bytes.IndexByte(s.buf[j:s.w], '"')
				end := s.w
				if k >= 0 {
					end = j + k
				}
				if nl := bytes.IndexByte(s.buf[j:end], '\n'); nl >= 0 {
					return s.cut(tok, j+nl, "line ends inside a JSON string")
				}
				if k < 0 {
					j = s.w
					rel := open - s.p
					if !s.more(&j) {
						return s.cut(tok, s.w, "input ends inside a JSON string")
					}
					open = s.p + rel
					continue
				}
				j = end
				n := 0
				for q := j - 1; q > open && s.buf[q] == '\\'; q-- {
					n++
				}
				if n%2 == 0 {
					break
				}
				j++
			}
			i = j + 1
			if depth == 0 { // a string element
				tok.data = s.buf[s.p:i]
				s.advance(i - s.p)
				return tok
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				tok.data = s.buf[s.p : i+1]
				s.advance(i + 1 - s.p)
				return tok
			}
		case '\n':
			if s.lines && !element {
				return s.cut(tok, i, "line ends before the JSON value does")
			}
			if firstNL < 0 {
				firstNL = i - s.p
			}
		}
		i++
	}
	if firstNL >= 0 && !element {
		// Probably a truncated line: report it and go on with the next one.
		return s.cut(tok, s.p+firstNL, "line ends before the JSON value does")
	}
	return s.cut(tok, s.w, "input ends before the JSON value does")
}

// more reads more input, keeping *i pointing at the same byte.
func (s *splitter) more(i *int) bool {
	rel := *i - s.p
	ok := s.fill()
	*i = s.p + rel
	return ok
}

func (s *splitter) cut(tok token, end int, why string) token {
	tok.bad = why
	s.advance(end - s.p)
	return tok
}

// skipValue returns the end of the JSON value starting at b[i] in a complete
// buffer, or -1 if it does not end.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				if i = stringEnd(b, i); i < 0 {
					return -1
				}
				i--
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	case '"':
		return stringEnd(b, i)
	}
	for ; i < len(b); i++ {
		if c := b[i]; isSpace(c) || c == ',' || c == ']' || c == '}' {
			break
		}
	}
	return i
}

// stringEnd returns the index after the closing quote of the string opening at
// b[i], or -1.
func stringEnd(b []byte, i int) int {
	j := i + 1
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return -1
		}
		j += k
		n := 0
		for q := j - 1; q > i && b[q] == '\\'; q-- {
			n++
		}
		if n%2 == 0 {
			return j + 1
		}
		j++
	}
}

func skipSpaceAt(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// Member returns the raw value of the top-level member key of the JSON object
// obj, or nil if obj has no such member or is not an object. Keys are compared
// as written, so a key spelt with escapes does not match.
func Member(obj []byte, key string) []byte {
	i := skipSpaceAt(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil
	}
	i++
	for {
		i = skipSpaceAt(obj, i)
		if i >= len(obj) || obj[i] != '"' {
			return nil
		}
		kend := skipValue(obj, i)
		if kend < 0 {
			return nil
		}
		k := obj[i+1 : kend-1]
		i = skipSpaceAt(obj, kend)
		if i >= len(obj) || obj[i] != ':' {
			return nil
		}
		i = skipSpaceAt(obj, i+1)
		vend := skipValue(obj, i)
		if vend < 0 || vend == i {
			return nil
		}
		if string(k) == key {
			return obj[i:vend]
		}
		i = skipSpaceAt(obj, vend)
		if i >= len(obj) || obj[i] != ',' {
			return nil
		}
		i++
	}
}

// elements calls fn for every element of the JSON array arr, a sub-slice of
// base; rel is the element's offset in base. A malformed array ends with one
// call carrying bad.
func elements(arr []byte, fn func(el []byte, rel int, bad string) error, base []byte) error {
	start := cap(base) - cap(arr)
	i := skipSpaceAt(arr, 1)
	if i < len(arr) && arr[i] == ']' {
		return nil
	}
	for {
		i = skipSpaceAt(arr, i)
		end := skipValue(arr, i)
		if end < 0 || end == i {
			return fn(nil, start+i, "malformed JSON array of records")
		}
		if err := fn(arr[i:end], start+i, ""); err != nil {
			return err
		}
		i = skipSpaceAt(arr, end)
		if i >= len(arr) {
			return fn(nil, start+i, "malformed JSON array of records")
		}
		switch arr[i] {
		case ']':
			return nil
		case ',':
			i++
		default:
			return fn(nil, start+i, fmt.Sprintf("expected ',' or ']' after an array element, found %q", arr[i]))
		}
	}
}
