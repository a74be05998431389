package tune

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/poolside-dev/poolside/benchmarks/load"
	"github.com/poolside-dev/poolside/server"
)

// DefaultAdminTimeout bounds each call of an AdminSizer whose Client is
// nil.
const DefaultAdminTimeout = 5 * time.Second

// maxAdminAnswer bounds the body of an admin API answer that is read.
const maxAdminAnswer = 1 << 20

// AdminSizer is a Sizer for a running "poolside serve --admin-addr ADDR":
// it reads the pool through the admin API's GET /pool and resizes it with
// PUT /pool {"workers": N} (see server.AdminHandler). Set Addr; the zero
// Client means one with DefaultAdminTimeout per call and no idle
// connections kept. Its methods are safe for concurrent use.
type AdminSizer struct {
	// Addr is the admin API's host:port, such as 127.0.0.1:9409.
	Addr string

	// Client, if not nil, sends the requests.
	Client *http.Client
}

func (a *AdminSizer) client() *http.Client {
	if a.Client != nil {
		return a.Client
	}
	return &http.Client{Timeout: DefaultAdminTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
}

// State returns the pool's state as GET /pool answers it. Errors from the
// API wrap ErrAdminRefused.
func (a *AdminSizer) State() (server.PoolState, error) {
	var st server.PoolState
	err := a.call(http.MethodGet, nil, &st)
	return st, err
}

// Workers returns the pool's size (GET /pool).
func (a *AdminSizer) Workers() (int, error) {
	st, err := a.State()
	return st.Workers, err
}

// Resize sets the pool's size (PUT /pool). The API refuses a server with
// adaptive sizing on, or a model without a pool; the error wraps
// ErrAdminRefused and carries the API's message.
func (a *AdminSizer) Resize(workers int) error {
	body, err := json.Marshal(map[string]int{"workers": workers})
	if err != nil {
		return err
	}
	return a.call(http.MethodPut, body, nil)
}

// unwrapURL drops the *url.Error around err: the method and the URL are
// the AdminError's own.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// call sends one request to /pool and decodes a 200 answer into out.
func (a *AdminSizer) call(method string, body []byte, out any) error {
	if _, _, err := net.SplitHostPort(a.Addr); err != nil {
		return &load.FieldError{Field: "Addr", Value: a.Addr, Rule: "must be host:port"}
	}
	req, err := http.NewRequest(method, "http://"+a.Addr+"/pool", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("tune: admin API: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client().Do(req)
	if err != nil {
		return &AdminError{Addr: a.Addr, Method: method, Err: unwrapURL(err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAdminAnswer))
	if err != nil {
		return &AdminError{Addr: a.Addr, Method: method, Err: fmt.Errorf("reading the answer: %w", err)}
	}
	if resp.StatusCode != http.StatusOK {
		var ae server.AdminError
		msg := string(bytes.TrimSpace(data))
		if json.Unmarshal(data, &ae) == nil && ae.Error != "" {
			msg = ae.Error
		}
		return &AdminError{Addr: a.Addr, Method: method, Status: resp.StatusCode, Message: msg}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &AdminError{Addr: a.Addr, Method: method, Err: fmt.Errorf("the answer is not a pool state (is this poolside's admin API?): %w", err)}
	}
	return nil
}
