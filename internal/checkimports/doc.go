// Command checkimports enforces the one-way import rule (README, Layout): each
// package of the module may import only the packages listed for it, and
// nothing imports benchmarks or cmd. Test files are not checked. Run it
// from the module root: go run ./internal/checkimports
//
// It imports the standard library only.
package main
