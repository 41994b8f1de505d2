package core

// SecurityGroup is a stateful firewall attached to network interfaces.
type SecurityGroup struct {
	Meta
	Name        string   `json:"name"`
	Description string   `json:"desc"`
	Rules       []SGRule `json:"rules,omitempty"`
}

// SGRule is one rule of a group: a direction, a protocol and port range,
// and exactly one peer (CIDR, prefix list or referenced group).
type SGRule struct {
	ID          string `json:"id"` // sgr-...
	Egress      bool   `json:"egress,omitempty"`
	Protocol    string `json:"proto"` // "-1" (all), "tcp", "udp", "icmp", "icmpv6" or a number
	FromPort    int32  `json:"from"`  // -1 when the protocol has no ports
	ToPort      int32  `json:"to"`
	CidrIPv4    string `json:"cidr4,omitempty"`
	CidrIPv6    string `json:"cidr6,omitempty"`
	PrefixList  string `json:"pl,omitempty"`
	GroupID     string `json:"group,omitempty"`
	GroupOwner  string `json:"groupOwner,omitempty"`
	Description string `json:"desc,omitempty"`
}

func (g *SecurityGroup) filter(name string) ([]string, bool) {
	switch name {
	case "group-id":
		return one(g.ID), true
	case "group-name":
		return one(g.Name), true
	case "description":
		return one(g.Description), true
	case "vpc-id":
		return one(g.VpcID), true
	case "ip-permission.protocol", "egress.ip-permission.protocol":
		return g.ruleValues(name, func(r SGRule) string { return r.Protocol }), true
	case "ip-permission.cidr", "egress.ip-permission.cidr":
		return g.ruleValues(name, func(r SGRule) string { return r.CidrIPv4 }), true
	case "ip-permission.ipv6-cidr", "egress.ip-permission.ipv6-cidr":
		return g.ruleValues(name, func(r SGRule) string { return r.CidrIPv6 }), true
	case "ip-permission.prefix-list-id", "egress.ip-permission.prefix-list-id":
		return g.ruleValues(name, func(r SGRule) string { return r.PrefixList }), true
	case "ip-permission.group-id", "egress.ip-permission.group-id":
		return g.ruleValues(name, func(r SGRule) string { return r.GroupID }), true
	case "ip-permission.from-port", "egress.ip-permission.from-port":
		return g.ruleValues(name, func(r SGRule) string { return itoa(r.FromPort) }), true
	case "ip-permission.to-port", "egress.ip-permission.to-port":
		return g.ruleValues(name, func(r SGRule) string { return itoa(r.ToPort) }), true
	}
	return nil, false
}

func (g *SecurityGroup) ruleValues(filter string, f func(SGRule) string) []string {
	egress := len(filter) > 7 && filter[:7] == "egress."
	var out []string
	for _, r := range g.Rules {
		if r.Egress == egress {
			if v := f(r); v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}

// createDefaultSecurityGroup creates v's "default" group: all traffic in
// from members of the group itself, all traffic out.
func (tx *Tx) createDefaultSecurityGroup(v *Vpc) (*SecurityGroup, error) {
	g := &SecurityGroup{
		Meta:        tx.newMeta(kindSecurityGroup, v.ID),
		Name:        "default",
		Description: "default VPC security group",
	}
	g.Rules = []SGRule{
		{ID: tx.newID("sgr"), Protocol: "-1", FromPort: -1, ToPort: -1, GroupID: g.ID, GroupOwner: g.Owner},
		{ID: tx.newID("sgr"), Egress: true, Protocol: "-1", FromPort: -1, ToPort: -1, CidrIPv4: "0.0.0.0/0"},
	}
	return g, tx.save(kindSecurityGroup, g)
}
