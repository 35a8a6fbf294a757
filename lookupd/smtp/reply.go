package smtp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Limits on what ReadReply accepts. RFC 5321 section 4.5.3.1.5 allows 512
// octets per reply line; real servers send longer ones, so the cap is generous
// but finite.
const (
	MaxLineLength = 4096 // octets in one reply line, not counting CRLF
	MaxLines      = 100  // lines in one (multi-line) reply
)

var (
	// ErrMalformedReply: a line is not "NNN", "NNN text" or "NNN-text", or
	// the lines of one reply disagree on the code.
	ErrMalformedReply = errors.New("malformed reply")
	// ErrLineTooLong: a reply line is longer than MaxLineLength.
	ErrLineTooLong = errors.New("reply line too long")
	// ErrTooManyLines: a reply has more than MaxLines lines.
	ErrTooManyLines = errors.New("too many reply lines")
)

// Reply is one SMTP reply (RFC 5321 section 4.2).
type Reply struct {
	Code  int      // 200..599
	Lines []string // text of each line after the code and its separator, without CRLF
}

// ReadReply reads one reply from r: lines "NNN-text" followed by a last line
// "NNN text" (or a bare "NNN"). Lines end in CRLF; a bare LF is accepted too.
// It reads at most MaxLines lines of at most MaxLineLength octets each, so its
// memory use is bounded whatever the server sends. The first digit of the code
// must be 2 to 5 and every line must carry the same code.
//
// Errors: ErrLineTooLong, ErrTooManyLines, ErrMalformedReply (all wrapped),
// io.EOF when the stream ends before the reply starts, io.ErrUnexpectedEOF when
// it ends inside a reply, or the reader's own error.
func ReadReply(r *bufio.Reader) (Reply, error) {
	var rep Reply
	for n := 0; ; n++ {
		if n == MaxLines {
			return Reply{}, fmt.Errorf("read reply: %w (more than %d)", ErrTooManyLines, MaxLines)
		}
		line, err := readLine(r)
		if err != nil {
			if n > 0 && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			if err == io.EOF {
				return Reply{}, io.EOF
			}
			return Reply{}, fmt.Errorf("read reply: %w", err)
		}
		code, more, text, err := parseLine(line)
		if err != nil {
			return Reply{}, fmt.Errorf("read reply: %w", err)
		}
		if n == 0 {
			rep.Code = code
		} else if code != rep.Code {
			return Reply{}, fmt.Errorf("read reply: %w: code %d on a continuation of %d", ErrMalformedReply, code, rep.Code)
		}
		rep.Lines = append(rep.Lines, text)
		if !more {
			return rep, nil
		}
	}
}

// readLine returns one line without its LF and without one CR before it. It
// never holds more than MaxLineLength+2 octets, whatever r's buffer size.
func readLine(r *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		if len(line)+len(frag) > MaxLineLength+2 {
			return nil, fmt.Errorf("%w (over %d octets)", ErrLineTooLong, MaxLineLength)
		}
		line = append(line, frag...)
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			if err == io.EOF && len(line) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	line = line[:len(line)-1]
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if len(line) > MaxLineLength {
		return nil, fmt.Errorf("%w (over %d octets)", ErrLineTooLong, MaxLineLength)
	}
	return line, nil
}

// parseLine splits "NNN[ SP text | - text]" into the code, whether more lines
// follow, and the text.
func parseLine(line []byte) (code int, more bool, text string, err error) {
	if len(line) < 3 || line[0] < '2' || line[0] > '5' || !isDigit(line[1]) || !isDigit(line[2]) {
		return 0, false, "", fmt.Errorf("%w: no reply code in %q", ErrMalformedReply, clip(line))
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	if len(line) == 3 {
		return code, false, "", nil
	}
	switch line[3] {
	case ' ':
		more = false
	case '-':
		more = true
	default:
		return 0, false, "", fmt.Errorf("%w: bad separator in %q", ErrMalformedReply, clip(line))
	}
	return code, more, string(line[4:]), nil
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// clip shortens untrusted text quoted in an error message.
func clip(b []byte) []byte {
	const max = 64
	if len(b) > max {
		return b[:max]
	}
	return b
}
