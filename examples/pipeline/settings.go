package pipeline

import "net/http"

// serveSettings serves GET /v1/projects/{writeKey}/settings: the source
// settings analytics.js (@segment/analytics-next) fetches from its CDN URL
// before it sends anything. The answer enables only the "Segment.io"
// integration, pointed at this API (the host the request came to, /v1; http
// or https as the request was), turns off analytics.js's own metrics (which
// would go to that host's /m) and lists no device-mode destinations,
// middleware or remote plugins, so that the browser loads nothing else. An
// unknown write key gets 404, as Segment's CDN answers.
func (p *Pipeline) serveSettings(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD, OPTIONS")
		p.reject(w, http.StatusMethodNotAllowed, rejectMethod, "method "+r.Method+" not allowed; use GET")
		return
	}
	key := r.PathValue("writeKey")
	if !p.accepted(key) {
		p.reject(w, http.StatusNotFound, rejectUnauthorized, "no source with this write key")
		return
	}
	protocol := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		protocol = "https"
	}
	w.Header().Set("Cache-Control", "no-store") // it holds the write key
	writeJSON(w, http.StatusOK, settings{
		Integrations: map[string]any{
			"Segment.io": segmentIOSettings{
				APIKey:                key,
				APIHost:               r.Host + "/v1",
				Protocol:              protocol,
				AddBundledMetadata:    true,
				UnbundledIntegrations: []string{},
				MaybeBundledConfigIDs: map[string][]string{},
			},
		},
		EdgeFunction:              struct{}{},
		AnalyticsNextEnabled:      true,
		MiddlewareSettings:        struct{}{},
		EnabledMiddleware:         map[string]bool{},
		Metrics:                   metricsSettings{SampleRate: 0},
		LegacyVideoPluginsEnabled: false,
		RemotePlugins:             []struct{}{},
	})
}

// settings is the CDNSettings object of analytics-next (src/browser/settings.ts).
type settings struct {
	Integrations              map[string]any  `json:"integrations"`
	EdgeFunction              struct{}        `json:"edgeFunction"`
	AnalyticsNextEnabled      bool            `json:"analyticsNextEnabled"`
	MiddlewareSettings        struct{}        `json:"middlewareSettings"`
	EnabledMiddleware         map[string]bool `json:"enabledMiddleware"`
	Metrics                   metricsSettings `json:"metrics"`
	LegacyVideoPluginsEnabled bool            `json:"legacyVideoPluginsEnabled"`
	RemotePlugins             []struct{}      `json:"remotePlugins"`
}

// segmentIOSettings are the settings of analytics-next's Segment.io plugin
// (RemoteSegmentIOIntegrationSettings): where and how it sends events.
type segmentIOSettings struct {
	APIKey                string              `json:"apiKey"`
	APIHost               string              `json:"apiHost"`
	Protocol              string              `json:"protocol"`
	AddBundledMetadata    bool                `json:"addBundledMetadata"`
	UnbundledIntegrations []string            `json:"unbundledIntegrations"`
	MaybeBundledConfigIDs map[string][]string `json:"maybeBundledConfigIds"`
}

type metricsSettings struct {
	SampleRate float64 `json:"sampleRate"`
}
