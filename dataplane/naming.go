package dataplane

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
)

// DefaultPrefix starts the name of every namespace the data plane creates.
const DefaultPrefix = "isth"

var prefixRE = regexp.MustCompile(`^[a-z0-9]{1,12}$`)

// CheckPrefix refuses a prefix that is not 1 to 12 lower-case letters and
// digits. (No dash, so that one prefix is never the start of another's
// "<prefix>-" namespaces.)
func CheckPrefix(p string) error {
	if !prefixRE.MatchString(p) {
		return fmt.Errorf("dataplane: prefix %q must be 1 to 12 lower-case letters or digits", p)
	}
	return nil
}

// VpcNamespace is the name of a VPC's router namespace: <prefix>-<vpc id>.
func VpcNamespace(prefix, vpcID string) string { return prefix + "-" + vpcID }

// ENINamespace is the name of a network interface's namespace:
// <prefix>-<eni id>.
func ENINamespace(prefix, eniID string) string { return prefix + "-" + eniID }

// ObjectOfNamespace returns the id of the object a namespace of this
// prefix belongs to (the inverse of VpcNamespace and ENINamespace).
func ObjectOfNamespace(prefix, ns string) (string, bool) {
	return strings.CutPrefix(ns, prefix+"-")
}

// Interface names (at most 15 bytes).
const (
	// ENIDevice is the interface's own device inside its namespace.
	ENIDevice = "eth0"
	// ResolverDevice is the device in a VPC namespace that holds the VPC
	// resolver's address.
	ResolverDevice = "lo"
)

// BridgeName is the bridge of a subnet in its VPC namespace:
// br-<first 8 hex digits of the subnet id>.
func BridgeName(subnetID string) string { return "br-" + idHex(subnetID)[:8] }

// VethPeerName is the VPC-side end of an interface's veth pair, a port of
// its subnet's bridge: v<first 12 hex digits of the interface id>.
func VethPeerName(eniID string) string { return "v" + idHex(eniID)[:12] }

// gatewayMAC is the fixed hardware address of a subnet's bridge (and so of
// its gateway): 0e: then the first 10 hex digits of the subnet id. A bridge
// with an address of its own keeps it when ports come and go, so the
// interfaces' ARP entries for the gateway never go stale.
func gatewayMAC(subnetID string) string { return idMAC("0e", subnetID) }

// interfaceMAC is the address of an interface's eth0: the MAC the API gave
// it, or, if that is not a MAC, 02: then the first 10 hex digits of its id.
func interfaceMAC(eniID, mac string) string {
	if m := normalMAC(mac); m != "" {
		return m
	}
	return idMAC("02", eniID)
}

// idMAC is a locally administered unicast MAC: first, then the first 10 hex
// digits of the id.
func idMAC(first, id string) string {
	h := idHex(id)
	return first + ":" + h[0:2] + ":" + h[2:4] + ":" + h[4:6] + ":" + h[6:8] + ":" + h[8:10]
}

// idHex returns the hex digits of an AWS-style id (vpc-0123abcd… →
// 0123abcd…), or, for an id that has fewer than 12 of them, hex digits
// derived from the whole id, so that names are always well formed.
func idHex(id string) string {
	if i := strings.LastIndexByte(id, '-'); i >= 0 {
		h := id[i+1:]
		if len(h) >= 12 && isHex(h) {
			return h
		}
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

func isHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
