package core

import (
	"net/netip"

	"github.com/isthmusnet/isthmus/awserr"
)

// Vpc is an isolated network.
type Vpc struct {
	Meta
	CidrBlock          string `json:"cidr"`
	CidrAssociationID  string `json:"cidrAssoc"`
	State              string `json:"state"`
	InstanceTenancy    string `json:"tenancy"`
	DhcpOptionsID      string `json:"dopt"`
	MainRouteTableID   string `json:"mainRtb"`
	DefaultGroupID     string `json:"defaultSg"`
	DefaultNetworkACL  string `json:"defaultAcl"`
	EnableDNSSupport   bool   `json:"dnsSupport"`
	EnableDNSHostnames bool   `json:"dnsHostnames"`
}

func (v *Vpc) filter(name string) ([]string, bool) {
	switch name {
	case "cidr", "cidr-block-association.cidr-block":
		return one(v.CidrBlock), true
	case "cidr-block-association.association-id":
		return one(v.CidrAssociationID), true
	case "cidr-block-association.state":
		return []string{"associated"}, true
	case "dhcp-options-id":
		return one(v.DhcpOptionsID), true
	case "is-default":
		return boolValue(false), true
	case "state":
		return one(v.State), true
	case "vpc-id":
		return one(v.ID), true
	case "ipv6-cidr-block-association.ipv6-cidr-block", "ipv6-cidr-block-association.ipv6-pool",
		"ipv6-cidr-block-association.association-id", "ipv6-cidr-block-association.state":
		return nil, true
	}
	return nil, false
}

// CreateVpcInput is what CreateVpc takes.
type CreateVpcInput struct {
	CidrBlock       string
	InstanceTenancy string
	TagSpecs        []TagSpec
}

// ParseCIDR parses an IPv4 CIDR and returns it in canonical form (host bits
// cleared), as EC2 does with 100.68.0.18/18 → 100.68.0.0/18.
func ParseCIDR(s string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() {
		return netip.Prefix{}, false
	}
	return p.Masked(), true
}

// CreateVpc creates a VPC with its main route table (holding the local
// route), default security group and default network ACL.
func (c *Cloud) CreateVpc(who Caller, in CreateVpcInput) (*Vpc, error) {
	if in.CidrBlock == "" {
		return nil, awserr.MissingParameter("CidrBlock")
	}
	p, ok := ParseCIDR(in.CidrBlock)
	if !ok {
		return nil, awserr.InvalidParameterValue("Value (%s) for parameter cidrBlock is invalid. This is not a valid CIDR block.", in.CidrBlock)
	}
	if p.Bits() < 16 || p.Bits() > 28 {
		return nil, awserr.New("InvalidVpc.Range", "The CIDR '%s' is invalid.", in.CidrBlock)
	}
	switch in.InstanceTenancy {
	case "":
		in.InstanceTenancy = "default"
	case "default", "dedicated":
	default:
		return nil, awserr.InvalidParameterValue("Value (%s) for parameter instanceTenancy is invalid.", in.InstanceTenancy)
	}
	tags, err := specTags(kindVpc, in.TagSpecs)
	if err != nil {
		return nil, err
	}
	var v *Vpc
	err = c.update(who, func(tx *Tx) error {
		v = &Vpc{
			Meta:              tx.newMeta(kindVpc, ""),
			CidrBlock:         p.String(),
			State:             "available",
			InstanceTenancy:   in.InstanceTenancy,
			DhcpOptionsID:     "default",
			EnableDNSSupport:  true,
			CidrAssociationID: tx.newID("vpc-cidr-assoc"),
		}
		v.VpcID = v.ID
		v.Tags = tags
		rtb, err := tx.createMainRouteTable(v)
		if err != nil {
			return err
		}
		sg, err := tx.createDefaultSecurityGroup(v)
		if err != nil {
			return err
		}
		acl := &NetworkACL{Meta: tx.newMeta(kindNetworkACL, v.ID), Default: true}
		if err := tx.save(kindNetworkACL, acl); err != nil {
			return err
		}
		v.MainRouteTableID, v.DefaultGroupID, v.DefaultNetworkACL = rtb.ID, sg.ID, acl.ID
		return tx.save(kindVpc, v)
	})
	if err != nil {
		return nil, err
	}
	return v, nil
}

