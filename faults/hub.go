package faults

import (
	"errors"
	"fmt"
	"log"
	"maps"
	"net"
	"slices"
	"sort"
	"sync"
	"time"
)

// Errors of a Hub, which its toxiproxy API answers with 404, 409 and 400.
var (
	// ErrNoProxy is returned for a proxy name the Hub does not hold.
	ErrNoProxy = errors.New("proxy not found")
	// ErrProxyExists is returned when creating a proxy under a name in use.
	ErrProxyExists = errors.New("proxy already exists")
	// ErrNoToxic is returned for a toxic name the proxy does not have.
	ErrNoToxic = errors.New("toxic not found")
	// ErrToxicExists is returned when adding a toxic under a name in use.
	ErrToxicExists = errors.New("toxic already exists")
	// ErrBadProxy is returned for a proxy or toxic that cannot be made as
	// asked: a field missing or malformed, an address in use.
	ErrBadProxy = errors.New("bad proxy or toxic")
)

// ProxyInfo describes one of a Hub's proxies, in toxiproxy's JSON shape.
type ProxyInfo struct {
	// Name is the proxy's name, unique in its Hub.
	Name string `json:"name"`
	// Listen is the address the proxy accepts on; once it has listened,
	// the address it bound (so port 0 shows the port it got).
	Listen string `json:"listen"`
	// Upstream is the host:port every connection is relayed to.
	Upstream string `json:"upstream"`
	// Enabled says whether the proxy listens. Disabling one closes its
	// listener and every connection through it.
	Enabled bool `json:"enabled"`
	// Toxics are its faults, in the order they were added.
	Toxics []Toxic `json:"toxics"`
}

// HubConfig configures a Hub; its zero value is usable.
type HubConfig struct {
	// Seed seeds every proxy's faults, and the draws of their toxicity.
	Seed uint64
	// DialTimeout bounds each upstream dial; 0 means DefaultDialTimeout.
	DialTimeout time.Duration
	// ErrorLog gets the proxies' upstream dial failures (Config.ErrorLog).
	ErrorLog *log.Logger
	// OnChange, if not nil, is called with a one-line description of
	// every change made, after it is made, such as
	//	proxy "redis": toxic "lag" added; down faults were "", now "latency=100ms"
	// It must not call the Hub.
	OnChange func(msg string)
}

// Hub holds named proxies that are created, changed and removed while it
// runs, as toxiproxy's server does; NewToxiproxyAPI serves it over
// toxiproxy's HTTP API. A change of toxics reaches every open connection
// of the proxy (see Proxy.SetFaults). Its methods are safe for concurrent
// use.
type Hub struct {
	cfg HubConfig

	mu      sync.Mutex
	proxies map[string]*hubProxy
	closed  bool
}

type hubProxy struct {
	info ProxyInfo
	p    *Proxy     // nil while disabled
	past ProxyStats // the counts of the Proxies this one had before p
}

// NewHub returns an empty Hub.
func NewHub(cfg HubConfig) *Hub {
	return &Hub{cfg: cfg, proxies: map[string]*hubProxy{}}
}

// Create adds a proxy and, if info.Enabled, starts it listening. Toxics in
// info are added with it.
func (h *Hub) Create(info ProxyInfo) (ProxyInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ProxyInfo{}, ErrProxyClosed
	}
	if err := checkInfo(info); err != nil {
		return ProxyInfo{}, err
	}
	if _, ok := h.proxies[info.Name]; ok {
		return ProxyInfo{}, fmt.Errorf("%w: %q", ErrProxyExists, info.Name)
	}
	hp := &hubProxy{info: info}
	hp.info.Toxics = nil
	for _, t := range info.Toxics {
		t, err := t.normalize()
		if err != nil {
			return ProxyInfo{}, err
		}
		if hp.toxic(t.Name) >= 0 {
			return ProxyInfo{}, fmt.Errorf("%w: %q", ErrToxicExists, t.Name)
		}
		hp.info.Toxics = append(hp.info.Toxics, t)
	}
	if info.Enabled {
		if err := h.start(hp); err != nil {
			return ProxyInfo{}, err
		}
	}
	h.proxies[info.Name] = hp
	h.changed("proxy %q created: %s -> %s%s", info.Name, hp.info.Listen, info.Upstream, enabledNote(info.Enabled))
	return hp.snapshot(), nil
}

