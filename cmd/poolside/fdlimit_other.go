//go:build !unix

package main

// fileLimit returns 0: the file limit is not known on this system.
func fileLimit() int { return 0 }
