package config_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orbital-e2e/orbital/internal/config"
	"github.com/orbital-e2e/orbital/orbital"
)

func TestDurationMapSet(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{in: "track=30s", want: "track=30s"},
		{in: "track=30s,batch=1m", want: "batch=1m0s,track=30s"},
		{in: " track = 30s , ", want: "track=30s"},
		{in: "track", wantErr: true},
		{in: "=30s", wantErr: true},
		{in: "track=soon", wantErr: true},
		{in: "track=-1s", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			m := config.DurationMap{}
			err := m.Set(tt.in)
			if tt.wantErr {
				if !errors.Is(err, config.ErrInvalid) {
					t.Fatalf("Set(%q) error = %v, want ErrInvalid", tt.in, err)
				}
				return
			}
			if err != nil || m.String() != tt.want {
				t.Fatalf("Set(%q) = %q, %v; want %q", tt.in, m.String(), err, tt.want)
			}
		})
	}
}

func TestNameListSet(t *testing.T) {
	var l config.NameList
	for _, s := range []string{"browser", "kafka, reject", ""} {
		if err := l.Set(s); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.String(); got != "browser,kafka,reject" {
		t.Fatalf("NameList = %q", got)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, file, content string
		wantErr             string
		check               func(t *testing.T, f config.File)
	}{
		{
			name: "json", file: "a.json",
			content: `{"cases": {"track": {"period": "30s", "timeout": "20s", "enabled": true}, "browser": {"enabled": false}}}`,
			check: func(t *testing.T, f config.File) {
				tr := f.Cases["track"]
				if time.Duration(tr.Period) != 30*time.Second || time.Duration(tr.Timeout) != 20*time.Second || !*tr.Enabled {
					t.Errorf("track = %+v", tr)
				}
				if b := f.Cases["browser"]; b.Enabled == nil || *b.Enabled {
					t.Errorf("browser = %+v", b)
				}
			},
		},
		{
			name: "yaml", file: "a.yaml",
			content: "cases:\n  track:\n    period: 45s\n",
			check: func(t *testing.T, f config.File) {
				if time.Duration(f.Cases["track"].Period) != 45*time.Second {
					t.Errorf("track = %+v", f.Cases["track"])
				}
			},
		},
		{name: "empty yaml", file: "e.yml", content: "", check: func(t *testing.T, f config.File) {}},
		{name: "unknown json key", file: "b.json", content: `{"cases": {"track": {"perod": "30s"}}}`, wantErr: "perod"},
		{name: "unknown yaml key", file: "b.yaml", content: "cases:\n  track:\n    perod: 30s\n", wantErr: "perod"},
		{name: "bad duration", file: "c.json", content: `{"cases": {"track": {"period": 30}}}`, wantErr: "duration"},
		{name: "not json", file: "d.json", content: `cases: {}`, wantErr: "invalid"},
		{name: "duplicate json case", file: "dup.json", content: `{"cases": {"track": {"period": "5s"}, "track": {"period": "6s"}}}`, wantErr: `key "track" given twice`},
		{name: "duplicate json field", file: "dup2.json", content: `{"cases": {"track": {"period": "5s", "period": "6s"}}}`, wantErr: `key "period" given twice`},
		{name: "duplicate yaml case", file: "dup.yaml", content: "cases:\n  track: {period: 5s}\n  track: {period: 6s}\n", wantErr: "already defined"},
		{name: "too large", file: "big.json", content: `{"cases": {}}` + strings.Repeat(" ", config.MaxFileBytes), wantErr: "larger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := config.Load(write(tt.file, tt.content))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Load error = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, f)
		})
	}
	if _, err := config.Load(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
}

func cases() []orbital.TestCase {
	fn := func(context.Context, *orbital.O) {}
	return []orbital.TestCase{
		{Name: "track", Period: 30 * time.Second, Func: fn},
		{Name: "batch", Period: time.Minute, Timeout: 5 * time.Minute, Func: fn},
		{Name: "browser", Period: 2 * time.Minute, Func: fn},
	}
}

func TestMergeCheckApply(t *testing.T) {
	off, on := false, true
	file := config.File{Cases: map[string]config.CaseOverride{
		"track":   {Period: config.Duration(10 * time.Second), Timeout: config.Duration(time.Second)},
		"browser": {Enabled: &off},
		"batch":   {Enabled: &on},
	}}
	flags := config.Overrides{
		Timeout: config.DurationMap{"track": 3 * time.Second},
		Enabled: map[string]bool{"batch": false},
	}
	o := flags.Merge(file)
	if err := o.Check([]string{"track", "batch", "browser"}); err != nil {
		t.Fatal(err)
	}
	got := o.Apply(cases())
	if len(got) != 1 || got[0].Name != "track" || got[0].Period != 10*time.Second || got[0].Timeout != 3*time.Second {
		t.Fatalf("Apply = %+v, want only track with period 10s and the flag's timeout 3s", got)
	}
	if err := o.Check([]string{"track"}); !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), `"batch"`) {
		t.Errorf("Check with unknown names = %v", err)
	}
	if len(cases()[0].Name) == 0 || cases()[0].Period != 30*time.Second {
		t.Error("Apply changed its input")
	}
	var zero config.Overrides
	if got := zero.Apply(cases()); len(got) != 3 {
		t.Errorf("zero Overrides dropped cases: %v", got)
	}
}
