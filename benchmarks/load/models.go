package load

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/poolside-dev/poolside/server"
)

// ModelSpec names a concurrency model and its pool size, as in
// "pool:16". The zero value is the pool model with the server's default
// number of workers.
type ModelSpec struct {
	Model server.Model
	// Workers is the pool size for ModelPool and ModelConn; 0 means the
	// server's default (server.DefaultWorkers). Serial always has one
	// worker and unbounded none, whatever this says.
	Workers int
}

// String returns the spec as ParseModelSpec reads it: "serial",
// "unbounded", "pool:16", or "pool" for the default pool size.
func (m ModelSpec) String() string {
	if m.Workers > 0 && (m.Model == server.ModelPool || m.Model == server.ModelConn) {
		return fmt.Sprintf("%v:%d", m.Model, m.Workers)
	}
	return m.Model.String()
}

// EffectiveWorkers returns the number of workers the model runs with: 1
// for serial, 0 (no limit) for unbounded, the default pool size when
// Workers is 0.
func (m ModelSpec) EffectiveWorkers() int {
	return server.Config{Model: m.Model, Workers: m.Workers}.EffectiveWorkers()
}

// ParseModelSpec parses "serial", "unbounded", "pool", "conn", or
// "pool:N" and "conn:N" with N workers (N >= 1). Errors wrap
// ErrInvalidConfig.
func ParseModelSpec(s string) (ModelSpec, error) {
	name, n, hasN := strings.Cut(strings.TrimSpace(s), ":")
	m, err := server.ParseModel(name)
	if err != nil {
		return ModelSpec{}, fmt.Errorf("%w: model %q: choose serial, pool[:N], conn[:N] or unbounded", ErrInvalidConfig, s)
	}
	spec := ModelSpec{Model: m}
	if !hasN {
		return spec, nil
	}
	if m != server.ModelPool && m != server.ModelConn {
		return ModelSpec{}, fmt.Errorf("%w: model %q: only pool and conn take a worker count", ErrInvalidConfig, s)
	}
	w, err := strconv.Atoi(n)
	if err != nil || w < 1 {
		return ModelSpec{}, fmt.Errorf("%w: model %q: the worker count must be a whole number of at least 1", ErrInvalidConfig, s)
	}
	spec.Workers = w
	return spec, nil
}

// ParseModelSpecs parses a comma-separated list of ParseModelSpec's
// forms, such as "serial,pool:8,pool:64,conn:64,unbounded". The list must
// not be empty.
func ParseModelSpecs(list string) ([]ModelSpec, error) {
	var specs []ModelSpec
	for _, s := range strings.Split(list, ",") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		spec, err := ParseModelSpec(s)
		if err != nil {
			return nil, err
		}
		specs = append(specs, spec)
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("%w: no model in %q", ErrInvalidConfig, list)
	}
	return specs, nil
}
