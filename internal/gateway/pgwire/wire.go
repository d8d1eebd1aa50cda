package pgwire

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/oklog/ulid/v2"
)

// Startup request codes (the int32 after the length of an untyped message).
const (
	codeSSLRequest    = 80877103
	codeCancelRequest = 80877102
	codeGSSEncRequest = 80877104
)

// Message size limits. A startup packet is small; a regular message (a
// DataRow, a CopyData) may legitimately be large.
const (
	maxStartupLen = 10000
	maxMessageLen = 1 << 30
)

// msgReader reads typed protocol messages whole, reusing one buffer: the
// bytes returned are valid only until the next call.
type msgReader struct {
	r   *bufio.Reader
	buf []byte
	max int
}

func newMsgReader(r io.Reader, max int) *msgReader {
	return &msgReader{r: bufio.NewReaderSize(r, 32<<10), max: max}
}

// next returns the message's type, its body (without type and length) and
// the whole message as it came over the wire. A message that fits in the
// read buffer is returned in place, without a copy.
func (m *msgReader) next() (typ byte, body, raw []byte, err error) {
	hdr, err := m.r.Peek(5)
	if err != nil {
		if len(hdr) > 0 && errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, nil, err
	}
	n := int(binary.BigEndian.Uint32(hdr[1:]))
	if n < 4 || n-4 > m.max {
		return 0, nil, nil, fmt.Errorf("invalid message length %d for type %q", n, hdr[0])
	}
	total := 1 + n
	if total <= m.r.Size() {
		raw, err := m.r.Peek(total)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, nil, nil, err
		}
		m.r.Discard(total)
		return raw[0], raw[5:], raw, nil
	}
	if cap(m.buf) < total {
		m.buf = make([]byte, total)
	}
	m.buf = m.buf[:total]
	if _, err := io.ReadFull(m.r, m.buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, nil, err
	}
	// Do not keep a huge buffer alive after one large message.
	raw = m.buf
	if cap(m.buf) > 1<<20 {
		m.buf = nil
	}
	return raw[0], raw[5:], raw, nil
}

// buffered reports whether more input is already waiting: the caller may
// delay flushing its output until it is not.
func (m *msgReader) buffered() bool { return m.r.Buffered() > 0 }

// readStartup reads an untyped startup-phase message (length, then body).
func readStartup(r io.Reader) (code uint32, body []byte, err error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := int(binary.BigEndian.Uint32(hdr[:]))
	if n < 8 || n > maxStartupLen {
		return 0, nil, fmt.Errorf("invalid startup packet length %d", n)
	}
	body = make([]byte, n-4)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, err
	}
	return binary.BigEndian.Uint32(body), body, nil
}

// cstring returns the NUL-terminated string at the start of b and the rest.
func cstring(b []byte) (string, []byte, bool) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return "", nil, false
	}
	return string(b[:i]), b[i+1:], true
}

// encode returns the wire bytes of a backend message.
func encode(msg pgproto3.BackendMessage) []byte {
	b, err := msg.Encode(nil)
	if err != nil {
		// Only oversized messages fail to encode; ours are small.
		panic(fmt.Sprintf("pgwire: encode %T: %v", msg, err))
	}
	return b
}

// errorMsg is an ErrorResponse of the given severity (ERROR or FATAL).
func errorMsg(severity, code, msg, detail string) []byte {
	return encode(&pgproto3.ErrorResponse{
		Severity: severity, SeverityUnlocalized: severity,
		Code: code, Message: msg, Detail: detail,
	})
}

// errorHint is an ERROR with a hint telling the client what to do next.
func errorHint(code, msg, hint string) []byte {
	return encode(&pgproto3.ErrorResponse{
		Severity: "ERROR", SeverityUnlocalized: "ERROR",
		Code: code, Message: msg, Hint: hint,
	})
}

// readyForQuery is a ReadyForQuery with the given transaction status.
func readyForQuery(status byte) []byte {
	return encode(&pgproto3.ReadyForQuery{TxStatus: status})
}

// rowsFromTag parses the row count of a command tag ("INSERT 0 5",
// "UPDATE 3", "SELECT 10", "COPY 2"); -1 when the tag carries none.
func rowsFromTag(tag string) int64 {
	i := strings.LastIndexByte(tag, ' ')
	if i < 0 {
		return -1
	}
	n, err := strconv.ParseInt(tag[i+1:], 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// newID returns a fresh event ID (a ULID).
func newID() string { return ulid.Make().String() }
