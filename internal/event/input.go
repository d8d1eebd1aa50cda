package event

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
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
// dropped silently from the audit record. Every event returned encodes within
// MaxEncodedSize.
func ParseBatch(r io.Reader, now time.Time) ([]Event, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	first, skipped, err := skipSpace(br)
	if err == io.EOF {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	var evs []Event
	if first == '[' {
		evs, err = parseArray(br, now, skipped)
	} else {
		evs, err = parseLines(br, now, skipped)
	}
	return evs, err
}

// skipSpace discards leading white space, however long, and returns the first
// other byte (left unread) and the number of lines skipped.
func skipSpace(br *bufio.Reader) (first byte, lines int, err error) {
	for {
		c, err := br.ReadByte()
		if err != nil {
			return 0, lines, err
		}
		switch c {
		case '\n':
			lines++
		case ' ', '\t', '\r':
		default:
			return c, lines, br.UnreadByte()
		}
	}
}

// check normalizes and validates e and makes sure that it encodes within
// MaxEncodedSize, so that the log will accept every event ParseBatch returns.
func check(e *Event, now time.Time) error {
	if err := e.Normalize(now); err != nil {
		return err
	}
	_, err := EncodeBody(e)
	return err
}

func parseArray(r io.Reader, now time.Time, skipped int) ([]Event, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	lineAt := func(off int) int { return 1 + skipped + bytes.Count(data[:min(off, len(data))], []byte{'\n'}) }
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if _, err := dec.Token(); err != nil { // '['
		return nil, &InputError{Line: lineAt(0), Index: 0, Err: fmt.Errorf("invalid JSON: %w", err)}
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
		if err := check(&e, now); err != nil {
			return nil, &InputError{Line: lineAt(start), Index: i, Err: err}
		}
		evs = append(evs, e)
	}
	if _, err := dec.Token(); err != nil { // ']'
		return nil, &InputError{Line: lineAt(int(dec.InputOffset())), Index: len(evs), Err: fmt.Errorf("invalid JSON: %w", err)}
	}
	// Anything but white space after the closing ] is an error (dec.More would
	// let a stray ] or } through).
	end := int(dec.InputOffset())
	if rest := bytes.TrimLeft(data[end:], " \t\r\n"); len(rest) > 0 {
		return nil, &InputError{Line: lineAt(len(data) - len(rest)), Index: len(evs), Err: errors.New("unexpected data after the closing ]")}
	}
	return evs, nil
}

func parseLines(r io.Reader, now time.Time, skipped int) ([]Event, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxEncodedSize+1024)
	var evs []Event
	line := skipped
	for sc.Scan() {
		if sc.Err() != nil {
			// Reading failed (a body over its size limit, a broken connection):
			// the last line is cut short; report the read error, below.
			break
		}
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
		if err := check(&e, now); err != nil {
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
		if te.Field == "" {
			return fmt.Errorf("an event must be a JSON object, not JSON %s", te.Value)
		}
		return fieldErr(te.Field, "must be %s, not JSON %s", te.Type.String(), te.Value)
	}
	// time.Time's UnmarshalJSON reports neither the field nor a json error type;
	// Event has one time.Time field, time.
	var pe *time.ParseError
	if errors.As(err, &pe) {
		return fieldErr("time", "must be an RFC 3339 time (got %q)%s", clip(pe.Value), pe.Message)
	}
	if strings.HasPrefix(err.Error(), "Time.UnmarshalJSON: ") {
		return fieldErr("time", "must be an RFC 3339 time string")
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON at byte %d: %v", se.Offset, se)
	}
	// "json: unknown field \"x\""
	return fmt.Errorf("%s", bytes.TrimPrefix([]byte(err.Error()), []byte("json: ")))
}