func enabledNote(on bool) string {
	if on {
		return ""
	}
	return " (disabled)"
}

func checkInfo(info ProxyInfo) error {
	switch {
	case info.Name == "":
		return fmt.Errorf("%w: missing required field: name", ErrBadProxy)
	case info.Upstream == "":
		return fmt.Errorf("%w: missing required field: upstream", ErrBadProxy)
	}
	if err := checkAddr(info.Upstream, false); err != nil {
		return fmt.Errorf("%w: upstream %q: %v", ErrBadProxy, info.Upstream, err)
	}
	if info.Listen != "" {
		if err := checkAddr(info.Listen, true); err != nil {
			return fmt.Errorf("%w: listen %q: %v", ErrBadProxy, info.Listen, err)
		}
	}
	return nil
}

// start makes and starts hp's Proxy with its toxics; h.mu is held.
func (h *Hub) start(hp *hubProxy) error {
	up, down := hp.faults()
	listen := hp.info.Listen
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	p, err := NewProxy(Config{
		Listen: listen, Upstream: hp.info.Upstream, Up: up, Down: down,
		Seed: h.cfg.Seed, DialTimeout: h.cfg.DialTimeout, ErrorLog: h.cfg.ErrorLog,
	})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadProxy, err)
	}
	if err := p.Start(); err != nil {
		return fmt.Errorf("%w: proxy %q cannot listen on %s: %v", ErrBadProxy, hp.info.Name, listen, unwrapOp(err))
	}
	hp.p = p
	hp.info.Listen = p.Addr().String()
	return nil
}

// unwrapOp returns the reason inside a net.OpError ("bind: address already
// in use"), without the repeated address.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// stop closes hp's Proxy, keeping its counts; h.mu is held.
func (hp *hubProxy) stop() {
	if hp.p == nil {
		return
	}
	_ = hp.p.Close()
	hp.past = addStats(hp.past, hp.p.Stats())
	hp.p = nil
}

func addStats(a, b ProxyStats) ProxyStats {
	a.Accepted += b.Accepted
	a.DialErrors += b.DialErrors
	a.BytesUp += b.BytesUp
	a.BytesDown += b.BytesDown
	a.Active = b.Active
	if len(b.Fired) > 0 && a.Fired == nil {
		a.Fired = map[string]uint64{}
	}
	for k, v := range b.Fired {
		a.Fired[k] += v
	}
	return a
}

// faults returns hp's toxics as Up and Down lists.
func (hp *hubProxy) faults() (up, down []Fault) {
	for _, t := range hp.info.Toxics {
		f := t.fault()
		if t.Stream == StreamUpstream {
			up = append(up, f)
		} else {
			down = append(down, f)
		}
	}
	return up, down
}

func (hp *hubProxy) toxic(name string) int {
	return slices.IndexFunc(hp.info.Toxics, func(t Toxic) bool { return t.Name == name })
}

func (hp *hubProxy) snapshot() ProxyInfo {
	info := hp.info
	info.Toxics = slices.Clone(info.Toxics)
	if info.Toxics == nil {
		info.Toxics = []Toxic{}
	}
	for i := range info.Toxics {
		info.Toxics[i].Attributes = maps.Clone(info.Toxics[i].Attributes)
	}
	return info
}

// apply gives hp's Proxy its toxics after a change; h.mu is held. It
// returns the Up and Down specs before and after, for the log.
func (hp *hubProxy) apply() (string, error) {
	if hp.p == nil {
		return "", nil
	}
	oldUp, oldDown := hp.p.Faults()
	up, down := hp.faults()
	if err := hp.p.SetFaults(up, down); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadProxy, err)
	}
	return fmt.Sprintf("up faults were %q, now %q; down faults were %q, now %q",
		FormatSpec(oldUp), FormatSpec(up), FormatSpec(oldDown), FormatSpec(down)), nil
}

