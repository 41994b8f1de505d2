package proxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net"
	"net/netip"
	"strings"
)

// Signature is the 12 bytes every PROXY protocol version 2 header starts
// with.
const Signature = "\r\n\r\n\x00\r\nQUIT\n"

// Sizes of the header's parts.
const (
	// FixedLen is the length of the fixed part: the signature, the
	// version and command, the family and transport and the length.
	FixedLen = 16
	// MaxLen is the longest header there can be: the length field is 16
	// bits.
	MaxLen = FixedLen + 0xFFFF
	// UnixPathLen is the size of each UNIX address, NUL-padded.
	UnixPathLen = 108
)

// Command is the low nibble of the 13th byte.
type Command byte

const (
	// CommandLocal: the connection was made by the proxy itself (a health
	// check); the receiver uses the real connection endpoints.
	CommandLocal Command = 0x0
	// CommandProxy: the connection is relayed on behalf of the source address.
	CommandProxy Command = 0x1
)

func (c Command) String() string {
	switch c {
	case CommandLocal:
		return "LOCAL"
	case CommandProxy:
		return "PROXY"
	}
	return fmt.Sprintf("Command(%#x)", byte(c))
}

// Family is the high nibble of the 14th byte.
type Family byte

const (
	Unspec Family = 0x0 // AF_UNSPEC: no addresses
	INET   Family = 0x1 // AF_INET: IPv4 addresses
	INET6  Family = 0x2 // AF_INET6: IPv6 addresses
	UNIX   Family = 0x3 // AF_UNIX: socket paths
)

func (f Family) String() string {
	switch f {
	case Unspec:
		return "UNSPEC"
	case INET:
		return "INET"
	case INET6:
		return "INET6"
	case UNIX:
		return "UNIX"
	}
	return fmt.Sprintf("Family(%#x)", byte(f))
}

// addrLen is the size of the address block of a family.
func (f Family) addrLen() int {
	switch f {
	case INET:
		return 12
	case INET6:
		return 36
	case UNIX:
		return 2 * UnixPathLen
	}
	return 0
}

// Transport is the low nibble of the 14th byte.
type Transport byte

const (
	UnspecTransport Transport = 0x0
	Stream          Transport = 0x1 // SOCK_STREAM: TCP
	Datagram        Transport = 0x2 // SOCK_DGRAM: UDP
)

func (t Transport) String() string {
	switch t {
	case UnspecTransport:
		return "UNSPEC"
	case Stream:
		return "STREAM"
	case Datagram:
		return "DGRAM"
	}
	return fmt.Sprintf("Transport(%#x)", byte(t))
}

// TLV types of the specification (section 2.2.1 onwards) and AWS's.
const (
	TypeALPN      = 0x01
	TypeAuthority = 0x02
	TypeCRC32C    = 0x03
	TypeNoop      = 0x04
	TypeUniqueID  = 0x05
	TypeSSL       = 0x20
	TypeNetNS     = 0x30

	// TypeAWS is PP2_TYPE_AWS, AWS's custom type (in the range 0xE0-0xEF
	// the specification reserves for applications).
	TypeAWS = 0xEA
	// SubtypeAWSVPCEndpointID is PP2_SUBTYPE_AWS_VPCE_ID, the first byte
	// of a TypeAWS value that carries the id of the VPC endpoint the
	// connection came through.
	SubtypeAWSVPCEndpointID = 0x01
)

// TLV is one type-length-value vector of the header.
type TLV struct {
	Type  byte
	Value []byte
}

// Header is a PROXY protocol version 2 header.
//
// The zero Header is a LOCAL header with family UNSPEC, the one a load
// balancer sends on its health check connections.
type Header struct {
	Command   Command
	Family    Family
	Transport Transport

	// Source and Destination are the addresses of families INET (IPv4
	// addresses) and INET6 (IPv6 addresses, IPv4-mapped ones allowed).
	Source, Destination netip.AddrPort

	// SourcePath and DestinationPath are the addresses of family UNIX, at
	// most 108 bytes each (NUL-padded on the wire; an abstract socket
	// name starts with a NUL byte).
	SourcePath, DestinationPath string

	// VPCEndpointID, when not empty, is sent as the PP2_TYPE_AWS TLV with
	// subtype PP2_SUBTYPE_AWS_VPCE_ID, before the other TLVs. Parsing
	// moves the first such TLV here.
	VPCEndpointID string

	// TLVs are the other TLVs, in order. A TLV of type TypeCRC32C must
	// have a 4-byte value; encoding fills in the checksum of the whole
	// header (section 2.2.3), and parsing checks it.
	TLVs []TLV
}

