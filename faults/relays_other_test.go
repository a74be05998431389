//go:build !linux

package faults_test

import "github.com/poolside-dev/poolside/faults"

// relays are the ways a proxy relays a link with no faults elsewhere than
// Linux: a goroutine per direction, whether the faults may change or not.
var relays = []relay{{name: "goroutines"}, {name: "fixed", fixed: true}}

func relayLoop(*faults.Proxy) string { return "" }

// smallReceiveBuffer leaves the socket's buffer as it is here (the option's
// type differs by system); the slow reader is then only as slow as that.
func smallReceiveBuffer(uintptr) error { return nil }
