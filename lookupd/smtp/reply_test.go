package smtp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadReply(t *testing.T) {
	long := strings.Repeat("x", MaxLineLength-4)
	tests := []struct {
		name string
		in   string
		want Reply
		err  error // nil: want must match
	}{
		{"single", "220 mx.example ESMTP\r\n", Reply{220, []string{"mx.example ESMTP"}}, nil},
		{"code only", "220\r\n", Reply{220, []string{""}}, nil},
		{"empty text", "250 \r\n", Reply{250, []string{""}}, nil},
		{"multi", "250-a\r\n250-B c\r\n250 d\r\n", Reply{250, []string{"a", "B c", "d"}}, nil},
		{"bare LF", "250-a\n250 b\n", Reply{250, []string{"a", "b"}}, nil},
		{"mixed ends", "250-a\r\n250 b\n", Reply{250, []string{"a", "b"}}, nil},
		{"one CR stripped", "250 a\r\r\n", Reply{250, []string{"a\r"}}, nil},
		{"continuation code only", "250-\r\n250 x\r\n", Reply{250, []string{"", "x"}}, nil},
		{"max line", "220 " + long + "\r\n", Reply{220, []string{long}}, nil},
		{"max line bare LF", "220 " + long + "\n", Reply{220, []string{long}}, nil},
		{"rest stays", "220 a\r\n250 b\r\n", Reply{220, []string{"a"}}, nil},
		{"line too long", "220 " + long + "y\r\n", Reply{}, ErrLineTooLong},
		{"line too long bare LF", "220 " + long + "y\n", Reply{}, ErrLineTooLong},
		{"1 MB line", "220 " + strings.Repeat("a", 1<<20) + "\r\n", Reply{}, ErrLineTooLong},
		{"codes differ", "250-a\r\n251 b\r\n", Reply{}, ErrMalformedReply},
		{"bad separator", "220_x\r\n", Reply{}, ErrMalformedReply},
		{"tab separator", "220\tx\r\n", Reply{}, ErrMalformedReply},
		{"short", "22\r\n", Reply{}, ErrMalformedReply},
		{"empty line", "\r\n", Reply{}, ErrMalformedReply},
		{"letters", "abc def\r\n", Reply{}, ErrMalformedReply},
		{"1xx", "120 wait\r\n", Reply{}, ErrMalformedReply},
		{"6xx", "600 x\r\n", Reply{}, ErrMalformedReply},
		{"TLS bytes", "\x16\x03\x01\x00\x05hello\n", Reply{}, ErrMalformedReply},
		{"EOF first", "", Reply{}, io.EOF},
		{"EOF mid line", "220 mx", Reply{}, io.ErrUnexpectedEOF},
		{"EOF mid reply", "250-a\r\n", Reply{}, io.ErrUnexpectedEOF},
		{"CR only ends", "220 a\r", Reply{}, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A 16-octet buffer forces lines to be assembled from pieces.
			for _, size := range []int{16, 4096} {
				got, err := ReadReply(bufio.NewReaderSize(strings.NewReader(tt.in), size))
				if tt.err != nil {
					if !errors.Is(err, tt.err) {
						t.Fatalf("size %d: err = %v, want %v", size, err, tt.err)
					}
					continue
				}
				if err != nil || !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("size %d: got %#v, %v; want %#v", size, got, err, tt.want)
				}
			}
		})
	}
}

func TestReadReplyLineCount(t *testing.T) {
	lines := func(n int) string {
		return strings.Repeat("250-x\r\n", n-1) + "250 end\r\n"
	}
	got, err := ReadReply(bufio.NewReader(strings.NewReader(lines(MaxLines))))
	if err != nil || len(got.Lines) != MaxLines {
		t.Fatalf("%d lines: got %d lines, %v", MaxLines, len(got.Lines), err)
	}
	for _, n := range []int{MaxLines + 1, 1000} {
		if _, err := ReadReply(bufio.NewReader(strings.NewReader(lines(n)))); !errors.Is(err, ErrTooManyLines) {
			t.Fatalf("%d lines: err = %v, want ErrTooManyLines", n, err)
		}
	}
}

// endless yields "250-x\r\n" forever and counts what was read from it.
type endless struct{ n int }

func (e *endless) Read(p []byte) (int, error) {
	const line = "250-continuation\r\n"
	for i := range p {
		p[i] = line[(e.n+i)%len(line)]
	}
	e.n += len(p)
	return len(p), nil
}

func TestReadReplyEndlessIsBounded(t *testing.T) {
	src := &endless{}
	_, err := ReadReply(bufio.NewReader(src))
	if !errors.Is(err, ErrTooManyLines) {
		t.Fatalf("err = %v, want ErrTooManyLines", err)
	}
	if src.n > (MaxLines+1)*(MaxLineLength+2) {
		t.Fatalf("read %d octets for one reply", src.n)
	}
}

func TestReadReplyEximCaptures(t *testing.T) {
	want := map[string][]Reply{
		"exim-banner.txt": {
			{220, []string{"mx.test.example ESMTP Exim 4.96", "no UCE", "last line"}},
			{250, []string{"mx.test.example Hello probe.example [192.0.2.1]", "SIZE 52428800", "8BITMIME", "PIPELINING", "PIPECONNECT", "CHUNKING", "SMTPUTF8", "HELP"}},
			{503, []string{"STARTTLS command used when not advertised"}},
			{221, []string{"mx.test.example closing connection"}},
		},
		"exim-defer.txt":  {{451, []string{"4.3.2 Try again later", "Too many connections"}}},
		"exim-reject.txt": {{550, []string{"5.7.1 Service unavailable; client [192.0.2.1] blocked"}}},
	}
	for name, w := range want {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(bytes.NewReader(data))
		for i, wr := range w {
			got, err := ReadReply(r)
			if err != nil || !reflect.DeepEqual(got, wr) {
				t.Fatalf("%s reply %d: got %#v, %v; want %#v", name, i, got, err, wr)
			}
		}
		if _, err := ReadReply(r); err != io.EOF {
			t.Fatalf("%s: after the last reply: %v, want io.EOF", name, err)
		}
	}
}

// FuzzReadReply checks that ReadReply never panics, keeps its bounds, and
// that what it accepts means the same when written back.
func FuzzReadReply(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if len(files) == 0 {
		f.Fatal("no seed captures in testdata")
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{"220\n", "250-a\n250 b\r\n", "250-a\r\n251 b\r\n", "220 " + strings.Repeat("x", MaxLineLength) + "\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, size := range []int{16, 4096} {
			r := bufio.NewReaderSize(bytes.NewReader(data), size)
			for range 8 {
				rep, err := ReadReply(r)
				if err != nil {
					break
				}
				if rep.Code < 200 || rep.Code > 599 || len(rep.Lines) == 0 || len(rep.Lines) > MaxLines {
					t.Fatalf("out of bounds: %d, %d lines", rep.Code, len(rep.Lines))
				}
				var b bytes.Buffer
				for i, l := range rep.Lines {
					if len(l) > MaxLineLength || strings.Contains(l, "\n") {
						t.Fatalf("bad line %q", l)
					}
					sep := " "
					if i < len(rep.Lines)-1 {
						sep = "-"
					}
					fmt.Fprintf(&b, "%d%s%s\r\n", rep.Code, sep, l)
				}
				again, err := ReadReply(bufio.NewReader(&b))
				if err != nil || !reflect.DeepEqual(again, rep) {
					t.Fatalf("round trip: %#v -> %#v, %v", rep, again, err)
				}
			}
		}
	})
}
