package core

import (
	"fmt"
	"io"
	"strings"

	"github.com/isthmusnet/isthmus/awserr"
)

// NetworkInterface is an ENI: one private IPv4 address in a subnet, with
// security groups. Interfaces that Isthmus itself creates for load balancers
// and endpoints are requester-managed.
type NetworkInterface struct {
	Meta
	SubnetID           string   `json:"subnet"`
	AvailabilityZone   string   `json:"az"`
	AvailabilityZoneID string   `json:"azId,omitempty"`
	PrivateIP          string   `json:"ip"`
	MAC                string   `json:"mac"`
	Description        string   `json:"desc,omitempty"`
	Groups             []string `json:"groups,omitempty"`
	// GroupNames are the names of Groups, index for index (group names
	// never change, and the API answers them with every interface).
	GroupNames       []string `json:"groupNames,omitempty"`
	Status           string   `json:"status"` // available | in-use
	InterfaceType    string   `json:"type"`   // interface | network_load_balancer | vpc_endpoint | gateway_load_balancer | gateway_load_balancer_endpoint
	RequesterManaged bool     `json:"managed,omitempty"`
	RequesterID      string   `json:"requester,omitempty"`
	SourceDestCheck  bool     `json:"srcDstCheck"`
	// AttachmentID is set on requester-managed interfaces, which AWS shows
	// attached (ela-attach-...) to the service that owns them.
	AttachmentID string `json:"attach,omitempty"`
}

// PrivateDNSName is the interface's private DNS name as EC2 forms it:
// ip-10-0-1-5.ec2.internal in us-east-1, ip-10-0-1-5.<region>.compute.internal
// elsewhere.
func (n *NetworkInterface) PrivateDNSName() string {
	host := "ip-" + strings.ReplaceAll(n.PrivateIP, ".", "-")
	if n.Region == "us-east-1" {
		return host + ".ec2.internal"
	}
	return host + "." + n.Region + ".compute.internal"
}

func (n *NetworkInterface) filter(name string) ([]string, bool) {
	switch name {
	case "network-interface-id":
		return one(n.ID), true
	case "subnet-id":
		return one(n.SubnetID), true
	case "vpc-id":
		return one(n.VpcID), true
	case "availability-zone":
		return one(n.AvailabilityZone), true
	case "availability-zone-id":
		return one(n.AvailabilityZoneID), true
	case "private-ip-address", "addresses.private-ip-address":
		return one(n.PrivateIP), true
	case "addresses.primary":
		return boolValue(true), true
	case "private-dns-name":
		return one(n.PrivateDNSName()), true
	case "status":
		return one(n.Status), true
	case "interface-type":
		return one(n.InterfaceType), true
	case "requester-managed":
		return boolValue(n.RequesterManaged), true
	case "requester-id":
		return one(n.RequesterID), true
	case "source-dest-check":
		return boolValue(n.SourceDestCheck), true
	case "group-id":
		return n.Groups, true
	case "group-name":
		return n.GroupNames, true
	case "description":
		return one(n.Description), true
	case "mac-address":
		return one(n.MAC), true
	case "attachment.attachment-id":
		return one(n.AttachmentID), true
	case "attachment.status":
		if n.AttachmentID == "" {
			return nil, true
		}
		return []string{"attached"}, true
	case "attachment.instance-owner-id":
		if n.AttachmentID == "" {
			return nil, true
		}
		return one(n.RequesterID), true
	case "attachment.device-index":
		if n.AttachmentID == "" {
			return nil, true
		}
		return []string{"1"}, true
	case "attachment.delete-on-termination":
		if n.AttachmentID == "" {
			return nil, true
		}
		return boolValue(false), true
	// Isthmus has no instances, public addresses or IPv6: these match
	// nothing.
	case "attachment.instance-id", "attachment.attach-time",
		"association.allocation-id", "association.association-id", "association.ip-owner-id",
		"association.public-ip", "association.public-dns-name",
		"addresses.association.owner-id", "addresses.association.public-ip",
		"ipv6-addresses.ipv6-address", "operator.principal":
		return nil, true
	case "operator.managed":
		return boolValue(false), true
	}
	return nil, false
}

