package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/poolside-dev/poolside/faults"
)

// newHub returns the hub of named proxies that the toxiproxy API serves,
// logging each change to stderr.
func newHub(f proxyFlags, stderr io.Writer) *faults.Hub {
	logger := log.New(stderr, "poolside: ", 0)
	return faults.NewHub(faults.HubConfig{
		Seed: f.seed, DialTimeout: f.dialTimeout, ErrorLog: logger,
		OnChange: func(msg string) { logger.Print(msg) },
	})
}

// loadProxyConfig creates the proxies of file, in toxiproxy's populate
// format (a JSON array of {"name","listen","upstream","enabled"}), in h.
func loadProxyConfig(h *faults.Hub, file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("cannot read --config %s: %w (give a JSON file in toxiproxy's format: [{\"name\":...,\"listen\":...,\"upstream\":...}])", file, errors.Unwrap(err))
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("--config %s is not a JSON array of proxies (%v); want toxiproxy's format: [{\"name\":\"redis\",\"listen\":\"127.0.0.1:26379\",\"upstream\":\"127.0.0.1:6379\"}]", file, err)
	}
	infos := make([]faults.ProxyInfo, len(raw))
	for i, m := range raw {
		infos[i] = faults.ProxyInfo{Enabled: true}
		if err := json.Unmarshal(m, &infos[i]); err != nil {
			return fmt.Errorf("--config %s: proxy %d is not a proxy object (%v)", file, i+1, err)
		}
	}
	if _, err := h.Populate(infos); err != nil {
		return fmt.Errorf("--config %s: %w", file, err)
	}
	return nil
}

// proxyAPI is the handler of --api: toxiproxy's API for the hub's
// proxies, /faults for the flags' proxy p (nil when there is none), and
// /metrics for all of them. Changes through /faults are logged to logger
// with what they replaced.
func proxyAPI(h *faults.Hub, p *faults.Proxy, remote bool, logger *log.Logger) http.Handler {
	mux := http.NewServeMux()
	toxi := guardAPI(faults.NewToxiproxyAPI(h), guardOptions{Name: "the toxiproxy API", AllowRemote: remote, AnyBody: true})
	mux.Handle("/", toxi)
	if p != nil {
		native := guardAPI(faults.NewAPI(p), guardOptions{Name: "the fault API", AllowRemote: remote})
		mux.Handle("/faults", logFaultChanges(native, p, logger))
	} else {
		mux.HandleFunc("/faults", func(w http.ResponseWriter, _ *http.Request) {
			writeGuardError(w, http.StatusNotFound, "no proxy was started from flags (--listen, --upstream, --up, --down), so there is no /faults; manage the proxies with toxiproxy's API: GET /proxies")
		})
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(proxyCollector{hub: h, flags: p})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

// logFaultChanges logs every change that h, the /faults API of p, makes.
func logFaultChanges(h http.Handler, p *faults.Proxy, logger *log.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up, down := p.Faults()
		h.ServeHTTP(w, r)
		nup, ndown := p.Faults()
		was, now := faults.FormatSpec(up)+"|"+faults.FormatSpec(down), faults.FormatSpec(nup)+"|"+faults.FormatSpec(ndown)
		if was != now {
			logger.Printf("faults changed on every connection: up faults were %q, now %q; down faults were %q, now %q",
				faults.FormatSpec(up), faults.FormatSpec(nup), faults.FormatSpec(down), faults.FormatSpec(ndown))
		}
	})
}

// flagsProxyName is the proxy label of the flags' proxy in the metrics.
const flagsProxyName = "flags"

// proxyCollector exports the proxies' counters in Prometheus form.
type proxyCollector struct {
	hub   *faults.Hub
	flags *faults.Proxy
}

var (
	proxyConnsDesc = prometheus.NewDesc("poolside_proxy_connections_total",
		"Client connections accepted, by proxy.", []string{"proxy"}, nil)
	proxyActiveDesc = prometheus.NewDesc("poolside_proxy_connections_active",
		"Connections being relayed now, by proxy.", []string{"proxy"}, nil)
	proxyDialDesc = prometheus.NewDesc("poolside_proxy_dial_errors_total",
		"Client connections closed because the upstream could not be reached, by proxy.", []string{"proxy"}, nil)
	proxyBytesDesc = prometheus.NewDesc("poolside_proxy_bytes_total",
		"Bytes relayed, by proxy and stream (upstream: client to server; downstream: server to client).", []string{"proxy", "stream"}, nil)
	proxyFiredDesc = prometheus.NewDesc("poolside_proxy_faults_fired_total",
		"Times a fault acted, by proxy and fault kind (an operation delayed, a piece cut short, a connection ended...).", []string{"proxy", "fault"}, nil)
)

func (proxyCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{proxyConnsDesc, proxyActiveDesc, proxyDialDesc, proxyBytesDesc, proxyFiredDesc} {
		ch <- d
	}
}

func (c proxyCollector) Collect(ch chan<- prometheus.Metric) {
	stats := c.hub.Stats()
	if c.flags != nil {
		stats = append(stats, faults.HubStats{Name: flagsProxyName, ProxyStats: c.flags.Stats()})
	}
	for _, st := range stats {
		ch <- prometheus.MustNewConstMetric(proxyConnsDesc, prometheus.CounterValue, float64(st.Accepted), st.Name)
		ch <- prometheus.MustNewConstMetric(proxyActiveDesc, prometheus.GaugeValue, float64(st.Active), st.Name)
		ch <- prometheus.MustNewConstMetric(proxyDialDesc, prometheus.CounterValue, float64(st.DialErrors), st.Name)
		ch <- prometheus.MustNewConstMetric(proxyBytesDesc, prometheus.CounterValue, float64(st.BytesUp), st.Name, faults.StreamUpstream)
		ch <- prometheus.MustNewConstMetric(proxyBytesDesc, prometheus.CounterValue, float64(st.BytesDown), st.Name, faults.StreamDownstream)
		for kind, n := range st.Fired {
			ch <- prometheus.MustNewConstMetric(proxyFiredDesc, prometheus.CounterValue, float64(n), st.Name, kind)
		}
	}
}

// toxicTable lists the toxic types for --help: toxiproxy's, then
// poolside's own.
func toxicTable() string {
	var b strings.Builder
	for _, own := range []bool{false, true} {
		for _, name := range slices.Sorted(maps.Keys(faults.ToxicTypes)) {
			typ := faults.ToxicTypes[name]
			if typ.Poolside != own {
				continue
			}
			fmt.Fprintf(&b, "  %-12s %s\n", name, strings.Join(typ.Attributes, ", "))
		}
	}
	return b.String()
}
