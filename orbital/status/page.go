package status

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"net/http"
	"time"
)

//go:embed assets
var assetFS embed.FS

type pageTemplate = *template.Template

func parsePage() (*template.Template, error) {
	t, err := template.New("index.html").Funcs(template.FuncMap{
		"secs":  fmtSeconds,
		"pct":   fmtRatio,
		"since": fmtSince,
		"time":  fmtTime,
		"min":   func(a, b int) int { return min(a, b) },
		"for":   fmtFor,
	}).ParseFS(assetFS, "assets/index.html")
	if err != nil {
		return nil, fmt.Errorf("status: page template: %w", err)
	}
	return t, nil
}

// pageData is what the page template renders; the script then keeps it
// fresh from the API.
type pageData struct {
	Summary   Summary
	Rows      []Row
	StripLen  int
	Now       time.Time
	PollEvery int // milliseconds

	MaxIncidents, MaxIncidentsPerCase int
}

func (s *Status) handlePage(w http.ResponseWriter, r *http.Request) {
	data := pageData{Summary: s.summary(), Rows: s.rows(), StripLen: StripLen, Now: s.now(), PollEvery: 2000,
		MaxIncidents: MaxIncidents, MaxIncidentsPerCase: MaxIncidentsPerCase}
	var buf bytes.Buffer
	if err := s.pageTmpl.Execute(&buf, data); err != nil {
		s.logger.Error("status page", "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write(buf.Bytes())
}

// fmtSeconds formats a duration given in seconds (nil: "–").
func fmtSeconds(v *float64) string {
	if v == nil {
		return "–"
	}
	d := time.Duration(*v * float64(time.Second))
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.2f s", d.Seconds())
	default:
		return d.Round(time.Second).String()
	}
}

func fmtRatio(r Ratio) string {
	if r.Ratio == nil {
		return "–"
	}
	return fmt.Sprintf("%.1f%%", *r.Ratio*100)
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

func fmtSince(from, now time.Time) string {
	d := now.Sub(from).Round(time.Second)
	if d < 0 {
		d = 0
	}
	return d.String()
}

// fmtFor formats how long something has lasted as the header says it (the
// page's script says it the same way): "45 s", "12 m", "3 h 5 m", "2 d 1 h".
func fmtFor(secs float64) string {
	s := int64(max(0, secs))
	switch {
	case s < 60:
		return fmt.Sprintf("%d s", s)
	case s < 3600:
		return fmt.Sprintf("%d m", s/60)
	case s < 86400:
		return fmt.Sprintf("%d h %d m", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%d d %d h", s/86400, s%86400/3600)
}
