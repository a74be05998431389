package wiretest

import (
	"net"

	"github.com/poolside-dev/poolside/wire"
)

// Exchange writes req as one frame on nc and reads and decodes one reply,
// with none of the client package's retries or checks: a test sees exactly
// what the server sent.
func Exchange(nc net.Conn, req wire.Request) (wire.Reply, error) {
	b, err := req.MarshalBinary()
	if err != nil {
		return wire.Reply{}, err
	}
	if err := wire.WriteFrame(nc, b); err != nil {
		return wire.Reply{}, err
	}
	block, err := wire.ReadFrame(nc, nil)
	if err != nil {
		return wire.Reply{}, err
	}
	var r wire.Reply
	return r, r.UnmarshalBinary(block)
}
