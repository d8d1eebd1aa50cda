package ingest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/vigil-audit/vigil/internal/event"
)

// MaxRecord bounds one log record: the log stores at most 1 MiB per event,
// raw record included.
const MaxRecord = event.MaxEncodedSize - 64<<10

// LineReader reads lines, counting them and their byte offsets. A line longer
// than MaxRecord is returned cut, with long set, and the rest of it is
// discarded.
type LineReader struct {
	r    *bufio.Reader
	line int   // number of the line last returned (1-based)
	off  int64 // offset of the next line
	buf  []byte
}

// NewLineReader returns a LineReader over r.
func NewLineReader(r io.Reader) *LineReader {
	return &LineReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// Next returns the next line without its line terminator, its number and
// offset. It returns io.EOF at the end of the input.
func (l *LineReader) Next() (data []byte, line int, off int64, long bool, err error) {
	l.buf = l.buf[:0]
	start := l.off
	for {
		chunk, rerr := l.r.ReadSlice('\n')
		l.off += int64(len(chunk))
		if len(l.buf)+len(chunk) <= MaxRecord+2 {
			l.buf = append(l.buf, chunk...)
		} else {
			long = true
		}
		if errors.Is(rerr, bufio.ErrBufferFull) {
			continue
		}
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			return nil, 0, 0, false, fmt.Errorf("read: %w", rerr)
		}
		if rerr != nil && len(l.buf) == 0 && !long {
			return nil, 0, 0, false, io.EOF
		}
		break
	}
	l.line++
	data = bytes.TrimSuffix(l.buf, []byte{'\n'})
	data = bytes.TrimSuffix(data, []byte{'\r'})
	return data, l.line, start, long, nil
}
