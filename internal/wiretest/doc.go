// Package wiretest holds the wire-level helpers that tests of several
// packages share. Only tests import it, and it imports wire and the
// standard library only.
package wiretest