// Get returns the proxy called name.
func (h *Hub) Get(name string) (ProxyInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hp, err := h.lookup(name)
	if err != nil {
		return ProxyInfo{}, err
	}
	return hp.snapshot(), nil
}

func (h *Hub) lookup(name string) (*hubProxy, error) {
	hp, ok := h.proxies[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoProxy, name)
	}
	return hp, nil
}

// lookupToxic finds the proxy's toxic called name; h.mu is held.
func (h *Hub) lookupToxic(proxy, name string) (*hubProxy, int, error) {
	hp, err := h.lookup(proxy)
	if err != nil {
		return nil, -1, err
	}
	i := hp.toxic(name)
	if i < 0 {
		return nil, -1, fmt.Errorf("%w: %q", ErrNoToxic, name)
	}
	return hp, i, nil
}

// List returns every proxy, by name.
func (h *Hub) List() []ProxyInfo {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]ProxyInfo, 0, len(h.proxies))
	for _, name := range slices.Sorted(maps.Keys(h.proxies)) {
		out = append(out, h.proxies[name].snapshot())
	}
	return out
}

// Update changes a proxy's listen address, upstream and enabled state to
// those of info (its Name and Toxics are ignored). A proxy whose address or
// upstream changes is restarted, which closes its connections.
func (h *Hub) Update(name string, info ProxyInfo) (ProxyInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hp, err := h.lookup(name)
	if err != nil {
		return ProxyInfo{}, err
	}
	info.Name = name
	if err := checkInfo(info); err != nil {
		return ProxyInfo{}, err
	}
	moved := info.Upstream != hp.info.Upstream || (info.Listen != "" && info.Listen != hp.info.Listen)
	was := hp.info
	if moved || !info.Enabled {
		hp.stop()
	}
	hp.info.Upstream = info.Upstream
	if info.Listen != "" {
		hp.info.Listen = info.Listen
	}
	hp.info.Enabled = info.Enabled
	if info.Enabled && hp.p == nil {
		if err := h.start(hp); err != nil {
			hp.info.Enabled = false
			return ProxyInfo{}, err
		}
	}
	h.changed("proxy %q updated: was %s -> %s%s, now %s -> %s%s", name,
		was.Listen, was.Upstream, enabledNote(was.Enabled), hp.info.Listen, hp.info.Upstream, enabledNote(hp.info.Enabled))
	return hp.snapshot(), nil
}

// Delete stops and removes a proxy, closing its connections.
func (h *Hub) Delete(name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	hp, err := h.lookup(name)
	if err != nil {
		return err
	}
	hp.stop()
	delete(h.proxies, name)
	h.changed("proxy %q deleted", name)
	return nil
}

// Populate creates every proxy of infos, or replaces the one of the same
// name, as toxiproxy's /populate does: a proxy whose fields are the same
// is left alone (with its connections and toxics); one that differs is
// deleted and created again. On an error, the proxies before it stay
// made. It returns the proxies of infos as they now are.
func (h *Hub) Populate(infos []ProxyInfo) ([]ProxyInfo, error) {
	var out []ProxyInfo
	for _, info := range infos {
		cur, err := h.Get(info.Name)
		if err == nil {
			if cur.Upstream == info.Upstream && cur.Enabled == info.Enabled && (info.Listen == "" || sameAddr(cur.Listen, info.Listen)) {
				out = append(out, cur)
				continue
			}
			if err := h.Delete(info.Name); err != nil {
				return out, err
			}
		}
		got, err := h.Create(info)
		if err != nil {
			return out, err
		}
		out = append(out, got)
	}
	return out, nil
}

// sameAddr reports whether the bound address got is what want asked for.
func sameAddr(got, want string) bool {
	if got == want {
		return true
	}
	gh, gp, err1 := net.SplitHostPort(got)
	wh, wp, err2 := net.SplitHostPort(want)
	if err1 != nil || err2 != nil {
		return false
	}
	if wh == "localhost" {
		wh = "127.0.0.1"
	}
	return gh == wh && (gp == wp || wp == "0")
}

