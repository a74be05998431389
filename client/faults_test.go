package client_test

import (
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/poolside-dev/poolside/client"
	"github.com/poolside-dev/poolside/faults"
	"github.com/poolside-dev/poolside/wire"
)

// TestThroughFaultDialer runs the client over TCP with faults injected on
// its side of the connection by faults.Dialer, through Config.Dialer.
// (Tests may use faults; the package itself imports wire only.)
func TestThroughFaultDialer(t *testing.T) {
	dialer := func(seed uint64, fs ...faults.Fault) client.Config {
		d := &faults.Dialer{Faults: fs, Seed: seed}
		return client.Config{Dialer: d.DialContext}
	}

	t.Run("replies in random pieces", func(t *testing.T) {
		for seed := range uint64(4) {
			s := startFake(t, func(_, n int, _ wire.Request) response {
				return response{bytes: frame(script[(n-1)%len(script)].rep)}
			})
			c := dialFake(t, s, dialer(seed, faults.OnRead(faults.Chunk{Min: 1, Max: 7}), faults.OnWrite(faults.Chunk{Max: 3})))
			for _, e := range script {
				doExchange(t, c, e)
			}
			assert.Equal(t, []int{len(script)}, s.requestsOn())
		}
	})

	t.Run("cut inside the second reply", func(t *testing.T) {
		s := startFake(t, echoing)
		first := len(echo(bookRq))
		c := dialFake(t, s, dialer(1, faults.OnRead(faults.Cut{At: int64(first + 10)})))
		require.NoError(t, c.Book(testCtx(t), "312", dec1))
		err := c.Book(testCtx(t), "313", dec1)
		require.ErrorIs(t, err, client.ErrTruncated)
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
		var te *wire.TruncatedError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, 10, te.Got)
		assert.Equal(t, uint64(1), c.Stats().Discarded)
	})

	t.Run("reset before the reply, queries retried", func(t *testing.T) {
		s := startFake(t, echoing)
		cfg := dialer(1, faults.OnRead(faults.Reset{At: 0}))
		c := dialFake(t, s, cfg)
		_, err := c.BookingsOnDate(testCtx(t), dec1)
		require.ErrorIs(t, err, syscall.ECONNRESET)

		cfg.Retries, cfg.RetryBackoff = 2, time.Millisecond
		c = dialFake(t, s, cfg)
		_, err = c.BookingsOnDate(testCtx(t), dec1)
		require.ErrorIs(t, err, syscall.ECONNRESET, "every connection is reset, so the retries are used up")
		assert.Equal(t, uint64(2), c.Stats().Retries)
	})

	t.Run("blackholed reply times out", func(t *testing.T) {
		s := startFake(t, echoing)
		cfg := dialer(1, faults.OnRead(faults.Blackhole{}))
		cfg.Timeout = 50 * time.Millisecond
		c := dialFake(t, s, cfg)
		start := time.Now()
		err := c.Book(testCtx(t), "312", dec1)
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		assert.Less(t, time.Since(start), 5*time.Second)
	})
}
