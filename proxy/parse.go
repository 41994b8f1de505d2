package proxy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/netip"
)

// Parse decodes the header at the start of b and returns it with its
// length. It returns ErrShort while b is a proper prefix of a header (read
// more and try again), ErrNotProxy when b cannot start a version 2 header,
// and an error wrapping ErrInvalid or ErrChecksum when the header breaks
// the specification: another version, a command other than LOCAL and
// PROXY, a family and transport pair the specification does not define,
// a length shorter than the family's addresses, or TLVs that do not fill
// the rest exactly.
//
// Unknown TLV types are kept in TLVs, as the specification asks receivers
// to ignore them. The returned header does not share memory with b.
func Parse(b []byte) (Header, int, error) {
	n := min(len(b), len(Signature))
	if !bytes.Equal(b[:n], []byte(Signature[:n])) {
		return Header{}, 0, ErrNotProxy
	}
	if len(b) < FixedLen {
		return Header{}, 0, ErrShort
	}
	if err := checkFixed(b[:FixedLen]); err != nil {
		return Header{}, 0, err
	}
	total := FixedLen + int(binary.BigEndian.Uint16(b[14:16]))
	if len(b) < total {
		return Header{}, 0, ErrShort
	}
	h, err := parseBody(b[:total])
	if err != nil {
		return Header{}, 0, err
	}
	return h, total, nil
}

// Read reads one header from r and nothing after it, so that r can then
// be handed to whoever reads the payload. A reader that ends before the
// header does gives io.ErrUnexpectedEOF (io.EOF if it ends before the
// first byte).
func Read(r io.Reader) (Header, error) {
	var fixed [FixedLen]byte
	if n, err := io.ReadFull(r, fixed[:]); err != nil {
		if m := min(n, len(Signature)); string(fixed[:m]) != Signature[:m] {
			return Header{}, ErrNotProxy
		}
		return Header{}, err
	}
	if string(fixed[:len(Signature)]) != Signature {
		return Header{}, ErrNotProxy
	}
	if err := checkFixed(fixed[:]); err != nil {
		return Header{}, err
	}
	b := make([]byte, FixedLen+int(binary.BigEndian.Uint16(fixed[14:16])))
	copy(b, fixed[:])
	if _, err := io.ReadFull(r, b[FixedLen:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Header{}, err
	}
	return parseBody(b)
}

// checkFixed validates the version, command, family and transport of the
// 16 fixed bytes, whose signature is already known to be right.
func checkFixed(b []byte) error {
	if v := b[12] >> 4; v != 2 {
		return fmt.Errorf("%w: version %d", ErrInvalid, v)
	}
	if c := Command(b[12] & 0x0F); c != CommandLocal && c != CommandProxy {
		return fmt.Errorf("%w: command %#x", ErrInvalid, byte(c))
	}
	switch b[13] {
	case 0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32:
	default:
		return fmt.Errorf("%w: family and transport %#02x", ErrInvalid, b[13])
	}
	if need := Family(b[13] >> 4).addrLen(); int(binary.BigEndian.Uint16(b[14:16])) < need {
		return fmt.Errorf("%w: length %d is shorter than the %s addresses (%d bytes)",
			ErrInvalid, binary.BigEndian.Uint16(b[14:16]), Family(b[13]>>4), need)
	}
	return nil
}

// parseBody decodes a whole header whose fixed part checkFixed accepted.
func parseBody(b []byte) (Header, error) {
	h := Header{
		Command:   Command(b[12] & 0x0F),
		Family:    Family(b[13] >> 4),
		Transport: Transport(b[13] & 0x0F),
	}
	a := b[FixedLen:]
	switch h.Family {
	case INET:
		h.Source = netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[0:4])), binary.BigEndian.Uint16(a[8:10]))
		h.Destination = netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[4:8])), binary.BigEndian.Uint16(a[10:12]))
	case INET6:
		h.Source = netip.AddrPortFrom(netip.AddrFrom16([16]byte(a[0:16])), binary.BigEndian.Uint16(a[32:34]))
		h.Destination = netip.AddrPortFrom(netip.AddrFrom16([16]byte(a[16:32])), binary.BigEndian.Uint16(a[34:36]))
	case UNIX:
		h.SourcePath = string(bytes.TrimRight(a[:UnixPathLen], "\x00"))
		h.DestinationPath = string(bytes.TrimRight(a[UnixPathLen:2*UnixPathLen], "\x00"))
	}
	rest := a[h.Family.addrLen():]

	// Count the TLVs first, so that they take one slice and one copy.
	count, crcAt := 0, -1
	for r := rest; len(r) > 0; count++ {
		if len(r) < 3 {
			return Header{}, fmt.Errorf("%w: %d bytes left after the TLVs", ErrInvalid, len(r))
		}
		l := int(binary.BigEndian.Uint16(r[1:3]))
		if len(r) < 3+l {
			return Header{}, fmt.Errorf("%w: TLV %#02x of %d bytes overruns the header", ErrInvalid, r[0], l)
		}
		if r[0] == TypeCRC32C {
			if l != 4 {
				return Header{}, fmt.Errorf("%w: CRC32C TLV of %d bytes", ErrInvalid, l)
			}
			if crcAt < 0 {
				crcAt = len(b) - len(r) + 3
			}
		}
		r = r[3+l:]
	}
	if crcAt >= 0 {
		want := binary.BigEndian.Uint32(b[crcAt:])
		c := crc32.Update(0, castagnoli, b[:crcAt])
		c = crc32.Update(c, castagnoli, []byte{0, 0, 0, 0})
		c = crc32.Update(c, castagnoli, b[crcAt+4:])
		if c != want {
			return Header{}, fmt.Errorf("%w: got %#08x, computed %#08x", ErrChecksum, want, c)
		}
	}
	if count == 0 {
		return h, nil
	}
	data := bytes.Clone(rest)
	tlvs := make([]TLV, 0, count)
	for r := data; len(r) > 0; {
		l := int(binary.BigEndian.Uint16(r[1:3]))
		t := TLV{Type: r[0], Value: r[3 : 3+l : 3+l]}
		r = r[3+l:]
		if h.VPCEndpointID == "" && t.Type == TypeAWS && l > 1 && t.Value[0] == SubtypeAWSVPCEndpointID {
			h.VPCEndpointID = string(t.Value[1:])
			continue
		}
		tlvs = append(tlvs, t)
	}
	if len(tlvs) > 0 {
		h.TLVs = tlvs
	}
	return h, nil
}
