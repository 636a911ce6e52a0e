// Package metrics exposes counters, gauges and histograms in the Prometheus
// text format (version 0.0.4). It is small on purpose: presenced needs a
// handful of series, not a client library.
package metrics

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Registry holds metric families by name.
type Registry struct {
	mu       sync.Mutex
	families map[string]*family
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{families: map[string]*family{}} }

type family struct {
	name, help, kind string
	series           map[string]func(w io.Writer, name, labels string) // by label string
}

// Labels are a series' label pairs: "transport", "ws".
func labels(kv []string) string {
	if len(kv) == 0 {
		return ""
	}
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		v := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(kv[i+1])
		parts = append(parts, fmt.Sprintf(`%s="%s"`, kv[i], v))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func (r *Registry) add(name, help, kind string, kv []string, write func(io.Writer, string, string)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.families[name]
	if f == nil {
		f = &family{name: name, help: help, kind: kind, series: map[string]func(io.Writer, string, string){}}
		r.families[name] = f
	}
	f.series[labels(kv)] = write
}

// CounterFunc registers a counter read from f at scrape time.
func (r *Registry) CounterFunc(name, help string, f func() float64, kv ...string) {
	r.add(name, help, "counter", kv, func(w io.Writer, n, l string) { fmt.Fprintf(w, "%s%s %v\n", n, l, f()) })
}

// GaugeFunc registers a gauge read from f at scrape time.
func (r *Registry) GaugeFunc(name, help string, f func() float64, kv ...string) {
	r.add(name, help, "gauge", kv, func(w io.Writer, n, l string) { fmt.Fprintf(w, "%s%s %v\n", n, l, f()) })
}

// Counter is a monotonically increasing count.
type Counter struct{ v atomic.Uint64 }

// Inc adds one.
func (c *Counter) Inc() { c.v.Add(1) }

// Counter registers and returns a counter.
func (r *Registry) Counter(name, help string, kv ...string) *Counter {
	c := &Counter{}
	r.CounterFunc(name, help, func() float64 { return float64(c.v.Load()) }, kv...)
	return c
}

// Histogram counts observations into cumulative buckets.
type Histogram struct {
	bounds []float64
	mu     sync.Mutex
	counts []uint64
	sum    float64
	n      uint64
}

// DefaultLatency buckets, in seconds.
var DefaultLatency = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// Histogram registers and returns a histogram.
func (r *Registry) Histogram(name, help string, bounds []float64, kv ...string) *Histogram {
	h := &Histogram{bounds: bounds, counts: make([]uint64, len(bounds))}
	r.add(name, help, "histogram", kv, h.write)
	return h
}

// Observe records one value.
func (h *Histogram) Observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v)
	h.mu.Lock()
	if i < len(h.counts) {
		h.counts[i]++
	}
	h.sum += v
	h.n++
	h.mu.Unlock()
}

// Since records the seconds elapsed since t.
func (h *Histogram) Since(t time.Time) { h.Observe(time.Since(t).Seconds()) }

func (h *Histogram) write(w io.Writer, name, l string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	inner := strings.TrimSuffix(strings.TrimPrefix(l, "{"), "}")
	if inner != "" {
		inner += ","
	}
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i]
		fmt.Fprintf(w, "%s_bucket{%sle=\"%v\"} %d\n", name, inner, b, cum)
	}
	fmt.Fprintf(w, "%s_bucket{%sle=\"+Inf\"} %d\n", name, inner, h.n)
	fmt.Fprintf(w, "%s_sum%s %v\n%s_count%s %d\n", name, l, h.sum, name, l, h.n)
}

// ServeHTTP writes every family in the text exposition format.
func (r *Registry) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	r.mu.Lock()
	names := make([]string, 0, len(r.families))
	for n := range r.families {
		names = append(names, n)
	}
	sort.Strings(names)
	fams := make([]*family, len(names))
	for i, n := range names {
		fams[i] = r.families[n]
	}
	r.mu.Unlock()
	for _, f := range fams {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", f.name, f.help, f.name, f.kind)
		r.mu.Lock()
		keys := make([]string, 0, len(f.series))
		for k := range f.series {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		writers := make([]func(io.Writer, string, string), len(keys))
		for i, k := range keys {
			writers[i] = f.series[k]
		}
		r.mu.Unlock()
		for i, k := range keys {
			writers[i](w, f.name, k)
		}
	}
}