// Errors of encoding and parsing. Parse errors wrap one of them.
var (
	// ErrNotProxy: the bytes do not start with the version 2 signature.
	ErrNotProxy = errors.New("proxy: not a PROXY protocol v2 header")
	// ErrShort: the bytes are a prefix of a header; read more.
	ErrShort = errors.New("proxy: incomplete PROXY protocol v2 header")
	// ErrInvalid: the header breaks the specification.
	ErrInvalid = errors.New("proxy: invalid PROXY protocol v2 header")
	// ErrChecksum: the PP2_TYPE_CRC32C TLV does not match the header.
	ErrChecksum = errors.New("proxy: PROXY protocol v2 header checksum mismatch")
)

// LocalHeader returns the header of a health check connection: LOCAL, family
// UNSPEC, no addresses.
func LocalHeader() Header { return Header{} }

// NewHeader returns a PROXY header for a TCP connection from src to dst. The
// family is INET when both addresses are IPv4 (IPv4-mapped IPv6 addresses,
// as a dual-stack socket reports them, count as IPv4) and INET6 otherwise,
// with IPv4 addresses then mapped into IPv6 as HAProxy does. If either
// address is invalid the header has family UNSPEC and no addresses.
func NewHeader(src, dst netip.AddrPort) Header {
	h := Header{Command: CommandProxy, Transport: Stream}
	if !src.IsValid() || !dst.IsValid() {
		h.Transport = UnspecTransport
		return h
	}
	sa, da := src.Addr().Unmap().WithZone(""), dst.Addr().Unmap().WithZone("")
	if sa.Is4() && da.Is4() {
		h.Family = INET
	} else {
		h.Family = INET6
		sa, da = netip.AddrFrom16(sa.As16()), netip.AddrFrom16(da.As16())
	}
	h.Source = netip.AddrPortFrom(sa, src.Port())
	h.Destination = netip.AddrPortFrom(da, dst.Port())
	return h
}

// HeaderFor returns NewHeader(remote, local) for a connection a proxy accepted:
// the client is the source, the address it connected to the destination.
// Addresses that are not TCP or UDP addresses give an UNSPEC header.
func HeaderFor(c net.Conn) Header {
	h := NewHeader(addrPort(c.RemoteAddr()), addrPort(c.LocalAddr()))
	if _, ok := c.LocalAddr().(*net.UDPAddr); ok && h.Family != Unspec {
		h.Transport = Datagram
	}
	return h
}

func addrPort(a net.Addr) netip.AddrPort {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort()
	case *net.UDPAddr:
		return a.AddrPort()
	}
	return netip.AddrPort{}
}

// Len returns the length of the encoded header, without checking it.
func (h *Header) Len() int {
	n := FixedLen + h.Family.addrLen()
	if h.VPCEndpointID != "" {
		n += 3 + 1 + len(h.VPCEndpointID)
	}
	for _, t := range h.TLVs {
		n += 3 + len(t.Value)
	}
	return n
}

// check reports what makes h impossible to encode.
func (h *Header) check() error {
	if h.Command != CommandLocal && h.Command != CommandProxy {
		return fmt.Errorf("%w: command %#x", ErrInvalid, byte(h.Command))
	}
	switch h.Family {
	case Unspec:
		if h.Transport != UnspecTransport {
			return fmt.Errorf("%w: family UNSPEC with transport %s", ErrInvalid, h.Transport)
		}
	case INET, INET6, UNIX:
		if h.Transport != Stream && h.Transport != Datagram {
			return fmt.Errorf("%w: family %s with transport %s", ErrInvalid, h.Family, h.Transport)
		}
	default:
		return fmt.Errorf("%w: family %#x", ErrInvalid, byte(h.Family))
	}
	switch h.Family {
	case INET:
		if !h.Source.Addr().Is4() || !h.Destination.Addr().Is4() {
			return fmt.Errorf("%w: family INET needs IPv4 addresses, not %v and %v", ErrInvalid, h.Source, h.Destination)
		}
	case INET6:
		if !h.Source.Addr().Is6() || !h.Destination.Addr().Is6() {
			return fmt.Errorf("%w: family INET6 needs IPv6 addresses, not %v and %v", ErrInvalid, h.Source, h.Destination)
		}
	case UNIX:
		if len(h.SourcePath) > UnixPathLen || len(h.DestinationPath) > UnixPathLen {
			return fmt.Errorf("%w: UNIX paths are at most %d bytes", ErrInvalid, UnixPathLen)
		}
	}
	if h.Family != INET && h.Family != INET6 && (h.Source.IsValid() || h.Destination.IsValid()) {
		return fmt.Errorf("%w: family %s carries no IP addresses", ErrInvalid, h.Family)
	}
	if h.Family != UNIX && (h.SourcePath != "" || h.DestinationPath != "") {
		return fmt.Errorf("%w: family %s carries no paths", ErrInvalid, h.Family)
	}
	if 1+len(h.VPCEndpointID) > 0xFFFF {
		return fmt.Errorf("%w: VPC endpoint id too long", ErrInvalid)
	}
	for _, t := range h.TLVs {
		if len(t.Value) > 0xFFFF {
			return fmt.Errorf("%w: TLV %#x value of %d bytes", ErrInvalid, t.Type, len(t.Value))
		}
		if t.Type == TypeCRC32C && len(t.Value) != 4 {
			return fmt.Errorf("%w: CRC32C TLV value of %d bytes", ErrInvalid, len(t.Value))
		}
	}
	if h.Len() > MaxLen {
		return fmt.Errorf("%w: header of %d bytes", ErrInvalid, h.Len())
	}
	return nil
}

