package core

// NetworkInterface is an ENI: one private IPv4 address in a subnet, with
// security groups. Interfaces that Isthmus itself creates for load balancers
// and endpoints are requester-managed.
type NetworkInterface struct {
	Meta
	SubnetID         string   `json:"subnet"`
	AvailabilityZone string   `json:"az"`
	PrivateIP        string   `json:"ip"`
	MAC              string   `json:"mac"`
	Description      string   `json:"desc,omitempty"`
	Groups           []string `json:"groups,omitempty"`
	Status           string   `json:"status"` // available | in-use
	InterfaceType    string   `json:"type"`   // interface | network_load_balancer | vpc_endpoint | gateway_load_balancer | gateway_load_balancer_endpoint
	RequesterManaged bool     `json:"managed,omitempty"`
	RequesterID      string   `json:"requester,omitempty"`
	SourceDestCheck  bool     `json:"srcDstCheck"`
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
	case "private-ip-address", "addresses.private-ip-address":
		return one(n.PrivateIP), true
	case "status":
		return one(n.Status), true
	case "interface-type":
		return one(n.InterfaceType), true
	case "requester-managed":
		return boolValue(n.RequesterManaged), true
	case "group-id":
		return n.Groups, true
	case "description":
		return one(n.Description), true
	case "mac-address":
		return one(n.MAC), true
	}
	return nil, false
}
