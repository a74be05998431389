package main

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// risingTune is a short in-process search whose throughput still rises at
// its cap, the 4 clients: the last doubling of 10ms requests gains.
var risingTune = []string{"tune", "--clients", "4", "--work-delay", "10ms", "--step", "200ms", "--settle", "0s", "--max-steps", "6"}

// --strict fails a recommendation in doubt with exit status 7, after the
// whole report; without it the same run exits 0 and only warns.
func TestTuneStrict(t *testing.T) {
	stdout, stderr, err := runCLI(t, risingTune...)
	require.NoError(t, err, stderr)
	assert.Contains(t, stdout, "warning: do not trust this recommendation as it stands: throughput was still rising at the cap")
	assert.Contains(t, stdout, "the cap is --clients (4)")

	stdout, _, err = runCLI(t, append(append([]string{}, risingTune...), "--strict")...)
	require.Error(t, err)
	assert.Equal(t, exitDoubt, exitCode(err))
	assert.Contains(t, err.Error(), "--strict: the recommendation of 4 workers is in doubt: ")
	assert.Contains(t, err.Error(), "throughput was still rising at the cap")
	assert.Contains(t, stdout, "Recommendation: 4 workers.", "the report comes first")
}

// --fail-on judges the recommended size: exit status 6 when a threshold
// holds, 0 when none does; a bad expression is a usage error.
func TestTuneFailOn(t *testing.T) {
	stdout, _, err := runCLI(t, append(append([]string{}, risingTune...), "--fail-on", "p99>1ns,errors>0")...)
	require.Error(t, err)
	assert.Equal(t, exitGate, exitCode(err))
	assert.Contains(t, stdout, "fail-on: 1 of 2 checks failed")
	assert.Contains(t, stdout, "FAIL  recommended 4 workers: p99>1ns")
	assert.Contains(t, stdout, "pass  recommended 4 workers: errors>0")

	_, stderr, err := runCLI(t, append(append([]string{}, risingTune...), "--fail-on", "p99>1h")...)
	require.NoError(t, err, stderr)

	_, _, err = runCLI(t, append(append([]string{}, risingTune...), "--fail-on", "p99<=")...)
	require.Error(t, err)
	assert.Equal(t, exitUsage, exitCode(err))
	assert.Contains(t, err.Error(), "no value after <=")
}

// An admin API that cannot be reached, or refuses, is one sentence that
// says what to do, never a Go error chain.
func TestTuneAdminErrors(t *testing.T) {
	withJournalDir(t)
	srv := startLiveServer(t, 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	require.NoError(t, ln.Close())

	_, _, err = runCLI(t, "tune", "--addr", srv.addr, "--admin", closed, "--clients", "2", "--step", "100ms", "--settle", "0s")
	require.Error(t, err)
	assert.Equal(t, exitNetwork, exitCode(err))
	assert.Equal(t, "could not reach the admin API at "+closed+" to read the pool's size (connection refused): is poolside serve running with --admin-addr "+closed+", and is --admin its address?", err.Error())

	// The server's own protocol port is no admin API: it does not answer HTTP.
	_, _, err = runCLI(t, "tune", "--addr", srv.addr, "--admin", srv.addr, "--clients", "2", "--step", "100ms", "--settle", "0s")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "could not reach the admin API at "+srv.addr)
	for _, chain := range []string{"tune:", "dial tcp", "Get \"http"} {
		assert.NotContains(t, err.Error(), chain)
	}
}
