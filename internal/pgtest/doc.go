// Package pgtest gives tests a real PostgreSQL: one throwaway cluster per
// test package, and a fresh database per test.
//
// DB starts the cluster the first time a test of the package asks for it:
// initdb and pg_ctl from PATH or from the newest
// /usr/lib/postgresql/*/bin, on a new temporary directory, listening on a
// Unix socket in that directory and on an ephemeral loopback TCP port
// (fsync and synchronous commit on, as in production). Both programs refuse
// to run as root, so when the tests run as root the cluster runs as the
// postgres user. Each test gets its own database (CREATE DATABASE), dropped
// when the test ends. With POOLSIDE_TEST_DB_URL set, no cluster is started:
// the databases are created on that server instead, whose user must be
// allowed to CREATE DATABASE.
//
// Without PostgreSQL, DB skips the test with a message saying how to
// enable it; under CI=true it fails the test instead, so a CI machine
// that lost PostgreSQL cannot pass by skipping.
//
// The cluster is stopped (pg_ctl stop -m fast) and its directory removed
// when the package's tests end: call Wrap in TestMain,
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.Wrap(m)) }
//
// Should a package not do so, or the test binary be killed, a watchdog
// process started with the cluster stops it and removes the directory as
// soon as the test binary is gone, so nothing is ever left running.
//
// pgtest is for tests only. It imports pgx and the standard library.
package pgtest
