package stage

import (
	"errors"
	"fmt"
	"os"
	"testing"
)

func TestOf(t *testing.T) {
	inner := &Error{Stage: Certificate, Err: errors.New("bad")}
	for _, tc := range []struct {
		err  error
		want Stage
	}{
		{inner, Certificate},
		{fmt.Errorf("probe: %w", inner), Certificate},
		{&Error{Stage: Negotiate, Err: inner}, Negotiate},
		{os.ErrDeadlineExceeded, Timeout},
		{errors.New("something"), Unknown},
	} {
		if got := Of(tc.err); got != tc.want {
			t.Errorf("Of(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
	if s := inner.Error(); s != "certificate: bad" {
		t.Errorf("Error() = %q", s)
	}
}
