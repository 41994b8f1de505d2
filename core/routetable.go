package core

import (
	"fmt"
	"slices"
	"strings"

	"github.com/isthmusnet/isthmus/awserr"
)

// RouteTable is a VPC's route table. Associations live in the table: a
// subnet without an explicit association uses the VPC's main table.
//
// Invariants the calls below keep: every table holds the local route for its
// VPC's CIDR first; exactly one table of a VPC holds the Main association
// (and Vpc.MainRouteTableID names it); a subnet has at most one explicit
// association across the tables of its VPC.
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

	// State is "active", or "blackhole" when the target no longer exists.
	// It is not stored: reads fill it in from the target.
	State string `json:"-"`
}

// Route origins, as AWS names them.
const (
	OriginCreateRouteTable = "CreateRouteTable"
	OriginCreateRoute      = "CreateRoute"
)

// Route states, as AWS names them.
const (
	RouteActive    = "active"
	RouteBlackhole = "blackhole"
)

// Local reports whether r is the table's local route.
func (r *Route) Local() bool { return r.GatewayID == "local" }

// destination is the route's destination: a CIDR or a prefix list id.
func (r *Route) destination() string {
	if r.DestinationPrefixListID != "" {
		return r.DestinationPrefixListID
	}
	return r.DestinationCidrBlock
}

// RouteAssociation ties a subnet (or, when Main, the VPC) to a table.
type RouteAssociation struct {
	ID       string `json:"id"` // rtbassoc-...
	SubnetID string `json:"subnet,omitempty"`
	Main     bool   `json:"main,omitempty"`
}

// AssociationState is the state every association of Isthmus is in: the
// change applies within the call.
const AssociationState = "associated"

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
		// One value per association: AWS documents that tables without
		// any association match neither true nor false.
		var out []string
		for _, a := range r.Associations {
			if v := boolValue(a.Main)[0]; !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
		return out, true
	case "route.destination-cidr-block":
		return r.routeValues(func(rt *Route) string { return rt.DestinationCidrBlock }), true
	case "route.destination-prefix-list-id":
		return r.routeValues(func(rt *Route) string { return rt.DestinationPrefixListID }), true
	case "route.gateway-id":
		// The wire shows an endpoint target as the route's gatewayId, so
		// the filter matches it there too.
		return r.routeValues(func(rt *Route) string { return rt.WireGatewayID() }), true
	case "route.vpc-endpoint-id":
		return r.routeValues(func(rt *Route) string { return rt.VpcEndpointID }), true
	case "route.origin":
		return r.routeValues(func(rt *Route) string { return rt.Origin }), true
	case "route.state":
		return r.routeValues(func(rt *Route) string { return rt.State }), true
	case "association.gateway-id", "route.destination-ipv6-cidr-block", "route.egress-only-internet-gateway-id",
		"route.instance-id", "route.nat-gateway-id", "route.transit-gateway-id", "route.vpc-peering-connection-id":
		// AWS's filters for things Isthmus has not got: valid, never matching.
		return nil, true
	}
	return nil, false
}

