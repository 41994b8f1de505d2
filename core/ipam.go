package core

import (
	"encoding/binary"
	"net/netip"

	"github.com/isthmusnet/isthmus/awserr"
)

// Private IPv4 address allocation inside subnets.
//
// Every allocated address is one store record,
//
//	r/<region>/ip/<subnet-id>/<ip>  →  id of the network interface holding it
//
// written in the same transaction as the interface that takes it, so two
// calls can never be handed the same address and a call that fails leaves
// no address behind. The subnet's Used counter moves with the records, so
// AvailableIpAddressCount needs no scan. Every network interface holds
// exactly one record, so "the subnet has an address record" is the same as
// "the subnet has a network interface".
//
// As AWS does, the first four addresses of a subnet (network, VPC router,
// DNS, reserved) and the last one (broadcast) are never handed out.

// reservedHead is how many addresses at the start of a subnet are reserved;
// one more, the last, is reserved at the end.
const reservedHead = 4

// reservedCount is the number of reserved addresses in every subnet.
const reservedCount = reservedHead + 1

func ipPrefix(region, subnetID string) string { return "r/" + region + "/ip/" + subnetID + "/" }

func ipKey(region, subnetID string, a netip.Addr) string {
	return ipPrefix(region, subnetID) + a.String()
}

// prefixSize is the number of addresses in an IPv4 prefix.
func prefixSize(p netip.Prefix) int { return 1 << (32 - p.Bits()) }

// addrOffset is a's position in p (0 for the network address).
func addrOffset(p netip.Prefix, a netip.Addr) int {
	base, ip := p.Masked().Addr().As4(), a.As4()
	return int(binary.BigEndian.Uint32(ip[:]) - binary.BigEndian.Uint32(base[:]))
}

// addrAt is the address at offset off of p.
func addrAt(p netip.Prefix, off int) netip.Addr {
	base := p.Masked().Addr().As4()
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], binary.BigEndian.Uint32(base[:])+uint32(off))
	return netip.AddrFrom4(b)
}

// checkRequestedIP parses an address a caller asks for and refuses one that
// is not in p or is one of the addresses AWS reserves, with AWS's messages.
func checkRequestedIP(p netip.Prefix, want string) (netip.Addr, error) {
	a, err := netip.ParseAddr(want)
	if err != nil || !a.Is4() {
		return netip.Addr{}, awserr.InvalidParameterValue("invalid value for parameter address: %s", want)
	}
	if !p.Contains(a) {
		return netip.Addr{}, awserr.InvalidParameterValue("Address %s does not fall within the subnet's address range", want)
	}
	if off := addrOffset(p, a); off < reservedHead || off == prefixSize(p)-1 {
		return netip.Addr{}, awserr.InvalidParameterValue("Address %s is in subnet's reserved address range", want)
	}
	return a, nil
}

// allocateIP gives the network interface holder an address of s: want if it
// is not empty (it must be free), else the lowest free one. It records the
// allocation, counts it in s and saves s.
func (tx *Tx) allocateIP(s *Subnet, want, holder string) (netip.Addr, error) {
	p, ok := ParseCIDR(s.CidrBlock)
	if !ok {
		return netip.Addr{}, awserr.Internal()
	}
	var a netip.Addr
	if want != "" {
		var err error
		if a, err = checkRequestedIP(p, want); err != nil {
			return netip.Addr{}, err
		}
		if _, taken := tx.Get(ipKey(s.Region, s.ID, a)); taken {
			return netip.Addr{}, awserr.New("InvalidIPAddress.InUse", "The specified address is already in use.")
		}
	} else {
		if s.AvailableIPAddressCount() <= 0 {
			return netip.Addr{}, insufficientAddresses()
		}
		used := map[int]bool{}
		err := tx.Scan(ipPrefix(s.Region, s.ID), "", func(key string, _ []byte) bool {
			if u, err := netip.ParseAddr(key[len(ipPrefix(s.Region, s.ID)):]); err == nil {
				used[addrOffset(p, u)] = true
			}
			return true
		})
		if err != nil {
			return netip.Addr{}, err
		}
		off := reservedHead
		for ; off < prefixSize(p)-1 && used[off]; off++ {
		}
		if off >= prefixSize(p)-1 {
			return netip.Addr{}, insufficientAddresses()
		}
		a = addrAt(p, off)
	}
	if err := tx.Put(ipKey(s.Region, s.ID, a), []byte(holder)); err != nil {
		return netip.Addr{}, err
	}
	s.Used++
	return a, tx.save(kindSubnet, s)
}

func insufficientAddresses() error {
	return awserr.New("InsufficientFreeAddressesInSubnet", "The specified subnet does not contain enough free private IP addresses to fulfill your request.")
}

// releaseIP frees address a of s, if it is allocated, and saves s.
func (tx *Tx) releaseIP(s *Subnet, a string) error {
	addr, err := netip.ParseAddr(a)
	if err != nil {
		return nil // never allocated
	}
	key := ipKey(s.Region, s.ID, addr)
	if _, ok := tx.Get(key); !ok {
		return nil
	}
	if err := tx.Delete(key); err != nil {
		return err
	}
	if s.Used > 0 {
		s.Used--
	}
	return tx.save(kindSubnet, s)
}

// subnetHasAddresses reports whether any address of the subnet is
// allocated, that is whether any network interface is in it.
func (tx *Tx) subnetHasAddresses(s *Subnet) (bool, error) {
	var any bool
	err := tx.Scan(ipPrefix(s.Region, s.ID), "", func(string, []byte) bool {
		any = true
		return false
	})
	return any, err
}
