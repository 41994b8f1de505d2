package core

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

func (s *Subnet) filter(name string) ([]string, bool) {
	switch name {
	case "subnet-id":
		return one(s.ID), true
	case "vpc-id":
		return one(s.VpcID), true
	case "cidr-block", "cidr", "cidrBlock":
		return one(s.CidrBlock), true
	case "availability-zone", "availabilityZone":
		return one(s.AvailabilityZone), true
	case "availability-zone-id", "availabilityZoneId":
		return one(s.AvailabilityZoneID), true
	case "state":
		return one(s.State), true
	}
	return nil, false
}
