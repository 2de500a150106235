package metrics

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strings"

	"github.com/segmentio/stats/v4/prometheus"
)

// Exposition serves h's metrics in the Prometheus text format without sample timestamps.
//
// stats/v4 stamps every sample with the time it last changed. Prometheus then stores a
// counter that moved once an hour ago as one old sample: rate() misses it and gauges go stale
// after five minutes, so "has not run for 3 periods" alerts would clear themselves. Exposition
// drops the stamps, so every scrape records the current value at scrape time, as the
// Prometheus exposition guidelines recommend. Every family gets # HELP and # TYPE, and
// histogram buckets come in ascending numeric le order (see Format). It answers GET and HEAD
// (405 otherwise) and gzips when the scraper accepts it.
func Exposition(h *prometheus.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		var buf bytes.Buffer
		h.WriteStats(&buf)
		out := Format(buf.Bytes())
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		if r.Method == http.MethodHead {
			return
		}
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			_, _ = zw.Write(out)
			_ = zw.Close()
			return
		}
		_, _ = w.Write(out)
	})
}

// StripTimestamps returns a copy of a Prometheus text exposition with the optional trailing
// timestamp removed from every sample line. Comment and blank lines are kept as they are.
// Label values may hold spaces, braces and escaped quotes.
func StripTimestamps(text []byte) []byte {
	out := make([]byte, 0, len(text))
	for len(text) > 0 {
		line, rest, found := bytes.Cut(text, []byte{'\n'})
		out = append(out, stripLine(line)...)
		if found {
			out = append(out, '\n')
		}
		text = rest
	}
	return out
}

// stripLine drops the third field (the timestamp) of a sample line: name{labels} value [ts].
func stripLine(line []byte) []byte {
	if len(line) == 0 || line[0] == '#' {
		return line
	}
	i := 0
	// The metric name, then an optional label block whose quoted values may hold anything.
	for i < len(line) && line[i] != '{' && line[i] != ' ' {
		i++
	}
	if i < len(line) && line[i] == '{' {
		inQuote := false
		for i++; i < len(line); i++ {
			c := line[i]
			if inQuote {
				if c == '\\' {
					i++
				} else if c == '"' {
					inQuote = false
				}
				continue
			}
			if c == '"' {
				inQuote = true
			} else if c == '}' {
				i++
				break
			}
		}
	}
	// " value" then optionally " timestamp".
	for i < len(line) && line[i] == ' ' {
		i++
	}
	for i < len(line) && line[i] != ' ' {
		i++
	}
	return line[:i]
}
