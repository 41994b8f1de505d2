package core

import (
	"strconv"

	"github.com/isthmusnet/isthmus/awserr"
)

// Subnet is a range of a VPC's CIDR in one availability zone.
type Subnet struct {
	Meta
	CidrBlock           string `json:"cidr"`
	AvailabilityZone    string `json:"az"`
	AvailabilityZoneID  string `json:"azId"`
	State               string `json:"state"`
	MapPublicIPOnLaunch bool   `json:"mapPublicIp,omitempty"`
	// Used counts the addresses allocated to network interfaces, so that
	// AvailableIPAddressCount stays true without a scan.
	Used int `json:"used"`
}

// AvailableIPAddressCount is the number of addresses of the subnet that
// can still be given to a network interface: its size, less the five AWS
// reserves, less those allocated.
func (s *Subnet) AvailableIPAddressCount() int {
	p, ok := ParseCIDR(s.CidrBlock)
	if !ok {
		return 0
	}
	return prefixSize(p) - reservedCount - s.Used
}

// ARN is the subnet's ARN, arn:aws:ec2:<region>:<account>:subnet/<id>.
func (s *Subnet) ARN() string {
	return "arn:aws:ec2:" + s.Region + ":" + s.Owner + ":subnet/" + s.ID
}

func (s *Subnet) filter(name string) ([]string, bool) {
	switch name {
	case "subnet-id":
		return one(s.ID), true
	case "subnet-arn":
		return one(s.ARN()), true
	case "vpc-id":
		return one(s.VpcID), true
	case "cidr-block", "cidr", "cidrBlock":
		return one(s.CidrBlock), true
	case "availability-zone", "availabilityZone":
		return one(s.AvailabilityZone), true
	case "availability-zone-id", "availabilityZoneId":
		return one(s.AvailabilityZoneID), true
	case "available-ip-address-count":
		return []string{strconv.Itoa(s.AvailableIPAddressCount())}, true
	case "state":
		return one(s.State), true
	case "default-for-az", "defaultForAz":
		return boolValue(false), true
	case "map-public-ip-on-launch":
		return boolValue(s.MapPublicIPOnLaunch), true
	// What Isthmus does not model has the value every subnet here has.
	case "ipv6-native", "enable-dns64", "map-customer-owned-ip-on-launch",
		"private-dns-name-options-on-launch.enable-resource-name-dns-a-record",
		"private-dns-name-options-on-launch.enable-resource-name-dns-aaaa-record":
		return boolValue(false), true
	case "private-dns-name-options-on-launch.hostname-type":
		return []string{"ip-name"}, true
	case "ipv6-cidr-block-association.ipv6-cidr-block", "ipv6-cidr-block-association.association-id",
		"ipv6-cidr-block-association.state", "outpost-arn", "customer-owned-ipv4-pool",
		"enable-lni-at-device-index":
		return nil, true
	}
	return nil, false
}

// CreateSubnetInput is what CreateSubnet takes.
type CreateSubnetInput struct {
	VpcID              string
	CidrBlock          string
	AvailabilityZone   string // by name, or
	AvailabilityZoneID string // by id; neither: Isthmus picks one
	TagSpecs           []TagSpec
}

