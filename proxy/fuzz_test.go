package proxy

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzParse: Parse never panics, accepts or refuses with one of its errors,
// agrees with Read, and what it accepts re-encodes to bytes that parse to
// the same header.
func FuzzParse(f *testing.F) {
	for _, c := range goldenHeaders {
		b, _ := c.h.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte(Signature))
	f.Add([]byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := Parse(b)
		rh, rerr := Read(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrShort) && !errors.Is(err, ErrNotProxy) && !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrChecksum) {
				t.Fatalf("Parse error %v is none of the package's", err)
			}
			if rerr == nil {
				t.Fatalf("Parse refused (%v) what Read accepted", err)
			}
			return
		}
		if n < FixedLen || n > len(b) {
			t.Fatalf("Parse consumed %d of %d bytes", n, len(b))
		}
		if rerr != nil || !reflect.DeepEqual(rh, h) {
			t.Fatalf("Read = %v, %v; Parse = %v", rh.String(), rerr, h.String())
		}
		enc, err := h.MarshalBinary()
		if err != nil {
			t.Fatalf("re-encoding %s: %v", h.String(), err)
		}
		h2, n2, err := Parse(enc)
		if err != nil || n2 != len(enc) || !reflect.DeepEqual(h2, h) {
			t.Fatalf("re-encoded header parses to %s, %v (was %s)", h2.String(), err, h.String())
		}
	})
}