// interfaceSpec is a network interface to create: by the API for a caller,
// or by the core itself for a load balancer or an endpoint.
type interfaceSpec struct {
	SubnetID  string
	PrivateIP string // "": the lowest free address
	// Groups are security group ids, each the caller's and in the subnet's
	// VPC. Empty means the VPC's default group, unless NoGroups.
	Groups   []string
	NoGroups bool // no security group at all (Gateway Load Balancer endpoints)

	Description   string
	InterfaceType string // "": interface
	// RequesterManaged interfaces belong to a service (RequesterID, e.g.
	// "amazon-elb" or an account id): they show as in-use, attached, and
	// DeleteNetworkInterface refuses them.
	RequesterManaged bool
	RequesterID      string
	Tags             []Tag
}

// createInterface creates a network interface in one of the caller's
// subnets, allocating its address. Load balancers and endpoints call it
// inside their own transactions for their requester-managed interfaces.
func (tx *Tx) createInterface(spec interfaceSpec) (*NetworkInterface, error) {
	s, err := load[Subnet](tx, kindSubnet, spec.SubnetID)
	if err != nil {
		return nil, err
	}
	n := &NetworkInterface{
		Meta:               tx.newMeta(kindENI, s.VpcID),
		SubnetID:           s.ID,
		AvailabilityZone:   s.AvailabilityZone,
		AvailabilityZoneID: s.AvailabilityZoneID,
		MAC:                newMAC(tx.c.rand),
		Description:        spec.Description,
		Status:             "available",
		InterfaceType:      spec.InterfaceType,
		RequesterManaged:   spec.RequesterManaged,
		RequesterID:        spec.RequesterID,
		SourceDestCheck:    true,
	}
	if n.InterfaceType == "" {
		n.InterfaceType = "interface"
	}
	if n.RequesterManaged {
		n.Status = "in-use"
		n.AttachmentID = tx.newID("ela-attach")
	}
	if !spec.NoGroups {
		if n.Groups, n.GroupNames, err = tx.interfaceGroups(s, spec.Groups); err != nil {
			return nil, err
		}
	}
	a, err := tx.allocateIP(s, spec.PrivateIP, n.ID)
	if err != nil {
		return nil, err
	}
	n.PrivateIP = a.String()
	n.Tags = spec.Tags
	return n, tx.save(kindENI, n)
}

// deleteInterface deletes a network interface and frees its address,
// whoever manages it: callers check what the API must refuse.
func (tx *Tx) deleteInterface(n *NetworkInterface) error {
	s, ok, err := loadAny[Subnet](tx, kindSubnet, n.SubnetID)
	if err != nil {
		return err
	}
	if ok {
		if err := tx.releaseIP(s, n.PrivateIP); err != nil {
			return err
		}
	}
	return tx.remove(kindENI, n)
}

// maxGroupsPerInterface is AWS's default quota of security groups per
// network interface.
const maxGroupsPerInterface = 5

// interfaceGroups checks security group ids for an interface in s (each
// must be the caller's and in s's VPC) and returns them without duplicates,
// with their names. No ids means the VPC's default group.
func (tx *Tx) interfaceGroups(s *Subnet, ids []string) ([]string, []string, error) {
	if len(ids) == 0 {
		v, err := load[Vpc](tx, kindVpc, s.VpcID)
		if err != nil {
			return nil, nil, err
		}
		ids = []string{v.DefaultGroupID}
	}
	var out, names []string
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		g, err := load[SecurityGroup](tx, kindSecurityGroup, id)
		if err != nil {
			return nil, nil, err
		}
		if g.VpcID != s.VpcID {
			return nil, nil, awserr.New("InvalidParameter", "Security group %s and subnet %s belong to different networks.", id, s.ID)
		}
		out = append(out, g.ID)
		names = append(names, g.Name)
	}
	if len(out) > maxGroupsPerInterface {
		return nil, nil, awserr.New("SecurityGroupsPerInterfaceLimitExceeded", "The maximum number of security groups per interface has been reached.")
	}
	return out, names, nil
}

// newMAC returns a random locally administered unicast MAC in AWS's style,
// 02:xx:xx:xx:xx:xx.
func newMAC(r io.Reader) string {
	var b [5]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		panic(fmt.Sprintf("core: random source failed: %v", err))
	}
	return fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4])
}

// CreateNetworkInterfaceInput is what CreateNetworkInterface takes.
type CreateNetworkInterfaceInput struct {
	SubnetID      string
	PrivateIP     string
	Groups        []string
	Description   string
	InterfaceType string
	TagSpecs      []TagSpec
}