// CreateSubnet creates a subnet of a VPC. The CIDR must lie inside the
// VPC's CIDR, be /16 to /28 and overlap no other subnet of the VPC. Without
// a zone, the zone of the region holding the fewest of the VPC's subnets
// is chosen (the first such zone on a tie), so that subnets created without
// one spread over the zones as AWS's do.
func (c *Cloud) CreateSubnet(who Caller, in CreateSubnetInput) (*Subnet, error) {
	if in.VpcID == "" {
		return nil, awserr.MissingParameter("VpcId")
	}
	if in.CidrBlock == "" {
		return nil, awserr.New("MissingParameter", "Either 'cidrBlock' or 'ipv4IpamPoolId' should be provided.")
	}
	p, ok := ParseCIDR(in.CidrBlock)
	if !ok {
		return nil, awserr.InvalidParameterValue("Value (%s) for parameter cidrBlock is invalid. This is not a valid CIDR block.", in.CidrBlock)
	}
	tags, err := specTags(kindSubnet, in.TagSpecs)
	if err != nil {
		return nil, err
	}
	var s *Subnet
	err = c.update(who, func(tx *Tx) error {
		v, err := load[Vpc](tx, kindVpc, in.VpcID)
		if err != nil {
			return err
		}
		vp, ok := ParseCIDR(v.CidrBlock)
		if !ok {
			return awserr.Internal()
		}
		if p.Bits() < 16 || p.Bits() > 28 || p.Bits() < vp.Bits() || !vp.Contains(p.Addr()) {
			return awserr.New("InvalidSubnet.Range", "The CIDR '%s' is invalid.", in.CidrBlock)
		}
		siblings, err := listAll[Subnet](tx, kindSubnet, func(o *Subnet) bool { return o.VpcID == v.ID })
		if err != nil {
			return err
		}
		for _, o := range siblings {
			if op, ok := ParseCIDR(o.CidrBlock); ok && op.Overlaps(p) {
				return awserr.New("InvalidSubnet.Conflict", "The CIDR '%s' conflicts with another subnet", in.CidrBlock)
			}
		}
		var z Zone
		if in.AvailabilityZone == "" && in.AvailabilityZoneID == "" {
			z = tx.quietestZone(siblings)
		} else if z, err = tx.zone(in.AvailabilityZone, in.AvailabilityZoneID); err != nil {
			return err
		}
		s = &Subnet{
			Meta:               tx.newMeta(kindSubnet, v.ID),
			CidrBlock:          p.String(),
			AvailabilityZone:   z.Name,
			AvailabilityZoneID: z.ID,
			State:              "available",
		}
		s.Tags = tags
		return tx.save(kindSubnet, s)
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// quietestZone is the zone of the caller's region holding the fewest of
// subnets, the first one on a tie.
func (tx *Tx) quietestZone(subnets []*Subnet) Zone {
	zones := tx.c.regions[tx.who.Region].Zones
	count := map[string]int{}
	for _, s := range subnets {
		count[s.AvailabilityZone]++
	}
	best := zones[0]
	for _, z := range zones[1:] {
		if count[z.Name] < count[best.Name] {
			best = z
		}
	}
	return best
}

// DescribeSubnets lists the caller's subnets.
func (c *Cloud) DescribeSubnets(who Caller, ids []string, filters []Filter, p Page) ([]*Subnet, string, error) {
	var out []*Subnet
	err := c.view(who, func(tx *Tx) error {
		var err error
		out, err = describe[Subnet](tx, kindSubnet, ids, filters)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return paginate(out, func(s *Subnet) string { return s.ID }, p, 5, 1000)
}

// DeleteSubnet deletes a subnet that holds no network interface (else
// DependencyViolation). Its explicit route table association, if any, goes
// with it, as on AWS.
func (c *Cloud) DeleteSubnet(who Caller, id string) error {
	return c.update(who, func(tx *Tx) error {
		s, err := load[Subnet](tx, kindSubnet, id)
		if err != nil {
			return err
		}
		busy, err := tx.subnetHasAddresses(s)
		if err != nil {
			return err
		}
		if busy {
			return awserr.New("DependencyViolation", "The subnet '%s' has dependencies and cannot be deleted.", id)
		}
		if err := tx.dropSubnetAssociations(s); err != nil {
			return err
		}
		return tx.remove(kindSubnet, s)
	})
}

// dropSubnetAssociations removes the route table associations of s.
func (tx *Tx) dropSubnetAssociations(s *Subnet) error {
	tables, err := listAll[RouteTable](tx, kindRouteTable, func(rt *RouteTable) bool { return rt.VpcID == s.VpcID })
	if err != nil {
		return err
	}
	for _, rt := range tables {
		kept := rt.Associations[:0]
		for _, a := range rt.Associations {
			if a.SubnetID != s.ID {
				kept = append(kept, a)
			}
		}
		if len(kept) == len(rt.Associations) {
			continue
		}
		rt.Associations = kept
		if err := tx.save(kindRouteTable, rt); err != nil {
			return err
		}
	}
	return nil
}

// SubnetAttribute names an attribute of ModifySubnetAttribute.
type SubnetAttribute string

// The subnet attributes Isthmus models.
const (
	AttrMapPublicIPOnLaunch SubnetAttribute = "mapPublicIpOnLaunch"
)

// ModifySubnetAttribute sets one attribute of a subnet. AWS allows exactly
// one per call.
func (c *Cloud) ModifySubnetAttribute(who Caller, id string, attr SubnetAttribute, value bool) error {
	return c.update(who, func(tx *Tx) error {
		s, err := load[Subnet](tx, kindSubnet, id)
		if err != nil {
			return err
		}
		switch attr {
		case AttrMapPublicIPOnLaunch:
			s.MapPublicIPOnLaunch = value
		default:
			return awserr.InvalidParameterValue("Value (%s) for parameter attribute is invalid. Unknown attribute.", attr)
		}
		return tx.save(kindSubnet, s)
	})
}