// AddToxic adds t to the end of the proxy's toxics in its stream.
func (h *Hub) AddToxic(proxy string, t Toxic) (Toxic, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hp, err := h.lookup(proxy)
	if err != nil {
		return Toxic{}, err
	}
	t, err = t.normalize()
	if err != nil {
		return Toxic{}, err
	}
	if hp.toxic(t.Name) >= 0 {
		return Toxic{}, fmt.Errorf("%w: %q", ErrToxicExists, t.Name)
	}
	hp.info.Toxics = append(hp.info.Toxics, t)
	what, err := hp.apply()
	if err != nil {
		hp.info.Toxics = hp.info.Toxics[:len(hp.info.Toxics)-1]
		return Toxic{}, err
	}
	h.changed("proxy %q: toxic %q added (%s); %s", proxy, t.Name, t.fault(), what)
	return t.clone(), nil
}

// Toxic returns the proxy's toxic called name.
func (h *Hub) Toxic(proxy, name string) (Toxic, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hp, i, err := h.lookupToxic(proxy, name)
	if err != nil {
		return Toxic{}, err
	}
	return hp.info.Toxics[i].clone(), nil
}

// UpdateToxic changes the proxy's toxic called name with change, which
// gets the toxic's current value and changes it (a JSON decode of the
// request onto it, for the API). Its name, type and stream cannot change.
func (h *Hub) UpdateToxic(proxy, name string, change func(*Toxic) error) (Toxic, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hp, i, err := h.lookupToxic(proxy, name)
	if err != nil {
		return Toxic{}, err
	}
	old := hp.info.Toxics[i]
	t := old.clone()
	if err := change(&t); err != nil {
		return Toxic{}, err
	}
	t.Name, t.Type, t.Stream = old.Name, old.Type, old.Stream
	if t, err = t.normalize(); err != nil {
		return Toxic{}, err
	}
	hp.info.Toxics[i] = t
	what, err := hp.apply()
	if err != nil {
		hp.info.Toxics[i] = old
		return Toxic{}, err
	}
	h.changed("proxy %q: toxic %q changed from %s to %s; %s", proxy, name, old.fault(), t.fault(), what)
	return t.clone(), nil
}

// RemoveToxic removes the proxy's toxic called name.
func (h *Hub) RemoveToxic(proxy, name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	hp, i, err := h.lookupToxic(proxy, name)
	if err != nil {
		return err
	}
	old := hp.info.Toxics[i]
	hp.info.Toxics = slices.Delete(hp.info.Toxics, i, i+1)
	what, err := hp.apply()
	if err != nil {
		return err
	}
	h.changed("proxy %q: toxic %q removed (%s); %s", proxy, name, old.fault(), what)
	return nil
}

// Reset enables every proxy and removes every toxic, as toxiproxy's
// /reset does.
func (h *Hub) Reset() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(h.proxies)) {
		hp := h.proxies[name]
		hp.info.Toxics = nil
		if _, err := hp.apply(); err != nil {
			errs = append(errs, err)
		}
		if !hp.info.Enabled {
			hp.info.Enabled = true
			if err := h.start(hp); err != nil {
				hp.info.Enabled = false
				errs = append(errs, err)
			}
		}
	}
	h.changed("reset: every proxy enabled, every toxic removed")
	return errors.Join(errs...)
}

// HubStats is the counters of one of a Hub's proxies, summed over its
// restarts.
type HubStats struct {
	Name string
	ProxyStats
}

// Stats returns every proxy's counters, by name.
func (h *Hub) Stats() []HubStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]HubStats, 0, len(h.proxies))
	for name, hp := range h.proxies {
		st := hp.past
		st.Active = 0
		if hp.p != nil {
			st = addStats(st, hp.p.Stats())
		}
		out = append(out, HubStats{Name: name, ProxyStats: st})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Close stops every proxy, closing their connections; the Hub then
// refuses to create more.
func (h *Hub) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, hp := range h.proxies {
		hp.stop()
	}
	return nil
}

func (h *Hub) changed(format string, args ...any) {
	if h.cfg.OnChange != nil {
		h.cfg.OnChange(fmt.Sprintf(format, args...))
	}
}
