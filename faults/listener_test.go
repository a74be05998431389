package faults_test

import (
	"io"
	"net"
	"sync"
	"testing"

	"github.com/poolside-dev/poolside/faults"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWrapListenerOnly(t *testing.T) {
	tests := []struct {
		name string
		only int
		want []string
	}{
		{"all", 0, []string{"", "", ""}},
		{"second", 2, []string{"hi", "", "hi"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			ln := faults.WrapListener(raw, faults.ListenerConfig{
				Faults: []faults.Fault{faults.OnWrite(faults.Cut{At: 0})},
				Only:   tt.only,
			})
			var wg sync.WaitGroup
			t.Cleanup(func() {
				_ = ln.Close()
				wg.Wait()
			})
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					_, _ = c.Write([]byte("hi"))
					_ = c.Close()
				}
			}()
			// Dial one at a time, so accept order is dial order.
			var got []string
			for range tt.want {
				c, err := net.Dial("tcp", ln.Addr().String())
				require.NoError(t, err)
				b, err := io.ReadAll(c)
				require.NoError(t, err)
				require.NoError(t, c.Close())
				got = append(got, string(b))
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestListenerConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  faults.ListenerConfig
		err  error
	}{
		{"zero", faults.ListenerConfig{}, nil},
		{"only", faults.ListenerConfig{Only: 3, Faults: []faults.Fault{faults.Cut{}}}, nil},
		{"negative only", faults.ListenerConfig{Only: -1}, faults.ErrInvalidConfig},
		{"bad fault", faults.ListenerConfig{Faults: []faults.Fault{faults.Stall{At: -1}}}, faults.ErrInvalidFault},
		{"nil fault", faults.ListenerConfig{Faults: []faults.Fault{nil}}, faults.ErrInvalidFault},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.err == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.err)
			assert.Panics(t, func() { faults.WrapListener(nil, tt.cfg) })
		})
	}
}
