package wire

import (
	"encoding/binary"
	"fmt"
	"math"
	"unicode/utf16"
	"unicode/utf8"
)

// nullString is the QString byte length that marks a null string.
const nullString = math.MaxUint32

// AppendUint16 appends a QDataStream quint16 (big-endian).
func AppendUint16(dst []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(dst, v) }

// AppendUint32 appends a QDataStream quint32 (big-endian).
func AppendUint32(dst []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(dst, v) }

// AppendInt32 appends a QDataStream qint32 (big-endian, two's complement).
func AppendInt32(dst []byte, v int32) []byte { return binary.BigEndian.AppendUint32(dst, uint32(v)) }

// AppendString appends s as a QDataStream QString: a quint32 byte length,
// then UTF-16BE code units, with surrogate pairs for characters past U+FFFF.
// Invalid UTF-8 in s is written as U+FFFD. The empty string is written with
// length 0, not as a null string.
func AppendString(dst []byte, s string) []byte {
	lenAt := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	for _, r := range s {
		if r >= 0x10000 {
			hi, lo := utf16.EncodeRune(r)
			dst = binary.BigEndian.AppendUint16(dst, uint16(hi))
			dst = binary.BigEndian.AppendUint16(dst, uint16(lo))
			continue
		}
		dst = binary.BigEndian.AppendUint16(dst, uint16(r))
	}
	binary.BigEndian.PutUint32(dst[lenAt:], uint32(len(dst)-lenAt-4))
	return dst
}

// AppendNullString appends a null QString (length 0xFFFFFFFF).
func AppendNullString(dst []byte) []byte { return AppendUint32(dst, nullString) }

// AppendDate appends a QDate in the Qt_4_2 encoding: its quint32 Julian Day
// Number, 0 for a null date.
func AppendDate(dst []byte, d Date) []byte { return AppendUint32(dst, uint32(d)) }

// Decoder reads QDataStream primitives from one block. Each method names the
// field it reads so that a failure is a *ProtocolError saying which field
// and where. A Decoder never reads outside its block and never allocates
// more than the block's length. Its zero value decodes an empty block.
type Decoder struct {
	buf []byte
	off int
}

// NewDecoder returns a Decoder over block.
func NewDecoder(block []byte) Decoder { return Decoder{buf: block} }

// Remaining returns the number of unread bytes.
func (d *Decoder) Remaining() int { return len(d.buf) - d.off }

func (d *Decoder) fail(field string, err error) error {
	return &ProtocolError{Field: field, Offset: d.off, Err: err}
}

func (d *Decoder) take(field string, n int) ([]byte, error) {
	if n > d.Remaining() {
		return nil, d.fail(field, fmt.Errorf("%w: needs %d bytes, %d left", ErrShortField, n, d.Remaining()))
	}
	b := d.buf[d.off : d.off+n]
	d.off += n
	return b, nil
}

// Uint16 reads a quint16.
func (d *Decoder) Uint16(field string) (uint16, error) {
	b, err := d.take(field, 2)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint16(b), nil
}

// Uint32 reads a quint32.
func (d *Decoder) Uint32(field string) (uint32, error) {
	b, err := d.take(field, 4)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(b), nil
}

// Int32 reads a qint32.
func (d *Decoder) Int32(field string) (int32, error) {
	v, err := d.Uint32(field)
	return int32(v), err
}

// String reads a QString. A null string reads as "". An odd byte length, or
// one that runs past the end of the block, is a *ProtocolError (ErrOddLength,
// ErrShortField). Unpaired surrogates decode as U+FFFD.
func (d *Decoder) String(field string) (string, error) {
	start := d.off
	n, err := d.Uint32(field)
	if err != nil {
		return "", err
	}
	if n == nullString {
		return "", nil
	}
	if n%2 != 0 {
		d.off = start
		return "", d.fail(field, fmt.Errorf("%w: %d", ErrOddLength, n))
	}
	if left := d.Remaining(); uint64(n) > uint64(left) {
		d.off = start
		return "", d.fail(field, fmt.Errorf("%w: string of %d bytes, %d left", ErrShortField, n, left))
	}
	b, _ := d.take(field, int(n))
	return decodeUTF16(b), nil
}

// decodeUTF16 turns UTF-16BE bytes (even length) into a UTF-8 string.
func decodeUTF16(b []byte) string {
	ascii := true
	for i := 0; i < len(b); i += 2 {
		if b[i] != 0 || b[i+1] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		s := make([]byte, len(b)/2)
		for i := range s {
			s[i] = b[2*i+1]
		}
		return string(s)
	}
	out := make([]byte, 0, len(b)*3/2)
	for i := 0; i < len(b); i += 2 {
		r := rune(binary.BigEndian.Uint16(b[i:]))
		if utf16.IsSurrogate(r) {
			if r < 0xDC00 && i+3 < len(b) {
				if r2 := rune(binary.BigEndian.Uint16(b[i+2:])); r2 >= 0xDC00 && r2 < 0xE000 {
					out = utf8.AppendRune(out, utf16.DecodeRune(r, r2))
					i += 2
					continue
				}
			}
			r = utf8.RuneError
		}
		out = utf8.AppendRune(out, r)
	}
	return string(out)
}

// Date reads a QDate (quint32 Julian Day Number; 0 is the null date).
func (d *Decoder) Date(field string) (Date, error) {
	v, err := d.Uint32(field)
	return Date(v), err
}

// Finish reports ErrTrailingBytes when bytes are left after the last field.
func (d *Decoder) Finish() error {
	if r := d.Remaining(); r != 0 {
		return d.fail("end of block", fmt.Errorf("%w: %d", ErrTrailingBytes, r))
	}
	return nil
}
