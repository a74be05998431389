package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
)

const module = "github.com/poolside-dev/poolside"

// allowed maps a package (relative to the module) to the module packages
// and the outside modules it may import ("*": any outside module). The
// standard library is always allowed. Only commands (cmd/...) may import
// benchmarks/... (its packages import one another as listed); nothing
// imports cmd. A package not listed here fails the check, so a new package
// has to be given its place on purpose.
var allowed = map[string][]string{
	"wire":                  {},
	"faults":                {"internal/rawio", "golang.org/x/sys/unix"}, // unix: io_uring's system call numbers
	"pool":                  {"github.com/alitto/pond/v2"},
	"client":                {"wire", "internal/rawio"},
	"booking":               {"wire", "internal/textfmt", "go.etcd.io/bbolt", "github.com/jackc/pgx/v5"},
	"server":                {"pool", "wire", "github.com/sirupsen/logrus", "golang.org/x/time/rate"},
	"check":                 {"booking", "client", "faults", "wire", "github.com/anishathalye/porcupine"},
	"robustness":            {}, // tests only: doc.go imports nothing
	"internal/checkimports": {},
	"internal/wiretest":     {"wire"},                    // shared by tests only
	"internal/textfmt":      {},                          // text helpers of the reports and the CLI
	"internal/pgtest":       {"github.com/jackc/pgx/v5"}, // the tests' throwaway PostgreSQL
	"internal/rawio":        {},                          // raw reads and writes: client, load journal, proxy relay; standard library only

	// benchmarks/*: load knows the protocol's server and client; compare
	// and tune sit above it and never import each other; gate, the
	// --fail-on thresholds, is a leaf both use.
	"benchmarks/gate":            {},
	"benchmarks/load":            {"internal/textfmt", "internal/rawio", "booking", "client", "server", "wire", "github.com/HdrHistogram/hdrhistogram-go", "github.com/prometheus/client_model", "github.com/prometheus/common"},
	"benchmarks/compare":         {"benchmarks/load", "benchmarks/gate", "benchmarks/internal/render", "internal/textfmt", "github.com/HdrHistogram/hdrhistogram-go", "gonum.org/v1/plot"},
	"benchmarks/tune":            {"benchmarks/load", "benchmarks/gate", "benchmarks/internal/render", "internal/textfmt", "server", "gonum.org/v1/plot"},
	"benchmarks/internal/render": {"benchmarks/load", "booking", "internal/textfmt", "gonum.org/v1/plot"},
	// cmd/pginsert is bench-store.sh's Go peer of pgbench; it borrows
	// booking's plain words for pgx's errors.
	"cmd/pginsert": {"booking", "internal/rawio", "github.com/jackc/pgx/v5", "github.com/spf13/pflag"},
	"cmd/poolside": {"benchmarks/compare", "benchmarks/gate", "benchmarks/load", "benchmarks/tune", "check", "internal/textfmt", "booking", "client", "faults", "pool", "server", "wire", "*"},
}

type pkg struct {
	ImportPath string
	Imports    []string
	Standard   bool
}

func main() {
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "checkimports: go list failed:", err)
		os.Exit(2)
	}
	var problems []string
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			fmt.Fprintln(os.Stderr, "checkimports:", err)
			os.Exit(2)
		}
		problems = append(problems, check(p)...)
	}
	sort.Strings(problems)
	for _, p := range problems {
		fmt.Println(p)
	}
	if len(problems) > 0 {
		fmt.Printf("checkimports: %d import(s) break the dependency direction (README, Layout); if a new import is meant, add it to allowed in internal/checkimports/main.go\n", len(problems))
		os.Exit(1)
	}
	fmt.Println("checkimports: dependency direction ok")
}

// check returns one line for each import of p that its rule does not allow.
func check(p pkg) []string {
	rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
	rule, ok := allowed[rel]
	if !ok {
		return []string{fmt.Sprintf("%s: package has no import rule; add it to internal/checkimports", rel)}
	}
	var bad []string
	for _, imp := range p.Imports {
		if !strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") {
			continue // standard library
		}
		if r := strings.TrimPrefix(imp, module+"/"); r != imp && !strings.HasPrefix(rel, "cmd/") && !strings.HasPrefix(rel, "benchmarks/") && (strings.HasPrefix(r, "benchmarks/") || strings.HasPrefix(r, "cmd/")) {
			bad = append(bad, fmt.Sprintf("%s imports %s: nothing may import benchmarks or cmd", rel, r))
			continue
		}
		if !allows(rule, imp) {
			bad = append(bad, fmt.Sprintf("%s imports %s: not allowed (allowed: %s)", rel, imp, describe(rule)))
		}
	}
	return bad
}

func allows(rule []string, imp string) bool {
	for _, a := range rule {
		if (a == "*" && !strings.HasPrefix(imp, module+"/")) || imp == a || imp == module+"/"+a || strings.HasPrefix(imp, a+"/") {
			return true
		}
	}
	return false
}

func describe(rule []string) string {
	if len(rule) == 0 {
		return "standard library only"
	}
	return "standard library, " + strings.Join(rule, ", ")
}
