package lab

import (
	"bufio"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

func TestReadRESP(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want any
		err  string // error text contains this; "" = no error
	}{
		{"+OK\r\n", "OK", ""},
		{"+\r\n", "", ""},
		{":-42\r\n", int64(-42), ""},
		{"$5\r\na\r\nbc\r\n", "a\r\nbc", ""},
		{"$0\r\n\r\n", "", ""},
		{"$-1\r\n", nil, ""},
		{"*-1\r\n", nil, ""},
		{"*0\r\n", []any{}, ""},
		{"*3\r\n+a\r\n:1\r\n*1\r\n$1\r\nb\r\n", []any{"a", int64(1), []any{"b"}}, ""},
		{"-OOM command not allowed\r\n", nil, "OOM command not allowed"},
		{"*2\r\n+a\r\n-ERR inner\r\n", nil, "ERR inner"},
		{"+OK\n", nil, "not ended by CRLF"},
		{"\r\n", nil, "empty line"},
		{"!3\r\nabc\r\n", nil, "type byte"},
		{":x\r\n", nil, "integer"},
		{"$-2\r\n", nil, "length"},
		{"$3\r\nabcd\r\n", nil, "not ended by CRLF"},
		{"$10\r\nabc", nil, "EOF"},
		{fmt.Sprintf("$%d\r\n", respMaxBulk+1), nil, "over"},
		{fmt.Sprintf("*%d\r\n", respMaxArray+1), nil, "over"},
		{strings.Repeat("*1\r\n", respMaxDepth+1) + "+x\r\n", nil, "nested"},
		{"+" + strings.Repeat("a", respMaxLine) + "\r\n", nil, "line over"},
		{"+OK", nil, "EOF"},
	} {
		got, err := readRESP(bufio.NewReaderSize(strings.NewReader(tc.in), 16), 0)
		switch {
		case tc.err == "" && (err != nil || !reflect.DeepEqual(got, tc.want)):
			t.Errorf("readRESP(%q) = %#v, %v; want %#v", tc.in, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("readRESP(%q) = %#v, %v; want an error with %q", tc.in, got, err, tc.want)
		}
	}
	var re RedisError
	if _, err := readRESP(bufio.NewReader(strings.NewReader("-NOAUTH Authentication required.\r\n")), 0); !errors.As(err, &re) || re.Prefix() != "NOAUTH" {
		t.Errorf("error reply: %v", err)
	}
}

// FuzzReadRESP: any bytes give a value or an error, never a panic, and a
// value only from a reply that ends in CRLF.
func FuzzReadRESP(f *testing.F) {
	for _, s := range []string{"+OK\r\n", ":1\r\n", "$3\r\nabc\r\n", "$-1\r\n", "*2\r\n+a\r\n*1\r\n:2\r\n", "-ERR x\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sr := strings.NewReader(string(b))
		r := bufio.NewReaderSize(sr, 16)
		v, err := readRESP(r, 0)
		if err == nil {
			used := len(b) - sr.Len() - r.Buffered()
			if used < 3 || string(b[used-2:used]) != "\r\n" {
				t.Fatalf("value %#v from %q, which does not end a reply in CRLF", v, b)
			}
		}
	})
}
