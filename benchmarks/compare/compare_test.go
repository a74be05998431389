package compare_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	_ "image/png"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/benchmarks/compare"
	"github.com/poolside-dev/poolside/benchmarks/load"
	"github.com/poolside-dev/poolside/booking"
	"github.com/poolside-dev/poolside/server"
	"github.com/poolside-dev/poolside/wire"
)

// quickCompare compares serial with a pool of 4 over two short rounds.
func quickCompare(t *testing.T, mutate func(*compare.Config)) *compare.Report {
	t.Helper()
	var steps []compare.Progress
	cfg := compare.Config{
		Models: []load.ModelSpec{{Model: server.ModelSerial}, {Model: server.ModelPool, Workers: 4}},
		Server: load.ServerConfig{WorkDelay: 2 * time.Millisecond},
		Load:   load.Config{Clients: 4},
		Window: load.Window{Warmup: 20 * time.Millisecond, Duration: 150 * time.Millisecond},
		Repeat: 2,
		Progress: func(s compare.Progress) {
			steps = append(steps, s)
		},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	rep, err := compare.Run(t.Context(), cfg)
	require.NoError(t, err)
	runs := max(cfg.Repeat, 1) * len(cfg.Models)
	if cfg.Load.Addr != "" {
		runs = max(cfg.Repeat, 1)
	}
	require.Len(t, steps, runs)
	assert.Equal(t, len(steps), steps[len(steps)-1].Index)
	assert.Equal(t, len(steps), steps[0].Count)
	return rep
}

func TestCompare(t *testing.T) {
	rep := quickCompare(t, nil)
	require.Len(t, rep.Results, 2)
	serial, pool := rep.Results[0], rep.Results[1]
	assert.Equal(t, "serial", serial.Label)
	assert.Equal(t, 1, serial.Workers)
	assert.Equal(t, "pool:4", pool.Label)
	assert.Equal(t, 4, pool.Workers)
	assert.InDelta(t, 1, serial.SpeedUp, 1e-9)
	for _, mr := range rep.Results {
		assert.Len(t, mr.Rounds, 2)
		assert.Positive(t, mr.RPS)
		assert.Positive(t, mr.P50)
		assert.Zero(t, mr.Errors.Total())
		assert.Positive(t, mr.ServiceMean)
	}
	assert.True(t, rep.Env.InProcess)
	assert.Equal(t, 2, rep.Env.Repeat)
	assert.False(t, rep.Incomplete)
	assert.Empty(t, rep.NotMeasured)
	assert.Zero(t, rep.StoppedRound())
	assert.Equal(t, booking.StoreMemory, rep.Env.Store)
}

func TestCompareRemoteAndBolt(t *testing.T) {
	ls := startServer(t, load.ServerConfig{Store: booking.StoreBolt, Dir: t.TempDir()})
	rep := quickCompare(t, func(c *compare.Config) {
		c.Load.Addr = ls.Addr()
		c.Repeat = 1
	})
	require.Len(t, rep.Results, 1)
	assert.Equal(t, ls.Addr(), rep.Results[0].Label)
	assert.False(t, rep.Env.InProcess)
	assert.Equal(t, load.CPUScopeClient, rep.Env.CPUScope)
	assert.Zero(t, rep.Results[0].Errors.Total())
}

func TestReportFiles(t *testing.T) {
	for _, open := range []bool{false, true} {
		t.Run(map[bool]string{false: "closed", true: "open"}[open], func(t *testing.T) {
			rep := quickCompare(t, func(c *compare.Config) {
				c.Repeat = 1
				if open {
					c.Load.Rate = 200
				}
			})

			var table bytes.Buffer
			require.NoError(t, rep.WriteTable(&table))
			lines := strings.Split(strings.TrimSpace(table.String()), "\n")
			require.Len(t, lines, 3)
			assert.Contains(t, lines[0], "req/s")
			assert.Contains(t, lines[0], "p99.9")
			assert.Equal(t, open, strings.Contains(lines[0], "uncorrected"))
			assert.Equal(t, "serial", strings.Fields(lines[1])[0])
			require.NoError(t, rep.WriteNotes(io.Discard))

			var js bytes.Buffer
			require.NoError(t, rep.WriteJSON(&js))
			checkJSONSchema(t, js.Bytes(), 2, open)

			var cs bytes.Buffer
			require.NoError(t, rep.WriteCSV(&cs))
			rows, err := csv.NewReader(&cs).ReadAll()
			require.NoError(t, err)
			require.Len(t, rows, 3)
			assert.Equal(t, "model", rows[0][0])
			assert.Equal(t, "pool:4", rows[2][0])

			var png bytes.Buffer
			require.NoError(t, rep.WriteChart(&png, "png"))
			checkPNG(t, png.Bytes())

			var svg bytes.Buffer
			require.NoError(t, rep.WriteChart(&svg, "svg"))
			checkSVG(t, svg.Bytes())

			require.ErrorIs(t, rep.WriteChart(io.Discard, "gif"), load.ErrInvalidConfig)
		})
	}
	for name, want := range map[string]string{"a.png": "png", "b.SVG": "svg"} {
		got, err := compare.ChartFormat(name)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	_, err := compare.ChartFormat("c.pdf")
	require.ErrorIs(t, err, load.ErrInvalidConfig)
}

// checkJSONSchema checks the documented shape of WriteJSON's output.
func checkJSONSchema(t *testing.T, data []byte, models int, open bool) {
	t.Helper()
	var doc struct {
		Complete any              `json:"complete"`
		Results  []map[string]any `json:"results"`
		Env      map[string]any   `json:"env"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	require.NoError(t, dec.Decode(&doc))
	assert.Equal(t, true, doc.Complete)
	require.Len(t, doc.Results, models)
	for _, r := range doc.Results {
		assert.IsType(t, "", r["model"])
		for _, k := range []string{"workers", "rounds", "requests", "rps", "target_rps", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "errors", "cpu_us_per_req"} {
			assert.IsType(t, float64(0), r[k], k)
		}
		if open {
			assert.Nil(t, r["speedup"], "no speed-up in an open loop")
			assert.Positive(t, r["target_rps"])
			assert.IsType(t, float64(0), r["achieved"])
		} else {
			assert.IsType(t, float64(0), r["speedup"])
			assert.Nil(t, r["achieved"], "no target in a closed loop")
		}
		// The histogram is HdrHistogram's standard form and holds every
		// request of the one round.
		h, err := hdrhistogram.Decode([]byte(r["latency_hdr_us"].(string)))
		require.NoError(t, err)
		assert.Equal(t, int64(r["requests"].(float64)), h.TotalCount())
		assert.InDelta(t, r["p99_ms"].(float64), float64(h.ValueAtQuantile(99))/1000, 0.001)
		assert.IsType(t, map[string]any{}, r["errors_by_kind"])
		assert.Positive(t, r["rps"])
		assert.LessOrEqual(t, r["p50_ms"], r["p99_ms"])
		assert.LessOrEqual(t, r["p99_ms"], r["p999_ms"])
	}
	for _, k := range []string{"num_cpu", "clients", "duration_s", "repeat"} {
		assert.IsType(t, float64(0), doc.Env[k], k)
	}
	assert.Contains(t, []any{"open", "closed"}, doc.Env["loop"])
}

// checkPNG checks that data decodes as a PNG image of some size.
func checkPNG(t *testing.T, data []byte) {
	t.Helper()
	img, format, err := image.Decode(bytes.NewReader(data))
	require.NoError(t, err)
	assert.Equal(t, "png", format)
	assert.Greater(t, img.Bounds().Dx(), 100)
	assert.Greater(t, img.Bounds().Dy(), 100)
}

// checkSVG checks that data is well-formed XML with an svg root element.
func checkSVG(t *testing.T, data []byte) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	var root string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	assert.Equal(t, "svg", root)
}

// TestSpeedUpWithoutABase: when the first model had no successful request
// there is nothing to compare with; the speed-up is shown as unknown, not
// as 0.
func TestSpeedUpWithoutABase(t *testing.T) {
	rep := &compare.Report{
		Results: []compare.ModelResult{
			{Label: "serial", Workers: 1, Errors: load.Errors{Timeout: 40}},
			{Label: "pool:16", Workers: 16, RPS: 300, P50: 20 * time.Millisecond, P99: 30 * time.Millisecond, P999: 40 * time.Millisecond},
		},
		Env: load.Env{InProcess: true, NumCPU: 2, Clients: 16, Repeat: 1},
	}
	var table bytes.Buffer
	require.NoError(t, rep.WriteTable(&table))
	lines := strings.Split(strings.TrimSpace(table.String()), "\n")
	require.Len(t, lines, 3)
	for _, l := range lines[1:] {
		assert.Equal(t, "-", strings.Fields(l)[3], "the speed-up column: %q", l)
	}

	var js bytes.Buffer
	require.NoError(t, rep.WriteJSON(&js))
	var doc struct {
		Results []map[string]any `json:"results"`
	}
	require.NoError(t, json.Unmarshal(js.Bytes(), &doc))
	for _, r := range doc.Results {
		v, ok := r["speedup"]
		assert.True(t, ok)
		assert.Nil(t, v, "unknown speed-up in JSON")
	}

	var svg bytes.Buffer
	require.NoError(t, rep.WriteChart(&svg, "svg"))
	assert.NotContains(t, svg.String(), "×)", "no speed-up in the chart's labels")
	assert.Contains(t, svg.String(), ">300<", "the throughput label")
}

// TestCompareStoppedEarly: when ctx ends in the middle of a comparison,
// Compare returns its error with a report of the rounds that finished,
// marked incomplete in every form; a model that finished no round is left
// out and named. Before any run finished there is no report.
func TestCompareStoppedEarly(t *testing.T) {
	for _, tc := range []struct {
		name        string
		stopAt      int // the run (1-based) during which ctx ends
		rounds      []int
		notMeasured []string
		stopped     int
	}{
		{"before anything finished", 1, nil, nil, 0},
		{"in round 1", 2, []int{1}, []string{"pool:4"}, 1},
		{"in round 2", 4, []int{2, 1}, nil, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			cfg := compare.Config{
				Models: []load.ModelSpec{{Model: server.ModelSerial}, {Model: server.ModelPool, Workers: 4}},
				Load:   load.Config{Clients: 2},
				Window: load.Window{Duration: time.Minute, MaxRequests: 20},
				Repeat: 3,
				Progress: func(s compare.Progress) {
					if s.Index == tc.stopAt {
						cancel()
					}
				},
			}
			rep, err := compare.Run(ctx, cfg)
			require.ErrorIs(t, err, context.Canceled)
			if tc.rounds == nil {
				assert.Nil(t, rep)
				return
			}
			require.NotNil(t, rep)
			assert.True(t, rep.Incomplete)
			assert.Equal(t, tc.notMeasured, rep.NotMeasured)
			assert.Equal(t, tc.stopped, rep.StoppedRound())
			assert.Equal(t, 3, rep.Env.Repeat, "the rounds asked for")
			require.Len(t, rep.Results, len(tc.rounds))
			for i, mr := range rep.Results {
				assert.Len(t, mr.Rounds, tc.rounds[i], mr.Label)
				assert.Positive(t, mr.RPS, mr.Label)
			}

			var table, notes, js, cs bytes.Buffer
			require.NoError(t, rep.WriteTable(&table))
			lines := strings.Split(strings.TrimSpace(table.String()), "\n")
			require.Len(t, lines, 1+len(tc.rounds))
			assert.Equal(t, "rounds", strings.Fields(lines[0])[len(strings.Fields(lines[0]))-1])
			for i, l := range lines[1:] {
				f := strings.Fields(l)
				assert.Equal(t, fmt.Sprintf("%d/3", tc.rounds[i]), f[len(f)-1], l)
			}
			require.NoError(t, rep.WriteNotes(&notes))
			assert.True(t, strings.HasPrefix(notes.String(), fmt.Sprintf("incomplete: stopped in round %d of 3", tc.stopped)), notes.String())
			for _, name := range tc.notMeasured {
				assert.Contains(t, notes.String(), name+" 0")
			}

			require.NoError(t, rep.WriteJSON(&js))
			var doc struct {
				Complete    *bool    `json:"complete"`
				NotMeasured []string `json:"not_measured"`
				Results     []struct {
					Rounds int `json:"rounds"`
				} `json:"results"`
			}
			require.NoError(t, json.Unmarshal(js.Bytes(), &doc))
			require.NotNil(t, doc.Complete)
			assert.False(t, *doc.Complete)
			assert.ElementsMatch(t, tc.notMeasured, doc.NotMeasured)
			require.Len(t, doc.Results, len(tc.rounds))
			for i, r := range doc.Results {
				assert.Equal(t, tc.rounds[i], r.Rounds)
			}

			require.NoError(t, rep.WriteCSV(&cs))
			rows, err := csv.NewReader(&cs).ReadAll()
			require.NoError(t, err)
			require.Len(t, rows, 1+len(tc.rounds))
			col := slices.Index(rows[0], "rounds")
			require.GreaterOrEqual(t, col, 0, rows[0])
			for i, row := range rows[1:] {
				assert.Equal(t, strconv.Itoa(tc.rounds[i]), row[col])
			}

			var svg bytes.Buffer
			require.NoError(t, rep.WriteChart(&svg, "svg"))
			assert.Contains(t, svg.String(), "INCOMPLETE")
		})
	}
}

// startServer starts a LocalServer for cfg, closed at the end of the test.
func startServer(t *testing.T, cfg load.ServerConfig) *load.LocalServer {
	t.Helper()
	ls, err := load.StartServer(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, ls.Close()) })
	return ls
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   compare.Config
		field string
	}{
		{"no models", compare.Config{}, "Models"},
		{"negative repeat", compare.Config{Models: []load.ModelSpec{{}}, Repeat: -1}, "Repeat"},
		{"bad load", compare.Config{Models: []load.ModelSpec{{}}, Load: load.Config{Clients: -1}}, "Load.Clients"},
		{"bad window", compare.Config{Models: []load.ModelSpec{{}}, Window: load.Window{Warmup: -1}}, "Window.Warmup"},
		{"bad server", compare.Config{Models: []load.ModelSpec{{}}, Server: load.ServerConfig{Queue: -1}}, "Server.Queue"},
		{"rate slower than the window", compare.Config{Models: []load.ModelSpec{{}}, Load: load.Config{Rate: 0.5}, Window: load.Window{Duration: time.Second}}, "Load.Rate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			require.ErrorIs(t, err, load.ErrInvalidConfig)
			fes := load.FieldErrors(err)
			require.Len(t, fes, 1, "%v", err)
			assert.Equal(t, tc.field, fes[0].Field)
		})
	}
	require.NoError(t, compare.Config{Models: []load.ModelSpec{{}}}.Validate())
	require.NoError(t, compare.Config{Models: []load.ModelSpec{{}}, Load: load.Config{Rate: 1}, Window: load.Window{Duration: time.Second}}.Validate())
	require.NoError(t, compare.Config{Load: load.Config{Addr: "127.0.0.1:9407"}, Server: load.ServerConfig{Queue: -1}}.Validate(), "no server of its own to configure")
	err := compare.Config{Models: []load.ModelSpec{{}}, Load: load.Config{Rate: 1e-10}, Window: load.Window{Duration: time.Second}}.Validate()
	require.ErrorIs(t, err, load.ErrInvalidConfig)
}

// TestCompareRoundsCleanUp: every round of a comparison against a running
// server whose store is not the run's cleans up after itself.
func TestCompareRoundsCleanUp(t *testing.T) {
	store := booking.NewMemoryStore()
	svc, err := booking.New(store, booking.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { svc.Close() })
	ls := startServer(t, load.ServerConfig{Handler: svc})
	var mu sync.Mutex
	var cleanups []load.Cleanup
	rep, err := compare.Run(t.Context(), compare.Config{
		Load: load.Config{Addr: ls.Addr(), Clients: 3, JournalDir: t.TempDir(), OnCleanup: func(c load.Cleanup) {
			mu.Lock()
			defer mu.Unlock()
			cleanups = append(cleanups, c)
		}},
		Window: load.Window{Duration: 5 * time.Second, MaxRequests: 150},
		Repeat: 2,
	})
	require.NoError(t, err)
	require.Len(t, rep.Results, 1)
	assert.Zero(t, rep.Results[0].ErrorsAllRounds.Total())
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, cleanups, 2, "one clean-up a round")
	for _, c := range cleanups {
		assert.Positive(t, c.Booked)
		assert.Empty(t, c.Left)
	}
	for _, room := range wire.Rooms() {
		dates, err := store.DatesFor(t.Context(), room)
		require.NoError(t, err)
		assert.Empty(t, dates, "room %s: the runs' bookings are all unbooked", room)
	}
}

// TestNotesRate: a rate below one request a second is not printed as 0,
// and one client is "1 client".
func TestNotesRate(t *testing.T) {
	rep := &compare.Report{
		Results: []compare.ModelResult{{Label: "pool:1", Workers: 1, RPS: 0.25}},
		Env:     load.Env{InProcess: true, NumCPU: 2, Clients: 1, Repeat: 1, Rate: 0.25},
	}
	var out bytes.Buffer
	require.NoError(t, rep.WriteNotes(&out))
	assert.Contains(t, out.String(), "open loop at 0.25 req/s")
	assert.Contains(t, out.String(), "1 client on")
}

// TestCompareSeveralServers: two servers on one store (as two instances
// on one database) measured together: the clients are shared out, each
// server has its row and the sum is last, with the counts added and the
// latencies of every request of both (never an average of percentiles);
// no speed-up, since neither is a base for the other; and the store is
// left as it was.
func TestCompareSeveralServers(t *testing.T) {
	store := booking.NewMemoryStore()
	svc, err := booking.New(store, booking.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { svc.Close() })
	a := startServer(t, load.ServerConfig{Handler: svc})
	b := startServer(t, load.ServerConfig{Handler: svc, WorkDelay: 2 * time.Millisecond})
	var steps []compare.Progress
	rep, err := compare.Run(t.Context(), compare.Config{
		Addrs:    []string{a.Addr(), b.Addr()},
		Load:     load.Config{Clients: 5, JournalDir: t.TempDir()},
		Window:   load.Window{Warmup: 20 * time.Millisecond, Duration: 200 * time.Millisecond},
		Progress: func(s compare.Progress) { steps = append(steps, s) },
	})
	require.NoError(t, err)
	require.Len(t, steps, 1, "one window a round, on both at once")
	require.Len(t, rep.Results, 3)
	ra, rb, sum := rep.Results[0], rep.Results[1], rep.Results[2]
	assert.Equal(t, a.Addr(), ra.Label)
	assert.Equal(t, b.Addr(), rb.Label)
	assert.Equal(t, "sum of 2", sum.Label)
	assert.Equal(t, 2, rep.Servers)
	assert.False(t, rep.HasSpeedUp())
	assert.Equal(t, a.Addr()+","+b.Addr(), rep.Env.Addr)

	ga, gb, gs := ra.Rounds[0], rb.Rounds[0], sum.Rounds[0]
	assert.Equal(t, 3, ga.Clients, "the first server takes the odd client")
	assert.Equal(t, 2, gb.Clients)
	assert.Equal(t, 5, gs.Clients)
	assert.Equal(t, ga.Requests+gb.Requests, gs.Requests)
	assert.InDelta(t, ga.RPS+gb.RPS, gs.RPS, 1e-6)
	assert.Equal(t, ga.Latency.Count+gb.Latency.Count, gs.Latency.Count)
	assert.Greater(t, ga.RPS, gb.RPS, "b's work delay slows it")
	// b's requests all take 2 ms or more and a's far less; b serves
	// fewer, so the median of all is a's side and the 99th b's.
	assert.Less(t, gs.Latency.P50, 2*time.Millisecond)
	assert.GreaterOrEqual(t, gs.Latency.P99, 2*time.Millisecond)
	assert.Zero(t, ga.CPU.PerRequest, "one process's CPU: only the sum has it")
	for _, room := range wire.Rooms() {
		dates, err := store.DatesFor(t.Context(), room)
		require.NoError(t, err)
		assert.Empty(t, dates, "room %s: the runs' bookings are all unbooked", room)
	}

	err = compare.Config{Addrs: []string{a.Addr(), b.Addr(), "127.0.0.1:1"}, Load: load.Config{Clients: 2}}.Validate()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "at least one per server")
}
