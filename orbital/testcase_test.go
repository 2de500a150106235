package orbital_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/orbital"
	"github.com/segmentio/stats/v4"
)

func noop(context.Context, *orbital.O) {}

func TestRegisterValidation(t *testing.T) {
	tests := []struct {
		name    string
		tc      orbital.TestCase
		wantErr bool
	}{
		{"valid", orbital.TestCase{Name: "http.track.v2_ok-1", Period: time.Second, Func: noop}, false},
		{"valid with timeout", orbital.TestCase{Name: "t", Period: time.Second, Timeout: time.Minute, Func: noop}, false},
		{"empty name", orbital.TestCase{Name: "", Period: time.Second, Func: noop}, true},
		{"space in name", orbital.TestCase{Name: "a b", Period: time.Second, Func: noop}, true},
		{"colon in name", orbital.TestCase{Name: "a:b", Period: time.Second, Func: noop}, true},
		{"quote in name", orbital.TestCase{Name: `a"b`, Period: time.Second, Func: noop}, true},
		{"non-ASCII name", orbital.TestCase{Name: "café", Period: time.Second, Func: noop}, true},
		{"zero period (gate-only)", orbital.TestCase{Name: "p0", Func: noop}, false},
		{"slash in name (the subtest separator)", orbital.TestCase{Name: "a/b", Period: time.Second, Func: noop}, true},
		{"negative period", orbital.TestCase{Name: "pn", Period: -time.Second, Func: noop}, true},
		{"negative timeout", orbital.TestCase{Name: "tn", Period: time.Second, Timeout: -1, Func: noop}, true},
		{"nil func", orbital.TestCase{Name: "nf", Period: time.Second}, true},
		{"tags", orbital.TestCase{Name: "tg", Period: time.Second, Func: noop, Tags: []stats.Tag{stats.T("team", "a"), stats.T("tier", "1")}}, false},
		{"tag named case", orbital.TestCase{Name: "tc", Period: time.Second, Func: noop, Tags: []stats.Tag{stats.T("case", "other")}}, true},
		{"tag named outcome", orbital.TestCase{Name: "to", Period: time.Second, Func: noop, Tags: []stats.Tag{stats.T("outcome", "pass")}}, true},
		{"tag with empty name", orbital.TestCase{Name: "te", Period: time.Second, Func: noop, Tags: []stats.Tag{stats.T("", "x")}}, true},
		{"tag given twice", orbital.TestCase{Name: "td", Period: time.Second, Func: noop, Tags: []stats.Tag{stats.T("team", "a"), stats.T("team", "b")}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := orbital.New().Register(tt.tc)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Register() error = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, orbital.ErrInvalidCase) {
				t.Errorf("error %v does not wrap ErrInvalidCase", err)
			}
		})
	}
}

func TestRegisterDuplicate(t *testing.T) {
	svc := orbital.New()
	tc := orbital.TestCase{Name: "dup", Period: time.Second, Func: noop}
	if err := svc.Register(tc); err != nil {
		t.Fatal(err)
	}
	err := svc.Register(tc)
	if !errors.Is(err, orbital.ErrInvalidCase) {
		t.Fatalf("second Register error = %v, want ErrInvalidCase", err)
	}
	if got := len(svc.Cases()); got != 1 {
		t.Errorf("Cases() has %d cases, want 1", got)
	}
}

func TestCasesSortedCopies(t *testing.T) {
	svc := orbital.New()
	for _, name := range []string{"c", "a", "b"} {
		tc := orbital.TestCase{Name: name, Period: time.Minute, Func: noop, Tags: []stats.Tag{stats.T("team", "x")}}
		if err := svc.Register(tc); err != nil {
			t.Fatal(err)
		}
	}
	cases := svc.Cases()
	var names []string
	for _, c := range cases {
		names = append(names, c.Name)
	}
	if !slices.Equal(names, []string{"a", "b", "c"}) {
		t.Fatalf("Cases() names = %v, want [a b c]", names)
	}
	cases[0].Tags[0] = stats.T("team", "changed")
	if got := svc.Cases()[0].Tags[0]; got != stats.T("team", "x") {
		t.Errorf("Cases() exposed internal tags: got %v after modifying the copy", got)
	}
}
