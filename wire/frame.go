package wire

import (
	"encoding/binary"
	"fmt"
	"io"
)

// MaxBlock is the largest block the quint16 framing can carry.
const MaxBlock = 0xFFFF

// DefaultMaxUint32Body is the body limit of a zero Uint32Framing.
const DefaultMaxUint32Body = 1 << 20

// Framing is a length-prefixed framing: a fixed-size header that gives the
// length of the body that follows. Implementations are stateless values,
// safe for concurrent use.
type Framing interface {
	// HeaderLen is the size of the length header in bytes.
	HeaderLen() int
	// BodyLen decodes a header of HeaderLen bytes. It returns an error
	// wrapping ErrFrameTooLarge when the length exceeds MaxBody.
	BodyLen(hdr []byte) (int, error)
	// MaxBody is the largest body the framing accepts.
	MaxBody() int
	// AppendHeader appends the header for an n-byte body to dst.
	AppendHeader(dst []byte, n int) ([]byte, error)
}

// Quint16 is the Building Services framing: a big-endian quint16 block size,
// then the block. Its zero value is ready to use.
type Quint16 struct{}

// HeaderLen returns 2.
func (Quint16) HeaderLen() int { return 2 }

// BodyLen returns the block size in hdr.
func (Quint16) BodyLen(hdr []byte) (int, error) { return int(binary.BigEndian.Uint16(hdr)), nil }

// MaxBody returns MaxBlock.
func (Quint16) MaxBody() int { return MaxBlock }

// AppendHeader appends the quint16 size of an n-byte block.
func (Quint16) AppendHeader(dst []byte, n int) ([]byte, error) {
	if n < 0 || n > MaxBlock {
		return dst, fmt.Errorf("%w: %d bytes, the quint16 framing carries at most %d", ErrFrameTooLarge, n, MaxBlock)
	}
	return binary.BigEndian.AppendUint16(dst, uint16(n)), nil
}

// Uint32Framing is a generic framing for users' own protocols: a big-endian
// uint32 body length, then the body. Max bounds the body so a reader never
// allocates more than Max bytes for one frame; zero means
// DefaultMaxUint32Body.
type Uint32Framing struct {
	Max int
}

// HeaderLen returns 4.
func (Uint32Framing) HeaderLen() int { return 4 }

// MaxBody returns the effective maximum body length.
func (f Uint32Framing) MaxBody() int {
	if f.Max <= 0 {
		return DefaultMaxUint32Body
	}
	return f.Max
}

// BodyLen returns the body length in hdr, or an error wrapping
// ErrFrameTooLarge when it exceeds MaxBody.
func (f Uint32Framing) BodyLen(hdr []byte) (int, error) {
	n := binary.BigEndian.Uint32(hdr)
	if uint64(n) > uint64(f.MaxBody()) {
		return 0, fmt.Errorf("%w: peer announced %d bytes, the limit is %d", ErrFrameTooLarge, n, f.MaxBody())
	}
	return int(n), nil
}

// AppendHeader appends the uint32 length of an n-byte body.
func (f Uint32Framing) AppendHeader(dst []byte, n int) ([]byte, error) {
	if n < 0 || n > f.MaxBody() {
		return dst, fmt.Errorf("%w: %d bytes, the limit is %d", ErrFrameTooLarge, n, f.MaxBody())
	}
	return binary.BigEndian.AppendUint32(dst, uint32(n)), nil
}

// ReadFrame reads one quint16-framed block from r; see ReadFrameWith.
func ReadFrame(r io.Reader, buf []byte) ([]byte, error) {
	return ReadFrameWith(r, Quint16{}, buf)
}

// ReadFrameWith reads one frame from r: it asks r for the header bytes, then
// for exactly the body, and never for a byte past the end of the frame, so
// the next frame's bytes stay unread in r. It returns the body, stored in
// buf when buf is large enough (pass the previous result's buffer back in
// to read without allocating) and in a new slice of exactly the body length
// otherwise.
//
// A clean end of input before the first header byte is io.EOF. An end of
// input inside the frame is a *TruncatedError (errors.Is io.ErrUnexpectedEOF).
// A header announcing more than f.MaxBody() wraps ErrFrameTooLarge, with
// nothing of the body read. Other errors from r, such as deadline errors,
// are returned as they are.
func ReadFrameWith(r io.Reader, f Framing, buf []byte) ([]byte, error) {
	h := f.HeaderLen()
	if cap(buf) < h {
		buf = make([]byte, h, 16)
	}
	hdr := buf[:h]
	if n, err := io.ReadFull(r, hdr); err != nil {
		return nil, frameError(err, n, h)
	}
	n, err := f.BodyLen(hdr)
	if err != nil {
		return nil, err
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	body := buf[:n]
	if got, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, frameError(err, h+got, h+n)
	}
	return body, nil
}

// frameError turns io.ReadFull's end-of-input errors into io.EOF (nothing
// read) or *TruncatedError (part of the frame read).
func frameError(err error, got, want int) error {
	switch {
	case err == io.EOF && got == 0:
		return io.EOF
	case err == io.ErrUnexpectedEOF:
		return &TruncatedError{Got: got, Want: want}
	}
	return err
}

// AppendFrame appends the quint16 header and payload to dst.
func AppendFrame(dst, payload []byte) ([]byte, error) {
	return AppendFrameWith(dst, Quint16{}, payload)
}

// AppendFrameWith appends f's header for payload, then payload, to dst.
func AppendFrameWith(dst []byte, f Framing, payload []byte) ([]byte, error) {
	dst, err := f.AppendHeader(dst, len(payload))
	if err != nil {
		return dst, err
	}
	return append(dst, payload...), nil
}

// WriteFrame writes payload as one quint16-framed block in a single Write.
func WriteFrame(w io.Writer, payload []byte) error {
	b, err := AppendFrame(make([]byte, 0, 2+len(payload)), payload)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