// CreateNetworkInterface creates a network interface in one of the caller's
// subnets. (ClientToken idempotency is the API edge's: api/server.go.)
func (c *Cloud) CreateNetworkInterface(who Caller, in CreateNetworkInterfaceInput) (*NetworkInterface, error) {
	if in.SubnetID == "" {
		return nil, awserr.MissingParameter("SubnetId")
	}
	switch in.InterfaceType {
	case "", "interface":
	case "efa", "efa-only", "trunk":
		return nil, awserr.New("UnsupportedOperation", "The interface type '%s' is not supported by this endpoint.", in.InterfaceType)
	default:
		return nil, awserr.InvalidParameterValue("Value (%s) for parameter interfaceType is invalid.", in.InterfaceType)
	}
	tags, err := specTags(kindENI, in.TagSpecs)
	if err != nil {
		return nil, err
	}
	var n *NetworkInterface
	err = c.update(who, func(tx *Tx) error {
		var err error
		n, err = tx.createInterface(interfaceSpec{
			SubnetID:    in.SubnetID,
			PrivateIP:   in.PrivateIP,
			Groups:      in.Groups,
			Description: in.Description,
			Tags:        tags,
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// DescribeNetworkInterfaces lists the caller's network interfaces. As on
// AWS, ids and MaxResults cannot be given together.
func (c *Cloud) DescribeNetworkInterfaces(who Caller, ids []string, filters []Filter, p Page) ([]*NetworkInterface, string, error) {
	if len(ids) > 0 && p.MaxResults != 0 {
		return nil, "", awserr.InvalidParameterCombination("The parameter networkInterfaceIdSet cannot be used with the parameter maxResults")
	}
	var out []*NetworkInterface
	err := c.view(who, func(tx *Tx) error {
		var err error
		out, err = describe[NetworkInterface](tx, kindENI, ids, filters)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return paginate(out, func(n *NetworkInterface) string { return n.ID }, p, 5, 1000)
}

// DeleteNetworkInterface deletes one of the caller's network interfaces and
// frees its address. An interface in use — which every requester-managed
// one is — is refused, as AWS refuses it.
func (c *Cloud) DeleteNetworkInterface(who Caller, id string) error {
	return c.update(who, func(tx *Tx) error {
		n, err := load[NetworkInterface](tx, kindENI, id)
		if err != nil {
			return err
		}
		if n.RequesterManaged || n.Status != "available" {
			return awserr.InvalidParameterValue("Network interface '%s' is currently in use.", id)
		}
		return tx.deleteInterface(n)
	})
}

// InterfaceModification is one change of ModifyNetworkInterfaceAttribute:
// exactly one field is set.
type InterfaceModification struct {
	Description     *string
	SourceDestCheck *bool
	Groups          []string // replaces the groups; nil: unchanged
}

// ModifyNetworkInterfaceAttribute changes one attribute of an interface:
// its description, source/destination check, or its security groups
// (replaced as a whole, with CreateNetworkInterface's checks). The groups
// of a requester-managed interface belong to its service and cannot be
// changed here.
func (c *Cloud) ModifyNetworkInterfaceAttribute(who Caller, id string, m InterfaceModification) error {
	var set []string
	if m.Description != nil {
		set = append(set, "description")
	}
	if m.SourceDestCheck != nil {
		set = append(set, "sourceDestCheck")
	}
	if m.Groups != nil {
		set = append(set, "groupSet")
	}
	switch {
	case len(set) == 0:
		return awserr.MissingParameter("Description, SourceDestCheck or SecurityGroupId")
	case len(set) > 1:
		return awserr.InvalidParameterCombination("Fields for multiple attribute types specified: %s", strings.Join(set, ", "))
	}
	return c.update(who, func(tx *Tx) error {
		n, err := load[NetworkInterface](tx, kindENI, id)
		if err != nil {
			return err
		}
		switch {
		case m.Description != nil:
			n.Description = *m.Description
		case m.SourceDestCheck != nil:
			n.SourceDestCheck = *m.SourceDestCheck
		case m.Groups != nil:
			if len(m.Groups) == 0 {
				return awserr.MissingParameter("SecurityGroupId")
			}
			if n.RequesterManaged {
				return awserr.New("OperationNotPermitted", "The security groups of requester-managed network interface '%s' are managed by its service.", id)
			}
			s, ok, err := loadAny[Subnet](tx, kindSubnet, n.SubnetID)
			if err != nil {
				return err
			}
			if !ok {
				return awserr.Internal()
			}
			if n.Groups, n.GroupNames, err = tx.interfaceGroups(s, m.Groups); err != nil {
				return err
			}
		}
		return tx.save(kindENI, n)
	})
}
