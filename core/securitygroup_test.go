package core

import (
	"net/netip"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/isthmusnet/isthmus/awserr"
	"github.com/isthmusnet/isthmus/store/bolt"
)

func sgTestCloud(t *testing.T) *Cloud {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return New(st, Options{Regions: []Region{NewRegion("us-east-1", 3)}})
}

func sgCaller(account string) Caller {
	return Caller{Account: account, ARN: RootARN(account), Region: "us-east-1"}
}

func sgWantCode(t *testing.T, err error, code string) {
	t.Helper()
	if !awserr.HasCode(err, code) {
		t.Fatalf("err = %v, want %s", err, code)
	}
}

func sgI32(v int32) *int32 { return &v }

func TestNormalizeProtocol(t *testing.T) {
	for in, want := range map[string]string{
		"tcp": "tcp", "TCP": "tcp", "6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6",
		"icmpv6": "icmpv6", "-1": "-1", "50": "50", "0": "0",
	} {
		got, err := normalizeProtocol(in)
		if err != nil || got != want {
			t.Errorf("normalizeProtocol(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"foo", "256", "-2", "all"} {
		_, err := normalizeProtocol(in)
		sgWantCode(t, err, "InvalidParameterValue")
	}
	_, err := normalizeProtocol("")
	sgWantCode(t, err, "MissingParameter")
}

func TestNormalizePorts(t *testing.T) {
	ok := []struct {
		proto    string
		from, to *int32
		f, t     int32
	}{
		{"tcp", sgI32(22), sgI32(22), 22, 22},
		{"udp", sgI32(0), sgI32(65535), 0, 65535},
		{"icmp", sgI32(-1), sgI32(-1), -1, -1},
		{"icmp", sgI32(8), sgI32(-1), 8, -1},
		{"icmpv6", nil, nil, -1, -1},
		{"-1", sgI32(10), sgI32(20), -1, -1}, // ignored, as EC2 does
		{"50", nil, nil, -1, -1},
	}
	for _, c := range ok {
		f, to, err := normalizePorts(c.proto, c.from, c.to)
		if err != nil || f != c.f || to != c.t {
			t.Errorf("%s %v-%v: %d-%d, %v; want %d-%d", c.proto, c.from, c.to, f, to, err, c.f, c.t)
		}
	}
	bad := []struct {
		proto    string
		from, to *int32
		code     string
	}{
		{"tcp", nil, nil, "InvalidParameterValue"},
		{"tcp", nil, sgI32(22), "InvalidPermission.Malformed"},
		{"tcp", sgI32(0), sgI32(65536), "InvalidPermission.Malformed"},
		{"tcp", sgI32(90), sgI32(80), "InvalidParameterValue"},
		{"icmp", nil, nil, "InvalidParameterValue"},
		{"icmp", sgI32(256), sgI32(0), "InvalidPermission.Malformed"},
		{"icmp", sgI32(-1), sgI32(3), "InvalidParameterValue"},
	}
	for _, c := range bad {
		_, _, err := normalizePorts(c.proto, c.from, c.to)
		if !awserr.HasCode(err, c.code) {
			t.Errorf("%s %v-%v: %v, want %s", c.proto, c.from, c.to, err, c.code)
		}
	}
}

func TestRuleText(t *testing.T) {
	for _, c := range []struct {
		r    SGRule
		want string
	}{
		{SGRule{Protocol: "tcp", FromPort: 22, ToPort: 22, CidrIPv4: "0.0.0.0/0"}, "peer: 0.0.0.0/0, TCP, from port: 22, to port: 22, ALLOW"},
		{SGRule{Protocol: "icmp", FromPort: -1, ToPort: -1, CidrIPv4: "0.0.0.0/0"}, "peer: 0.0.0.0/0, ICMP, type: ALL, code: ALL, ALLOW"},
		{SGRule{Protocol: "-1", FromPort: -1, ToPort: -1, GroupID: "sg-1"}, "peer: sg-1, ALL, ALLOW"},
	} {
		if got := c.r.ruleText(); got != c.want {
			t.Errorf("ruleText = %q, want %q", got, c.want)
		}
	}
}

// TestDeleteSecurityGroupInUse covers the dependency on network interfaces,
// which this package's own tests can create directly.
func TestDeleteSecurityGroupInUse(t *testing.T) {
	c := sgTestCloud(t)
	a := sgCaller("111111111111")
	v, err := c.CreateVpc(a, CreateVpcInput{CidrBlock: "10.0.0.0/16"})
	if err != nil {
		t.Fatal(err)
	}
	web, err := c.CreateSecurityGroup(a, CreateSecurityGroupInput{GroupName: "web", Description: "web", VpcID: v.ID})
	if err != nil {
		t.Fatal(err)
	}
	db, err := c.CreateSecurityGroup(a, CreateSecurityGroupInput{GroupName: "db", Description: "db", VpcID: v.ID})
	if err != nil {
		t.Fatal(err)
	}
	// db admits web on 5432.
	if _, _, err := c.AuthorizeSecurityGroupRules(a, AuthorizeInput{GroupID: db.ID, Permissions: []Permission{{
		Protocol: "tcp", FromPort: sgI32(5432), ToPort: sgI32(5432), Peers: []Peer{{GroupID: web.ID}},
	}}}); err != nil {
		t.Fatal(err)
	}
	var eni *NetworkInterface
	err = c.update(a, func(tx *Tx) error {
		eni = &NetworkInterface{Meta: tx.newMeta(kindENI, v.ID), PrivateIP: "10.0.1.10", Groups: []string{web.ID}, Status: "available"}
		return tx.save(kindENI, eni)
	})
	if err != nil {
		t.Fatal(err)
	}

	// The data plane sees db's rule resolved to the ENI's address.
	rgs, err := c.ResolvedSecurityGroups("us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	var rdb, rweb *ResolvedGroup
	for i := range rgs {
		switch rgs[i].ID {
		case db.ID:
			rdb = &rgs[i]
		case web.ID:
			rweb = &rgs[i]
		}
	}
	if rdb == nil || rweb == nil {
		t.Fatalf("resolved groups %+v lack web or db", rgs)
	}
	wantIn := []ResolvedRule{{ID: rdb.Ingress[0].ID, Protocol: 6, FromPort: 5432, ToPort: 5432,
		Prefixes: []netip.Prefix{netip.MustParsePrefix("10.0.1.10/32")}, GroupID: web.ID}}
	if !reflect.DeepEqual(rdb.Ingress, wantIn) {
		t.Errorf("db ingress = %+v, want %+v", rdb.Ingress, wantIn)
	}
	if len(rdb.Egress) != 1 || rdb.Egress[0].Protocol != -1 || rdb.Egress[0].Prefixes[0] != netip.MustParsePrefix("0.0.0.0/0") {
		t.Errorf("db egress = %+v", rdb.Egress)
	}
	if want := []GroupMember{{ENI: eni.ID, IP: netip.MustParseAddr("10.0.1.10")}}; !reflect.DeepEqual(rweb.Members, want) {
		t.Errorf("web members = %+v, want %+v", rweb.Members, want)
	}

	// web is carried by the ENI and referenced by db: it stays.
	_, err = c.DeleteSecurityGroup(a, web.ID, "")
	sgWantCode(t, err, "DependencyViolation")
	if err := c.update(a, func(tx *Tx) error { return tx.remove(kindENI, eni) }); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteSecurityGroup(a, web.ID, "")
	sgWantCode(t, err, "DependencyViolation") // still referenced by db
	if _, _, err := c.RevokeSecurityGroupRules(a, RevokeInput{GroupID: db.ID, RuleIDs: []string{rdb.Ingress[0].ID}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteSecurityGroup(a, web.ID, ""); err != nil {
		t.Fatalf("delete after removing dependencies: %v", err)
	}
}
