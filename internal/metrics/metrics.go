// Package metrics holds paygraph's Prometheus collectors. Each server has
// its own registry, so tests can run many servers in one process.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the collectors of one server.
type Metrics struct {
	Registry *prometheus.Registry
	// Operations counts GraphQL operations by operation label.
	Operations *prometheus.CounterVec
	// Latency observes GraphQL operation durations in seconds.
	Latency *prometheus.HistogramVec
	// Errors counts GraphQL errors by operation and code.
	Errors *prometheus.CounterVec
	// HTTP counts HTTP responses by route and status class.
	HTTP *prometheus.CounterVec
}

// New returns a fresh set of collectors on their own registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paygraph_graphql_requests_total",
			Help: "GraphQL operations handled, by operation (type.rootField).",
		}, []string{"operation"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "paygraph_graphql_request_duration_seconds",
			Help:    "GraphQL operation latency, by operation.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"operation"}),
		Errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paygraph_graphql_errors_total",
			Help: "GraphQL errors returned, by operation and extensions.code.",
		}, []string{"operation", "code"}),
		HTTP: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "paygraph_http_responses_total",
			Help: "HTTP responses, by route and status class.",
		}, []string{"route", "status"}),
	}
	m.Registry.MustRegister(m.Operations, m.Latency, m.Errors, m.HTTP,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}
