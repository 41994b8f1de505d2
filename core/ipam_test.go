package core

import (
	"errors"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/isthmusnet/isthmus/awserr"
	"github.com/isthmusnet/isthmus/store/bolt"
)

func newIPAMTestCloud(t *testing.T) *Cloud {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "ipam.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return New(st, Options{Regions: []Region{NewRegion("us-east-1", 3)}})
}

var ipamCaller = Caller{Account: "111111111111", Region: "us-east-1"}

// ipamSubnet creates a VPC 10.0.0.0/16 and a subnet with cidr in it.
func ipamSubnet(t *testing.T, c *Cloud, cidr string) *Subnet {
	t.Helper()
	v, err := c.CreateVpc(ipamCaller, CreateVpcInput{CidrBlock: "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.CreateSubnet(ipamCaller, CreateSubnetInput{VpcID: v.ID, CidrBlock: cidr})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ipamCode(err error) string {
	if e, ok := awserr.As(err); ok {
		return e.Code
	}
	if err != nil {
		return "non-AWS error: " + err.Error()
	}
	return ""
}

func TestCheckRequestedIP(t *testing.T) {
	p := netip.MustParsePrefix("10.0.1.0/24")
	for _, tc := range []struct {
		ip   string
		code string
	}{
		{"10.0.1.4", ""},
		{"10.0.1.254", ""},
		{"10.0.1.0", "InvalidParameterValue"},   // network
		{"10.0.1.1", "InvalidParameterValue"},   // router
		{"10.0.1.2", "InvalidParameterValue"},   // DNS
		{"10.0.1.3", "InvalidParameterValue"},   // reserved
		{"10.0.1.255", "InvalidParameterValue"}, // broadcast
		{"10.0.2.10", "InvalidParameterValue"},  // outside
		{"10.0.1.x", "InvalidParameterValue"},
		{"::1", "InvalidParameterValue"},
	} {
		_, err := checkRequestedIP(p, tc.ip)
		if got := ipamCode(err); got != tc.code {
			t.Errorf("%s: code %q, want %q (%v)", tc.ip, got, tc.code, err)
		}
	}
}

func TestAllocateLowestFreeAndReuse(t *testing.T) {
	c := newIPAMTestCloud(t)
	s := ipamSubnet(t, c, "10.0.0.16/28") // 16 addresses, 11 usable: .20-.30
	if got := s.AvailableIPAddressCount(); got != 11 {
		t.Fatalf("fresh /28 has %d available, want 11", got)
	}
	var enis []*NetworkInterface
	for i := 0; i < 11; i++ {
		var n *NetworkInterface
		err := c.update(ipamCaller, func(tx *Tx) error {
			var err error
			n, err = tx.createInterface(interfaceSpec{SubnetID: s.ID})
			return err
		})
		if err != nil {
			t.Fatalf("interface %d: %v", i, err)
		}
		if want := addrAt(netip.MustParsePrefix("10.0.0.16/28"), 4+i).String(); n.PrivateIP != want {
			t.Fatalf("interface %d got %s, want %s", i, n.PrivateIP, want)
		}
		enis = append(enis, n)
	}
	err := c.update(ipamCaller, func(tx *Tx) error {
		_, err := tx.createInterface(interfaceSpec{SubnetID: s.ID})
		return err
	})
	if ipamCode(err) != "InsufficientFreeAddressesInSubnet" {
		t.Fatalf("full subnet: %v", err)
	}
	got, _, err := c.DescribeSubnets(ipamCaller, []string{s.ID}, nil, Page{})
	if err != nil || got[0].AvailableIPAddressCount() != 0 {
		t.Fatalf("full subnet available = %d, %v", got[0].AvailableIPAddressCount(), err)
	}

	// Free .23 (the fourth); the next interface gets it back.
	if err := c.DeleteNetworkInterface(ipamCaller, enis[3].ID); err != nil {
		t.Fatal(err)
	}
	var n *NetworkInterface
	err = c.update(ipamCaller, func(tx *Tx) error {
		var err error
		n, err = tx.createInterface(interfaceSpec{SubnetID: s.ID})
		return err
	})
	if err != nil || n.PrivateIP != "10.0.0.23" {
		t.Fatalf("after freeing .23 got %v, %v", n, err)
	}
}

func TestAllocationRollsBackWithTheTransaction(t *testing.T) {
	c := newIPAMTestCloud(t)
	s := ipamSubnet(t, c, "10.0.1.0/24")
	boom := errors.New("later step failed")
	err := c.update(ipamCaller, func(tx *Tx) error {
		if _, err := tx.createInterface(interfaceSpec{SubnetID: s.ID, PrivateIP: "10.0.1.50"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("update: %v", err)
	}
	err = c.view(ipamCaller, func(tx *Tx) error {
		if _, ok := tx.Get(ipKey("us-east-1", s.ID, netip.MustParseAddr("10.0.1.50"))); ok {
			t.Error("address record survived a failed transaction")
		}
		got, _, err := loadAny[Subnet](tx, kindSubnet, s.ID)
		if err == nil && got.Used != 0 {
			t.Errorf("Used = %d after a failed transaction", got.Used)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRequestedAddress(t *testing.T) {
	c := newIPAMTestCloud(t)
	s := ipamSubnet(t, c, "10.0.1.0/24")
	n, err := c.CreateNetworkInterface(ipamCaller, CreateNetworkInterfaceInput{SubnetID: s.ID, PrivateIP: "10.0.1.200"})
	if err != nil || n.PrivateIP != "10.0.1.200" {
		t.Fatalf("requested .200: %v, %v", n, err)
	}
	_, err = c.CreateNetworkInterface(ipamCaller, CreateNetworkInterfaceInput{SubnetID: s.ID, PrivateIP: "10.0.1.200"})
	if ipamCode(err) != "InvalidIPAddress.InUse" {
		t.Fatalf("second .200: %v", err)
	}
	// The lowest free address skips nothing but the reserved ones.
	n2, err := c.CreateNetworkInterface(ipamCaller, CreateNetworkInterfaceInput{SubnetID: s.ID})
	if err != nil || n2.PrivateIP != "10.0.1.4" {
		t.Fatalf("lowest free: %v, %v", n2, err)
	}
	// Requester-managed interfaces are refused by the API but deleted by
	// the core, which frees their address.
	var m *NetworkInterface
	err = c.update(ipamCaller, func(tx *Tx) error {
		var err error
		m, err = tx.createInterface(interfaceSpec{SubnetID: s.ID, InterfaceType: "vpc_endpoint", RequesterManaged: true, RequesterID: "727180483921"})
		return err
	})
	if err != nil || m.Status != "in-use" || m.PrivateIP != "10.0.1.5" {
		t.Fatalf("managed interface: %+v, %v", m, err)
	}
	if err := c.DeleteNetworkInterface(ipamCaller, m.ID); ipamCode(err) != "InvalidParameterValue" {
		t.Fatalf("API delete of a managed interface: %v", err)
	}
	err = c.update(ipamCaller, func(tx *Tx) error { return tx.deleteInterface(m) })
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := c.DescribeSubnets(ipamCaller, []string{s.ID}, nil, Page{})
	if err != nil || got[0].AvailableIPAddressCount() != 256-5-2 {
		t.Fatalf("available = %d, want %d (%v)", got[0].AvailableIPAddressCount(), 256-5-2, err)
	}
}