func (r *RouteTable) routeValues(f func(*Route) string) []string {
	var out []string
	for i := range r.Routes {
		if v := f(&r.Routes[i]); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// WireGatewayID is the route's gatewayId as EC2 shows it: "local", or the
// VPC endpoint the route targets (EC2's Route shape has no vpcEndpointId
// member; AWS reports endpoint targets as gatewayId).
func (r *Route) WireGatewayID() string {
	if r.VpcEndpointID != "" {
		return r.VpcEndpointID
	}
	return r.GatewayID
}

// mainAssociation returns the table's main association, if it holds it.
func (r *RouteTable) mainAssociation() (*RouteAssociation, bool) {
	for i := range r.Associations {
		if r.Associations[i].Main {
			return &r.Associations[i], true
		}
	}
	return nil, false
}

// IsMain reports whether r is its VPC's main route table.
func (r *RouteTable) IsMain() bool {
	_, ok := r.mainAssociation()
	return ok
}

// findRoute returns the index of the route to dst (a CIDR or a prefix list
// id), or -1.
func (r *RouteTable) findRoute(dst string) int {
	for i := range r.Routes {
		if r.Routes[i].destination() == dst {
			return i
		}
	}
	return -1
}

// createMainRouteTable creates v's main route table with the local route.
func (tx *Tx) createMainRouteTable(v *Vpc) (*RouteTable, error) {
	rt := newRouteTable(tx, v)
	rt.Associations = []RouteAssociation{{ID: tx.newID("rtbassoc"), Main: true}}
	return rt, tx.save(kindRouteTable, rt)
}

func newRouteTable(tx *Tx, v *Vpc) *RouteTable {
	return &RouteTable{
		Meta:   tx.newMeta(kindRouteTable, v.ID),
		Routes: []Route{{DestinationCidrBlock: v.CidrBlock, GatewayID: "local", Origin: OriginCreateRouteTable}},
	}
}

// CreateRouteTableInput is what CreateRouteTable takes. (ClientToken is
// honoured at the API edge.)
type CreateRouteTableInput struct {
	VpcID    string
	TagSpecs []TagSpec
}

// CreateRouteTable creates a table in one of the caller's VPCs holding the
// local route for the VPC's CIDR, and no associations.
func (c *Cloud) CreateRouteTable(who Caller, in CreateRouteTableInput) (*RouteTable, error) {
	if in.VpcID == "" {
		return nil, awserr.MissingParameter("VpcId")
	}
	tags, err := specTags(kindRouteTable, in.TagSpecs)
	if err != nil {
		return nil, err
	}
	var rt *RouteTable
	err = c.update(who, func(tx *Tx) error {
		v, err := load[Vpc](tx, kindVpc, in.VpcID)
		if err != nil {
			return err
		}
		rt = newRouteTable(tx, v)
		rt.Tags = tags
		return tx.save(kindRouteTable, rt)
	})
	if err != nil {
		return nil, err
	}
	rt.fillStates(nil)
	return rt, nil
}

// DescribeRouteTables lists the caller's route tables, by id and filters,
// one page (MaxResults 5–100) at a time. Route states are filled in.
func (c *Cloud) DescribeRouteTables(who Caller, ids []string, filters []Filter, p Page) ([]*RouteTable, string, error) {
	var out []*RouteTable
	err := c.view(who, func(tx *Tx) error {
		if err := checkFilters(&RouteTable{}, filters); err != nil {
			return err
		}
		all, err := describe[RouteTable](tx, kindRouteTable, ids, nil)
		if err != nil {
			return err
		}
		for _, rt := range all {
			rt.fillStates(tx)
			if matchFilters(rt, filters) {
				out = append(out, rt)
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return paginate(out, func(r *RouteTable) string { return r.ID }, p, 5, 100)
}

// fillStates sets each route's State from its target: a route to a
// network interface or VPC endpoint that no longer exists is a blackhole.
// A nil tx marks every route active (for a table just written).
func (r *RouteTable) fillStates(tx *Tx) {
	for i := range r.Routes {
		rt := &r.Routes[i]
		rt.State = RouteActive
		if tx == nil {
			continue
		}
		switch {
		case rt.NetworkInterfaceID != "":
			if _, ok, err := loadAny[NetworkInterface](tx, kindENI, rt.NetworkInterfaceID); err != nil || !ok {
				rt.State = RouteBlackhole
			}
		case rt.VpcEndpointID != "":
			if !tx.vpcEndpointTargetActive(rt.VpcEndpointID) {
				rt.State = RouteBlackhole
			}
		}
	}
}

// DeleteRouteTable deletes one of the caller's tables. The main table and
// a table with subnet associations cannot be deleted (AWS answers both with
// DependencyViolation).
func (c *Cloud) DeleteRouteTable(who Caller, id string) error {
	return c.update(who, func(tx *Tx) error {
		rt, err := load[RouteTable](tx, kindRouteTable, id)
		if err != nil {
			return err
		}
		if len(rt.Associations) > 0 {
			return awserr.New("DependencyViolation", "The routeTable '%s' has dependencies and cannot be deleted.", id)
		}
		return tx.remove(kindRouteTable, rt)
	})
}

// vpcRouteTables returns every table of a VPC, whoever owns it (all of a
// VPC's tables are its owner's).
func (tx *Tx) vpcRouteTables(vpcID string) ([]*RouteTable, error) {
	return listAll[RouteTable](tx, kindRouteTable, func(r *RouteTable) bool { return r.VpcID == vpcID })
}

// findAssociation returns the caller's table holding association id, and
// the association's index in it. An id that is not the caller's answers
// InvalidAssociationID.NotFound.
func (tx *Tx) findAssociation(id string) (*RouteTable, int, error) {
	notFound := awserr.New("InvalidAssociationID.NotFound", "The association ID '%s' does not exist", id)
	if !wellFormedID("rtbassoc", id) {
		return nil, 0, notFound
	}
	tables, err := list[RouteTable](tx, kindRouteTable, nil)
	if err != nil {
		return nil, 0, err
	}
	for _, rt := range tables {
		for i, a := range rt.Associations {
			if a.ID == id {
				return rt, i, nil
			}
		}
	}
	return nil, 0, notFound
}

// explicitAssociation returns the table of the subnet's VPC that holds an
// explicit association for it, if any.
func (tx *Tx) explicitAssociation(s *Subnet) (*RouteTable, *RouteAssociation, error) {
	tables, err := tx.vpcRouteTables(s.VpcID)
	if err != nil {
		return nil, nil, err
	}
	for _, rt := range tables {
		for i := range rt.Associations {
			if rt.Associations[i].SubnetID == s.ID {
				return rt, &rt.Associations[i], nil
			}
		}
	}
	return nil, nil, nil
}

// AssociateRouteTableInput is what AssociateRouteTable takes: a table and
// exactly one of a subnet or a gateway (gateways are not supported).
type AssociateRouteTableInput struct {
	RouteTableID string
	SubnetID     string
	GatewayID    string
}

// TableAssociation is an association with the table holding it, as
// AssociateRouteTable and ReplaceRouteTableAssociation answer it.
type TableAssociation struct {
	RouteAssociation
	RouteTableID string
}

// AssociateRouteTable explicitly associates a subnet with a table of the
// same VPC. A subnet has at most one explicit association
// (Resource.AlreadyAssociated, as AWS answers even when the table is the
// same); ReplaceRouteTableAssociation moves it.
func (c *Cloud) AssociateRouteTable(who Caller, in AssociateRouteTableInput) (*TableAssociation, error) {
	switch {
	case in.SubnetID != "" && in.GatewayID != "":
		return nil, awserr.InvalidParameterCombination("The request must contain exactly one of subnetId or gatewayId")
	case in.GatewayID != "":
		// Gateway route tables (edge associations) route traffic entering a
		// VPC from an internet or virtual private gateway; Isthmus VPCs
		// have neither.
		return nil, awserr.InvalidParameterValue("Invalid value '%s' for gatewayId. Gateway route tables are not supported: VPCs here have no internet or virtual private gateways.", in.GatewayID)
	case in.SubnetID == "":
		return nil, awserr.New("MissingParameter", "The request must contain exactly one of subnetId or gatewayId")
	}
	var out *TableAssociation
	err := c.update(who, func(tx *Tx) error {
		rt, err := load[RouteTable](tx, kindRouteTable, in.RouteTableID)
		if err != nil {
			return err
		}
		s, err := load[Subnet](tx, kindSubnet, in.SubnetID)
		if err != nil {
			return err
		}
		if s.VpcID != rt.VpcID {
			return awserr.InvalidParameterValue("Route table %s and subnet %s belong to different networks", rt.ID, s.ID)
		}
		if cur, _, err := tx.explicitAssociation(s); err != nil {
			return err
		} else if cur != nil {
			return awserr.New("Resource.AlreadyAssociated", "the specified association for route table %s conflicts with an existing association", rt.ID)
		}
		a := RouteAssociation{ID: tx.newID("rtbassoc"), SubnetID: s.ID}
		rt.Associations = append(rt.Associations, a)
		out = &TableAssociation{RouteAssociation: a, RouteTableID: rt.ID}
		return tx.save(kindRouteTable, rt)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DisassociateRouteTable removes a subnet's explicit association: the
// subnet falls back to the main table. The main association cannot be
// removed, only moved with ReplaceRouteTableAssociation.
func (c *Cloud) DisassociateRouteTable(who Caller, associationID string) error {
	if associationID == "" {
		return awserr.MissingParameter("AssociationId")
	}
	return c.update(who, func(tx *Tx) error {
		rt, i, err := tx.findAssociation(associationID)
		if err != nil {
			return err
		}
		if rt.Associations[i].Main {
			return awserr.InvalidParameterValue("cannot disassociate the main route table association %s", associationID)
		}
		rt.Associations = slices.Delete(rt.Associations, i, i+1)
		return tx.save(kindRouteTable, rt)
	})
}

// ReplaceRouteTableAssociation moves an association to another table of
// the same VPC and answers the new association. For a subnet association
// the subnet now uses that table; for the main association the table
// becomes the VPC's main table. Moving an association to the table that
// already holds it changes nothing and answers the same association.
func (c *Cloud) ReplaceRouteTableAssociation(who Caller, associationID, routeTableID string) (*TableAssociation, error) {
	if associationID == "" {
		return nil, awserr.MissingParameter("AssociationId")
	}
	if routeTableID == "" {
		return nil, awserr.MissingParameter("RouteTableId")
	}
	var out *TableAssociation
	err := c.update(who, func(tx *Tx) error {
		from, i, err := tx.findAssociation(associationID)
		if err != nil {
			return err
		}
		to, err := load[RouteTable](tx, kindRouteTable, routeTableID)
		if err != nil {
			return err
		}
		if to.VpcID != from.VpcID {
			return awserr.InvalidParameterValue("Route table association %s and route table %s belong to different networks", associationID, to.ID)
		}
		old := from.Associations[i]
		if to.ID == from.ID {
			out = &TableAssociation{RouteAssociation: old, RouteTableID: to.ID}
			return nil
		}
		from.Associations = slices.Delete(from.Associations, i, i+1)
		a := RouteAssociation{ID: tx.newID("rtbassoc"), SubnetID: old.SubnetID, Main: old.Main}
		to.Associations = append(to.Associations, a)
		if err := tx.save(kindRouteTable, from); err != nil {
			return err
		}
		if err := tx.save(kindRouteTable, to); err != nil {
			return err
		}
		if a.Main {
			v, err := load[Vpc](tx, kindVpc, to.VpcID)
			if err != nil {
				return err
			}
			v.MainRouteTableID = to.ID
			if err := tx.save(kindVpc, v); err != nil {
				return err
			}
		}
		out = &TableAssociation{RouteAssociation: a, RouteTableID: to.ID}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// effectiveRouteTable returns the table that routes traffic of subnet s:
// its explicitly associated table, or else its VPC's main table.
func (tx *Tx) effectiveRouteTable(s *Subnet) (*RouteTable, error) {
	tables, err := tx.vpcRouteTables(s.VpcID)
	if err != nil {
		return nil, err
	}
	var main *RouteTable
	for _, rt := range tables {
		for _, a := range rt.Associations {
			if a.SubnetID == s.ID {
				rt.fillStates(tx)
				return rt, nil
			}
			if a.Main {
				main = rt
			}
		}
	}
	if main == nil {
		return nil, fmt.Errorf("core: vpc %s has no main route table", s.VpcID)
	}
	main.fillStates(tx)
	return main, nil
}

// EffectiveRouteTable returns the route table that applies to one of the
// caller's subnets — the explicitly associated table, or the VPC's main
// table — with route states filled in. It is a read for the data plane; it
// answers InvalidSubnetID.NotFound for a subnet that is not the caller's.
func (c *Cloud) EffectiveRouteTable(who Caller, subnetID string) (*RouteTable, error) {
	var out *RouteTable
	err := c.view(who, func(tx *Tx) error {
		s, err := load[Subnet](tx, kindSubnet, subnetID)
		if err != nil {
			return err
		}
		out, err = tx.effectiveRouteTable(s)
		return err
	})
	return out, err
}

// RouteInput is what CreateRoute and ReplaceRoute take: a table, exactly
// one destination and exactly one target.
type RouteInput struct {
	RouteTableID string

	DestinationCidrBlock    string
	DestinationPrefixListID string

	// Supported targets. GatewayID may only be "local" (or, as AWS shows
	// endpoint targets, a VPC endpoint id); LocalTarget is ReplaceRoute's
	// way of asking for the local target.
	GatewayID          string
	NetworkInterfaceID string
	VpcEndpointID      string
	LocalTarget        bool

	// Unsupported names the other targets the request carried, by their
	// parameter names (e.g. "natGatewayId"), with their values.
	Unsupported []RouteTargetParam
}

// RouteTargetParam is a route target parameter: its wire name and value.
type RouteTargetParam struct {
	Param string
	Value string
}

// The route target parameters AWS knows, in its own order, for messages.
const routeTargetParams = "gatewayId, localGatewayId, carrierGatewayId, natGatewayId, networkInterfaceId, vpcPeeringConnectionId, egressOnlyInternetGatewayId, transitGatewayId, vpcEndpointId, coreNetworkArn, odbNetworkArn or instanceId"

// CreateRoute adds a route to one of the caller's tables. A destination the
// table already routes is RouteAlreadyExists, whatever the target (use
// ReplaceRoute to change it).
func (c *Cloud) CreateRoute(who Caller, in RouteInput) error {
	return c.setRoute(who, in, false)
}

// ReplaceRoute changes the target of an existing route. The local route
// only accepts its own target back (GatewayId local or LocalTarget), which
// changes nothing.
func (c *Cloud) ReplaceRoute(who Caller, in RouteInput) error {
	return c.setRoute(who, in, true)
}

func (c *Cloud) setRoute(who Caller, in RouteInput, replace bool) error {
	if in.RouteTableID == "" {
		return awserr.MissingParameter("RouteTableId")
	}
	if in.LocalTarget && !replace {
		return awserr.InvalidParameterValue("localTarget is only valid for ReplaceRoute")
	}
	dst, err := routeDestination(in.DestinationCidrBlock, in.DestinationPrefixListID)
	if err != nil {
		return err
	}
	n := len(in.Unsupported)
	for _, set := range []bool{in.GatewayID != "", in.NetworkInterfaceID != "", in.VpcEndpointID != "", in.LocalTarget} {
		if set {
			n++
		}
	}
	if n != 1 {
		msg := "The request must contain exactly one of " + routeTargetParams
		if replace {
			msg += ", or must have localTarget set to true"
		}
		if n == 0 {
			return awserr.New("MissingParameter", "%s", msg)
		}
		return awserr.InvalidParameterCombination("%s", msg)
	}
	if len(in.Unsupported) == 1 {
		// Isthmus VPCs are isolated by construction: there is no internet,
		// NAT, transit or virtual private gateway, no peering and no
		// instance to route through, so those targets are refused rather
		// than stored as routes that could never carry traffic.
		t := in.Unsupported[0]
		return awserr.InvalidParameterValue("Route target %s (%s) is not supported: a VPC here has no route out of it. Supported targets are the local gateway, network interfaces and VPC endpoints.", t.Param, t.Value)
	}
	if in.LocalTarget {
		in.GatewayID = "local"
	}
	if strings.HasPrefix(in.GatewayID, "vpce-") {
		// AWS reports endpoint targets as gatewayId; accept them back.
		in.VpcEndpointID, in.GatewayID = in.GatewayID, ""
	}
	return c.update(who, func(tx *Tx) error {
		rt, err := load[RouteTable](tx, kindRouteTable, in.RouteTableID)
		if err != nil {
			return err
		}
		v, err := load[Vpc](tx, kindVpc, rt.VpcID)
		if err != nil {
			return err
		}
		vpcCIDR, _ := ParseCIDR(v.CidrBlock)
		route := dst
		route.Origin = OriginCreateRoute
		switch {
		case in.GatewayID != "":
			if in.GatewayID != "local" {
				return awserr.InvalidParameterValue("Route target gatewayId (%s) is not supported: a VPC here has no internet or virtual private gateway. Supported targets are the local gateway, network interfaces and VPC endpoints.", in.GatewayID)
			}
			route.GatewayID = "local"
		case in.NetworkInterfaceID != "":
			eni, err := load[NetworkInterface](tx, kindENI, in.NetworkInterfaceID)
			if err != nil {
				return err
			}
			if eni.VpcID != rt.VpcID {
				return awserr.InvalidParameterValue("Route table %s and interface %s belong to different networks", rt.ID, eni.ID)
			}
			route.NetworkInterfaceID = eni.ID
		case in.VpcEndpointID != "":
			if err := tx.checkVpcEndpointTarget(rt, in.VpcEndpointID); err != nil {
				return err
			}
			route.VpcEndpointID = in.VpcEndpointID
		}
		if dst.DestinationPrefixListID != "" {
			if err := tx.checkPrefixListDestination(dst.DestinationPrefixListID); err != nil {
				return err
			}
		}

		i := rt.findRoute(dst.destination())
		switch {
		case i >= 0 && replace && rt.Routes[i].Local():
			if !route.Local() {
				return awserr.InvalidParameterValue("cannot replace local route %s in route table %s", v.CidrBlock, rt.ID)
			}
			return nil
		case i >= 0 && !replace:
			return awserr.New("RouteAlreadyExists", "The route identified by %s already exists.", dst.destination())
		case i < 0 && replace:
			// AWS answers InvalidParameterValue here, not InvalidRoute.NotFound.
			return awserr.InvalidParameterValue("There is no route defined for '%s' in the route table. Use CreateRoute instead.", dst.destination())
		}

		if p, ok := ParseCIDR(dst.DestinationCidrBlock); ok && vpcCIDR.Bits() <= p.Bits() && vpcCIDR.Contains(p.Addr()) {
			// Traffic inside a VPC always takes the local route. AWS refuses
			// such destinations with this message for targets other than
			// interfaces; its "more specific routing" (a subnet's whole CIDR
			// through an interface or Gateway Load Balancer endpoint) is not
			// supported here, so those targets are refused too, saying so.
			msg := "This route can target only an interface or an instance."
			if route.NetworkInterfaceID != "" || route.VpcEndpointID != "" {
				msg = "Routes more specific than the local route are not supported by this endpoint."
			}
			return awserr.InvalidParameterValue("The destination CIDR block %s is equal to or more specific than one of this VPC's CIDR blocks. %s", dst.DestinationCidrBlock, msg)
		}
		if route.Local() {
			// "local" reaches the VPC's own CIDR and nothing else.
			return awserr.InvalidParameterValue("Route target 'local' is only valid for the local route %s of route table %s", v.CidrBlock, rt.ID)
		}
		if i >= 0 {
			route.Origin = rt.Routes[i].Origin
			rt.Routes[i] = route
		} else {
			rt.Routes = append(rt.Routes, route)
		}
		return tx.save(kindRouteTable, rt)
	})
}

// routeDestination validates the destination parameters: exactly one of a
// CIDR (returned in canonical form) or a prefix list id.
func routeDestination(cidr, prefixList string) (Route, error) {
	const msg = "The request must contain exactly one of destinationCidrBlock, destinationIpv6CidrBlock or destinationPrefixListId"
	switch {
	case cidr != "" && prefixList != "":
		return Route{}, awserr.InvalidParameterCombination(msg)
	case prefixList != "":
		if !wellFormedID("pl", prefixList) {
			return Route{}, awserr.New("InvalidPrefixListId.Malformed", "Invalid id: \"%s\" (expecting \"pl-...\")", prefixList)
		}
		return Route{DestinationPrefixListID: prefixList}, nil
	case cidr != "":
		p, ok := ParseCIDR(cidr)
		if !ok {
			return Route{}, awserr.InvalidParameterValue("Value (%s) for parameter destinationCidrBlock is invalid. This is not a valid CIDR block.", cidr)
		}
		return Route{DestinationCidrBlock: p.String()}, nil
	}
	return Route{}, awserr.New("MissingParameter", msg)
}

// DeleteRoute removes the route to a destination (a CIDR or a prefix list
// id) from one of the caller's tables. The local route cannot be removed.
func (c *Cloud) DeleteRoute(who Caller, routeTableID, cidr, prefixList string) error {
	if routeTableID == "" {
		return awserr.MissingParameter("RouteTableId")
	}
	dst, err := routeDestination(cidr, prefixList)
	if err != nil {
		return err
	}
	return c.update(who, func(tx *Tx) error {
		rt, err := load[RouteTable](tx, kindRouteTable, routeTableID)
		if err != nil {
			return err
		}
		i := rt.findRoute(dst.destination())
		if i < 0 {
			param := "destination-cidr-block"
			if dst.DestinationPrefixListID != "" {
				param = "destination-prefix-list-id"
			}
			return awserr.New("InvalidRoute.NotFound", "no route with %s %s in route table %s", param, dst.destination(), rt.ID)
		}
		if rt.Routes[i].Local() {
			return awserr.InvalidParameterValue("cannot remove local route %s in route table %s", rt.Routes[i].DestinationCidrBlock, rt.ID)
		}
		if err := tx.routeRemovable(rt, &rt.Routes[i]); err != nil {
			return err
		}
		rt.Routes = slices.Delete(rt.Routes, i, i+1)
		return tx.save(kindRouteTable, rt)
	})
}

// Hooks for the objects of later issues.

// checkVpcEndpointTarget validates a VPC endpoint as the target of a route
// in rt. AWS accepts only Gateway Load Balancer endpoints of the table's
// own VPC as route targets; gateway endpoints get their prefix-list routes
// through ModifyVpcEndpoint, not CreateRoute. (The endpoint rules are in
// endpoint.go.)
func (tx *Tx) checkVpcEndpointTarget(rt *RouteTable, id string) error {
	if !wellFormedID("vpce", id) {
		return awserr.New("InvalidVpcEndpointId.Malformed", "Invalid id: \"%s\" (expecting \"vpce-...\")", id)
	}
	return tx.endpointRouteTarget(rt, id)
}

// vpcEndpointTargetActive reports whether a route to endpoint id is active
// (the endpoint exists and is available) rather than a blackhole.
func (tx *Tx) vpcEndpointTargetActive(id string) bool { return tx.endpointTargetActive(id) }

// checkPrefixListDestination validates a prefix list as a route
// destination: AWS-managed lists belong to gateway endpoints (see
// prefixlist.go); customer-managed lists are not modelled, so other
// well-formed ids are accepted.
func (tx *Tx) checkPrefixListDestination(id string) error { return tx.prefixListForRoute(id) }
