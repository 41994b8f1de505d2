package core

// RouteTable is a VPC's route table. Associations live in the table: a
// subnet without an explicit association uses the VPC's main table.
type RouteTable struct {
	Meta
	Routes       []Route            `json:"routes"`
	Associations []RouteAssociation `json:"assocs,omitempty"`
}

// Route is one route of a table. Exactly one destination and one target
// are set.
type Route struct {
	DestinationCidrBlock    string `json:"dst,omitempty"`
	DestinationPrefixListID string `json:"dstPl,omitempty"`
	GatewayID               string `json:"gw,omitempty"` // "local" for the VPC's own CIDR
	NetworkInterfaceID      string `json:"eni,omitempty"`
	VpcEndpointID           string `json:"vpce,omitempty"`
	Origin                  string `json:"origin"` // CreateRouteTable | CreateRoute
}

// RouteAssociation ties a subnet (or, when Main, the VPC) to a table.
type RouteAssociation struct {
	ID       string `json:"id"` // rtbassoc-...
	SubnetID string `json:"subnet,omitempty"`
	Main     bool   `json:"main,omitempty"`
}

func (r *RouteTable) filter(name string) ([]string, bool) {
	switch name {
	case "route-table-id":
		return one(r.ID), true
	case "vpc-id":
		return one(r.VpcID), true
	case "association.route-table-association-id":
		var out []string
		for _, a := range r.Associations {
			out = append(out, a.ID)
		}
		return out, true
	case "association.route-table-id":
		if len(r.Associations) == 0 {
			return nil, true
		}
		return one(r.ID), true
	case "association.subnet-id":
		var out []string
		for _, a := range r.Associations {
			if a.SubnetID != "" {
				out = append(out, a.SubnetID)
			}
		}
		return out, true
	case "association.main":
		for _, a := range r.Associations {
			if a.Main {
				return boolValue(true), true
			}
		}
		return boolValue(false), true
	case "route.destination-cidr-block":
		var out []string
		for _, rt := range r.Routes {
			if rt.DestinationCidrBlock != "" {
				out = append(out, rt.DestinationCidrBlock)
			}
		}
		return out, true
	case "route.destination-prefix-list-id":
		var out []string
		for _, rt := range r.Routes {
			if rt.DestinationPrefixListID != "" {
				out = append(out, rt.DestinationPrefixListID)
			}
		}
		return out, true
	case "route.gateway-id":
		var out []string
		for _, rt := range r.Routes {
			if rt.GatewayID != "" {
				out = append(out, rt.GatewayID)
			}
		}
		return out, true
	case "route.vpc-endpoint-id":
		var out []string
		for _, rt := range r.Routes {
			if rt.VpcEndpointID != "" {
				out = append(out, rt.VpcEndpointID)
			}
		}
		return out, true
	case "route.origin":
		var out []string
		for _, rt := range r.Routes {
			out = append(out, rt.Origin)
		}
		return out, true
	case "route.state":
		return []string{"active"}, true
	}
	return nil, false
}

// createMainRouteTable creates v's main route table with the local route.
func (tx *Tx) createMainRouteTable(v *Vpc) (*RouteTable, error) {
	rt := &RouteTable{
		Meta:         tx.newMeta(kindRouteTable, v.ID),
		Routes:       []Route{{DestinationCidrBlock: v.CidrBlock, GatewayID: "local", Origin: "CreateRouteTable"}},
		Associations: []RouteAssociation{{ID: tx.newID("rtbassoc"), Main: true}},
	}
	return rt, tx.save(kindRouteTable, rt)
}
