package faults

import (
	"context"
	"net"
	"slices"
)

// Dialer dials connections with faults applied, as by Wrap. The zero value
// dials with a zero net.Dialer and applies no faults. A Dialer is safe for
// concurrent use as long as its fields are not changed.
type Dialer struct {
	// Dial makes the underlying connection; nil means a zero net.Dialer's
	// DialContext.
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// Faults are applied to every connection.
	Faults []Fault
	// Seed seeds the random sources of the faults. Every connection uses
	// the same seed, so each replays the same random choices for the same
	// traffic.
	Seed uint64
}

// DialContext dials address and wraps the connection. It returns an error
// wrapping ErrInvalidFault, without dialing, if a fault fails its Validate.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if err := validateAll(d.Faults); err != nil {
		return nil, err
	}
	dial := d.Dial
	if dial == nil {
		var nd net.Dialer
		dial = nd.DialContext
	}
	c, err := dial(ctx, network, address)
	if err != nil {
		return nil, err
	}
	fs := slices.Clone(d.Faults)
	return wrap(c, fs, fs, d.Seed, laneConn), nil
}
