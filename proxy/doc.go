// Package proxy is the userspace leg of the PrivateLink data path: the PROXY
// protocol version 2 codec and a TCP proxy that prepends a PROXY header to
// every connection it forwards.
//
// Isthmus carries endpoint traffic in the kernel (conntrack NAT across the
// transit links). Only listeners whose target group has
// proxy_protocol_v2.enabled go through a Proxy, because the header has to be
// written into the byte stream. The copy itself is still the kernel's:
// Proxy moves bytes with io.Copy between *net.TCPConn, which Linux turns
// into splice(2).
//
// # The header
//
// Header encodes and decodes the binary format of the HAProxy PROXY
// protocol specification, version 2 (proxy-protocol.txt, section 2.2):
//
//	offset  size  field
//	0       12    signature \r\n\r\n\x00\r\nQUIT\n
//	12      1     version (high nibble, always 2) and command (low nibble):
//	              0x20 LOCAL, 0x21 PROXY
//	13      1     address family (high nibble) and transport (low nibble):
//	              0x00 UNSPEC, 0x11 TCP/IPv4, 0x12 UDP/IPv4, 0x21 TCP/IPv6,
//	              0x22 UDP/IPv6, 0x31 UNIX stream, 0x32 UNIX datagram
//	14      2     length of what follows, big endian
//	16      12    IPv4: source, destination address, source, destination port
//	        36    IPv6: the same with 16-byte addresses
//	        216   UNIX: source and destination paths, 108 bytes each
//	...           TLVs: type (1), length (2, big endian), value
//
// A network load balancer whose target group enables proxy protocol v2
// sends a PROXY header with the client's address and port as the source and
// the load balancer's address and listener port as the destination. Traffic
// that arrives through an interface endpoint (PrivateLink) also carries
// AWS's TLV, documented in the Network Load Balancer guide ("Proxy
// protocol", "VPC endpoint services"):
//
//	type    1 byte   0xEA  PP2_TYPE_AWS
//	length  2 bytes  1 + len(endpoint id), big endian
//	value   1 byte   0x01  PP2_SUBTYPE_AWS_VPCE_ID
//	        n bytes  the endpoint id in ASCII, e.g. vpce-0123456789abcdef0
//
// Header.VPCEndpointID holds that id. Health check connections carry a
// header too, "without the client connection information": a LOCAL header
// with family UNSPEC and no addresses (LocalHeader()), which is 16 bytes long.
//
// # The proxy
//
// A Proxy serves listeners it is given: the data plane creates the
// listening socket inside the load balancer's namespace (netns.Do around
// net.Listen) and hands it to Serve, which may then run on any goroutine.
// For every accepted connection the Proxy asks Config.Header for the header
// (by default the connection's own remote and local addresses), dials the
// target through Config.Dial (the data plane chooses the target and the
// source address and namespace of the socket), writes the header and then
// copies both directions until both have ended. See Config for half-close,
// resets and the idle timeout, and Stats for the counters.
package proxy
