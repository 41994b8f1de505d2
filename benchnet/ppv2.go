//go:build linux

package benchnet

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
)

// The PROXY protocol version 2 header, as far as a server that strips it
// needs to know it (HAProxy's proxy-protocol.txt, section 2.2; AWS's TLV
// from the Network Load Balancer guide).
var ppv2Signature = []byte("\r\n\r\n\x00\r\nQUIT\n")

const (
	ppv2Local    = 0x20
	ppv2Proxy    = 0x21
	ppv2TCP4     = 0x11
	ppv2TCP6     = 0x21
	ppv2TypeAWS  = 0xEA
	ppv2AWSVPCE  = 0x01
	ppv2FixedLen = 16
)

// ErrNoPPv2 is returned by ReadPPv2 when the stream does not start with
// the PROXY v2 signature.
var ErrNoPPv2 = errors.New("no PROXY protocol v2 header")

// PPv2Info is what a PROXY v2 header carried.
type PPv2Info struct {
	// Local is set for a LOCAL header (health checks): no addresses.
	Local bool
	// Src and Dst are the client's and the load balancer's address for a
	// TCP over IPv4 or IPv6 header.
	Src, Dst netip.AddrPort
	// VPCEndpointID is the value of AWS's TLV (type 0xEA, sub-type 0x01),
	// set when traffic came through an interface endpoint.
	VPCEndpointID string
}

func (h PPv2Info) String() string {
	if h.Local {
		return "LOCAL"
	}
	s := fmt.Sprintf("PROXY %s → %s", h.Src, h.Dst)
	if h.VPCEndpointID != "" {
		s += " " + h.VPCEndpointID
	}
	return s
}

// ReadPPv2 reads exactly one PROXY v2 header from r (and nothing after
// it, so r may be the connection itself) and returns what it carries. A
// stream that does not start with the signature gives ErrNoPPv2; a
// malformed header another error.
func ReadPPv2(r io.Reader) (PPv2Info, error) {
	var fixed [ppv2FixedLen]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return PPv2Info{}, err
	}
	if !bytes.Equal(fixed[:12], ppv2Signature) {
		return PPv2Info{}, ErrNoPPv2
	}
	rest := make([]byte, binary.BigEndian.Uint16(fixed[14:16]))
	if _, err := io.ReadFull(r, rest); err != nil {
		return PPv2Info{}, fmt.Errorf("PROXY v2 header: %w", err)
	}
	var h PPv2Info
	switch fixed[12] {
	case ppv2Local:
		h.Local = true
		return h, nil // addresses and TLVs of a LOCAL header are ignored
	case ppv2Proxy:
	default:
		return h, fmt.Errorf("PROXY v2 header: version/command byte %#02x", fixed[12])
	}
	var n int
	switch fixed[13] {
	case ppv2TCP4:
		if n = 12; len(rest) < n {
			return h, fmt.Errorf("PROXY v2 header: %d bytes of addresses for TCP/IPv4", len(rest))
		}
		h.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(rest[0:4])), binary.BigEndian.Uint16(rest[8:10]))
		h.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(rest[4:8])), binary.BigEndian.Uint16(rest[10:12]))
	case ppv2TCP6:
		if n = 36; len(rest) < n {
			return h, fmt.Errorf("PROXY v2 header: %d bytes of addresses for TCP/IPv6", len(rest))
		}
		h.Src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(rest[0:16])), binary.BigEndian.Uint16(rest[32:34]))
		h.Dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(rest[16:32])), binary.BigEndian.Uint16(rest[34:36]))
	default:
		return h, fmt.Errorf("PROXY v2 header: family/transport %#02x, want TCP", fixed[13])
	}
	for tlvs := rest[n:]; len(tlvs) > 0; {
		if len(tlvs) < 3 {
			return h, errors.New("PROXY v2 header: truncated TLV")
		}
		typ, l := tlvs[0], int(binary.BigEndian.Uint16(tlvs[1:3]))
		if len(tlvs) < 3+l {
			return h, fmt.Errorf("PROXY v2 header: TLV %#02x of %d bytes is truncated", typ, l)
		}
		if v := tlvs[3 : 3+l]; typ == ppv2TypeAWS && l > 0 && v[0] == ppv2AWSVPCE {
			h.VPCEndpointID = string(v[1:])
		}
		tlvs = tlvs[3+l:]
	}
	return h, nil
}

// appendPPv2 appends a PROXY header for TCP/IPv4 from src to dst, with
// AWS's endpoint TLV if vpce is set: what a load balancer would send.
// The tests use it.
func appendPPv2(b []byte, src, dst netip.AddrPort, vpce string) []byte {
	var body []byte
	s, d := src.Addr().As4(), dst.Addr().As4()
	body = append(body, s[:]...)
	body = append(body, d[:]...)
	body = binary.BigEndian.AppendUint16(body, src.Port())
	body = binary.BigEndian.AppendUint16(body, dst.Port())
	if vpce != "" {
		body = append(body, ppv2TypeAWS)
		body = binary.BigEndian.AppendUint16(body, uint16(1+len(vpce)))
		body = append(body, ppv2AWSVPCE)
		body = append(body, vpce...)
	}
	b = append(b, ppv2Signature...)
	b = append(b, ppv2Proxy, ppv2TCP4)
	b = binary.BigEndian.AppendUint16(b, uint16(len(body)))
	return append(b, body...)
}
