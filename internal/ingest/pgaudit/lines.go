package pgaudit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/vigil-audit/vigil/internal/event"
)

// maxRecord bounds one log record: the log stores at most 1 MiB per event,
// raw record included.
const maxRecord = event.MaxEncodedSize - 64<<10

// lineReader reads lines, counting them and their byte offsets. A line longer
// than maxRecord is returned cut, with long set, and the rest of it is
// discarded.
type lineReader struct {
	r    *bufio.Reader
	line int   // number of the line last returned (1-based)
	off  int64 // offset of the next line
	buf  []byte
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// next returns the next line without its line terminator, its number and
// offset. It returns io.EOF at the end of the input.
func (l *lineReader) next() (data []byte, line int, off int64, long bool, err error) {
	l.buf = l.buf[:0]
	start := l.off
	for {
		chunk, rerr := l.r.ReadSlice('\n')
		l.off += int64(len(chunk))
		if len(l.buf)+len(chunk) <= maxRecord+2 {
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