// DescribeVpcs lists the caller's VPCs.
func (c *Cloud) DescribeVpcs(who Caller, ids []string, filters []Filter, p Page) ([]*Vpc, string, error) {
	var out []*Vpc
	err := c.view(who, func(tx *Tx) error {
		var err error
		out, err = describe[Vpc](tx, kindVpc, ids, filters)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return paginate(out, func(v *Vpc) string { return v.ID }, p, 5, 1000)
}

// DeleteVpc deletes an empty VPC with its main route table, default
// security group and default network ACL. Anything else inside it is a
// DependencyViolation.
func (c *Cloud) DeleteVpc(who Caller, id string) error {
	return c.update(who, func(tx *Tx) error {
		v, err := load[Vpc](tx, kindVpc, id)
		if err != nil {
			return err
		}
		owned := map[string]bool{v.MainRouteTableID: true, v.DefaultGroupID: true, v.DefaultNetworkACL: true}
		for _, k := range sortedKinds() {
			if k == kindVpc {
				continue
			}
			var dep string
			err := tx.Scan(kindPrefix(who.Region, k), "", func(_ string, b []byte) bool {
				o, err := k.decode(b)
				if err == nil && o.meta().VpcID == id && !owned[o.meta().ID] {
					dep = o.meta().ID
					return false
				}
				return true
			})
			if err != nil {
				return err
			}
			if dep != "" {
				return awserr.New("DependencyViolation", "The vpc '%s' has dependencies and cannot be deleted.", id)
			}
		}
		for _, d := range []struct {
			k  *kind
			id string
		}{{kindRouteTable, v.MainRouteTableID}, {kindSecurityGroup, v.DefaultGroupID}, {kindNetworkACL, v.DefaultNetworkACL}} {
			if err := tx.Delete(objectKey(who.Region, d.k, d.id)); err != nil {
				return err
			}
		}
		return tx.remove(kindVpc, v)
	})
}

// VpcAttribute names an attribute of ModifyVpcAttribute and
// DescribeVpcAttribute.
type VpcAttribute string

// The VPC attributes.
const (
	AttrEnableDNSSupport   VpcAttribute = "enableDnsSupport"
	AttrEnableDNSHostnames VpcAttribute = "enableDnsHostnames"
)

// ModifyVpcAttribute sets one attribute. AWS allows exactly one per call.
func (c *Cloud) ModifyVpcAttribute(who Caller, id string, attr VpcAttribute, value bool) error {
	return c.update(who, func(tx *Tx) error {
		v, err := load[Vpc](tx, kindVpc, id)
		if err != nil {
			return err
		}
		switch attr {
		case AttrEnableDNSSupport:
			v.EnableDNSSupport = value
		case AttrEnableDNSHostnames:
			v.EnableDNSHostnames = value
		default:
			return awserr.InvalidParameterValue("Value (%s) for parameter attribute is invalid.", attr)
		}
		return tx.save(kindVpc, v)
	})
}

// DescribeVpc returns one of the caller's VPCs.
func (c *Cloud) DescribeVpc(who Caller, id string) (*Vpc, error) {
	var v *Vpc
	err := c.view(who, func(tx *Tx) error {
		var err error
		v, err = load[Vpc](tx, kindVpc, id)
		return err
	})
	return v, err
}

// NetworkACL is a VPC's network ACL. Isthmus keeps the default ACL of each
// VPC (allow all) so that the ids AWS shows exist; ACL rules are not
// modelled.
type NetworkACL struct {
	Meta
	Default bool `json:"default"`
}

func (a *NetworkACL) filter(name string) ([]string, bool) {
	switch name {
	case "network-acl-id":
		return one(a.ID), true
	case "vpc-id":
		return one(a.VpcID), true
	case "default":
		return boolValue(a.Default), true
	}
	return nil, false
}

// DescribeNetworkACLs lists the caller's network ACLs.
func (c *Cloud) DescribeNetworkACLs(who Caller, ids []string, filters []Filter, p Page) ([]*NetworkACL, string, error) {
	var out []*NetworkACL
	err := c.view(who, func(tx *Tx) error {
		var err error
		out, err = describe[NetworkACL](tx, kindNetworkACL, ids, filters)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return paginate(out, func(v *NetworkACL) string { return v.ID }, p, 5, 1000)
}
