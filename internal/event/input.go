package event

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// InputError says which record of a batch is bad and why. Line is 1-based and
// counts lines of the input; Index is the record's 0-based position in the batch.
type InputError struct {
	Line  int
	Index int
	Err   error
}

func (e *InputError) Error() string {
	return fmt.Sprintf("line %d (record %d): %v", e.Line, e.Index+1, e.Err)
}

func (e *InputError) Unwrap() error { return e.Err }

// ParseBatch reads events from a JSON array or from JSON lines, normalizes and
// validates every one, and returns them all, or the first problem as an
// *InputError. Unknown fields are errors: a misspelt field would otherwise be
// dropped silently from the audit record.
func ParseBatch(r io.Reader, now time.Time) ([]Event, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	first, err := firstNonSpace(br)
	if err == io.EOF {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	var evs []Event
	if first == '[' {
		evs, err = parseArray(br, now)
	} else {
		evs, err = parseLines(br, now)
	}
	return evs, err
}

func firstNonSpace(br *bufio.Reader) (byte, error) {
	for i := 0; ; i++ {
		b, err := br.Peek(i + 1)
		if err != nil {
			return 0, err
		}
		switch c := b[i]; c {
		case ' ', '\t', '\r', '\n':
		default:
			return c, nil
		}
	}
}

func parseArray(r io.Reader, now time.Time) ([]Event, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	lineAt := func(off int) int { return 1 + bytes.Count(data[:min(off, len(data))], []byte{'\n'}) }
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if _, err := dec.Token(); err != nil { // '['
		return nil, &InputError{Line: 1, Index: 0, Err: fmt.Errorf("invalid JSON: %w", err)}
	}
	var evs []Event
	for i := 0; dec.More(); i++ {
		start := int(dec.InputOffset())
		for start < len(data) && bytes.IndexByte([]byte(" \t\r\n,"), data[start]) >= 0 {
			start++
		}
		var e Event
		if err := dec.Decode(&e); err != nil {
			return nil, &InputError{Line: lineAt(start), Index: i, Err: describeJSON(err)}
		}
		if err := e.Normalize(now); err != nil {
			return nil, &InputError{Line: lineAt(start), Index: i, Err: err}
		}
		evs = append(evs, e)
	}
	if _, err := dec.Token(); err != nil { // ']'
		return nil, &InputError{Line: lineAt(int(dec.InputOffset())), Index: len(evs), Err: fmt.Errorf("invalid JSON: %w", err)}
	}
	if dec.More() {
		return nil, &InputError{Line: lineAt(int(dec.InputOffset())), Index: len(evs), Err: errors.New("unexpected data after the closing ]")}
	}
	return evs, nil
}

func parseLines(r io.Reader, now time.Time) ([]Event, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxEncodedSize+1024)
	var evs []Event
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var e Event
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			return nil, &InputError{Line: line, Index: len(evs), Err: describeJSON(err)}
		}
		if dec.More() {
			return nil, &InputError{Line: line, Index: len(evs), Err: errors.New("more than one JSON value on the line")}
		}
		if err := e.Normalize(now); err != nil {
			return nil, &InputError{Line: line, Index: len(evs), Err: err}
		}
		evs = append(evs, e)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &InputError{Line: line + 1, Index: len(evs), Err: fmt.Errorf("line is longer than %d bytes", MaxEncodedSize)}
		}
		return nil, fmt.Errorf("read events: %w", err)
	}
	return evs, nil
}

// describeJSON turns decoder errors into messages that name the field.
func describeJSON(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fieldErr(te.Field, "must be %s, not JSON %s", te.Type.String(), te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON at byte %d: %v", se.Offset, se)
	}
	// "json: unknown field \"x\""
	return fmt.Errorf("%s", bytes.TrimPrefix([]byte(err.Error()), []byte("json: ")))
}