// AppendBinary appends the encoded header to b (encoding.BinaryAppender).
// It allocates nothing when b has room for Len() more bytes.
func (h *Header) AppendBinary(b []byte) ([]byte, error) {
	if err := h.check(); err != nil {
		return b, err
	}
	start := len(b)
	b = append(b, Signature...)
	b = append(b, 0x20|byte(h.Command), byte(h.Family)<<4|byte(h.Transport))
	b = binary.BigEndian.AppendUint16(b, uint16(h.Len()-FixedLen))
	switch h.Family {
	case INET:
		s, d := h.Source.Addr().As4(), h.Destination.Addr().As4()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
		b = binary.BigEndian.AppendUint16(b, h.Source.Port())
		b = binary.BigEndian.AppendUint16(b, h.Destination.Port())
	case INET6:
		s, d := h.Source.Addr().As16(), h.Destination.Addr().As16()
		b = append(b, s[:]...)
		b = append(b, d[:]...)
		b = binary.BigEndian.AppendUint16(b, h.Source.Port())
		b = binary.BigEndian.AppendUint16(b, h.Destination.Port())
	case UNIX:
		b = appendPath(b, h.SourcePath)
		b = appendPath(b, h.DestinationPath)
	}
	if h.VPCEndpointID != "" {
		b = append(b, TypeAWS)
		b = binary.BigEndian.AppendUint16(b, uint16(1+len(h.VPCEndpointID)))
		b = append(b, SubtypeAWSVPCEndpointID)
		b = append(b, h.VPCEndpointID...)
	}
	crc := -1
	for _, t := range h.TLVs {
		b = append(b, t.Type)
		b = binary.BigEndian.AppendUint16(b, uint16(len(t.Value)))
		if t.Type == TypeCRC32C && crc < 0 {
			crc = len(b)
			b = append(b, 0, 0, 0, 0)
			continue
		}
		b = append(b, t.Value...)
	}
	if crc >= 0 {
		binary.BigEndian.PutUint32(b[crc:], crc32.Checksum(b[start:], castagnoli))
	}
	return b, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func appendPath(b []byte, p string) []byte {
	b = append(b, p...)
	for range UnixPathLen - len(p) {
		b = append(b, 0)
	}
	return b
}

// MarshalBinary returns the encoded header.
func (h *Header) MarshalBinary() ([]byte, error) {
	return h.AppendBinary(make([]byte, 0, h.Len()))
}

// UnmarshalBinary decodes b, which must hold exactly one header.
func (h *Header) UnmarshalBinary(b []byte) error {
	p, n, err := Parse(b)
	if err != nil {
		return err
	}
	if n != len(b) {
		return fmt.Errorf("%w: %d bytes after the header", ErrInvalid, len(b)-n)
	}
	*h = p
	return nil
}

// TLV returns the value of the first TLV of type t in h.TLVs.
func (h *Header) TLV(t byte) ([]byte, bool) {
	for _, v := range h.TLVs {
		if v.Type == t {
			return v.Value, true
		}
	}
	return nil, false
}

// String describes the header on one line, for logs and tests:
//
//	PROXY TCP4 10.0.0.1:40000 -> 10.0.1.5:80 vpce=vpce-0123456789abcdef0
//	LOCAL UNSPEC
func (h *Header) String() string {
	var s strings.Builder
	s.WriteString(h.Command.String())
	s.WriteByte(' ')
	switch h.Family {
	case Unspec:
		s.WriteString("UNSPEC")
	case INET, INET6, UNIX:
		proto := map[Transport]string{Stream: "TCP", Datagram: "UDP"}[h.Transport]
		if h.Family == UNIX {
			proto = map[Transport]string{Stream: "UNIX-STREAM", Datagram: "UNIX-DGRAM"}[h.Transport]
		} else if h.Family == INET {
			proto += "4"
		} else {
			proto += "6"
		}
		s.WriteString(proto)
		if h.Family == UNIX {
			fmt.Fprintf(&s, " %q -> %q", h.SourcePath, h.DestinationPath)
		} else {
			fmt.Fprintf(&s, " %v -> %v", h.Source, h.Destination)
		}
	default:
		fmt.Fprintf(&s, "%s/%s", h.Family, h.Transport)
	}
	if h.VPCEndpointID != "" {
		fmt.Fprintf(&s, " vpce=%s", h.VPCEndpointID)
	}
	for _, t := range h.TLVs {
		fmt.Fprintf(&s, " tlv[%#02x]=%x", t.Type, t.Value)
	}
	return s.String()
}
