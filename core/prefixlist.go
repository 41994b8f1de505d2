package core

import (
	"sort"

	"github.com/isthmusnet/isthmus/awserr"
)

// Prefix lists. The AWS-managed prefix lists are those of the catalog's
// gateway services (com.amazonaws.<region>.s3, ...dynamodb): every account
// sees them, nobody changes them, and a gateway endpoint's routes target
// them. Customer-managed prefix lists are not modelled.

// PrefixList is an AWS-managed prefix list.
type PrefixList struct {
	ID      string
	Name    string // com.amazonaws.<region>.<service>
	Region  string
	Service string // the catalog service
	CIDRs   []string
}

// ARN is arn:aws:ec2:<region>:aws:prefix-list/<id>, as AWS-managed lists have.
func (p *PrefixList) ARN() string { return "arn:aws:ec2:" + p.Region + ":aws:prefix-list/" + p.ID }

// prefixListOwner is the OwnerId of AWS-managed prefix lists.
const prefixListOwner = "AWS"

// awsPrefixLists returns the prefix lists of the caller's region in id order.
func (tx *Tx) awsPrefixLists() []*PrefixList {
	var out []*PrefixList
	for i := range tx.c.serviceCatalog().Services {
		s := &tx.c.serviceCatalog().Services[i]
		if !s.HasType(EndpointTypeGateway) {
			continue
		}
		out = append(out, &PrefixList{
			ID: s.PrefixListID(tx.who.Region), Name: AWSServiceName(tx.who.Region, s.Name),
			Region: tx.who.Region, Service: s.Name, CIDRs: append([]string(nil), s.CIDRs...),
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// awsPrefixList returns the AWS-managed prefix list id, if it is one.
func (tx *Tx) awsPrefixList(id string) (*PrefixList, bool) {
	for _, p := range tx.awsPrefixLists() {
		if p.ID == id {
			return p, true
		}
	}
	return nil, false
}

func prefixListMalformed(id string) error {
	return awserr.New("InvalidPrefixListId.Malformed", "Invalid id: \"%s\" (expecting \"pl-...\")", id)
}

func prefixListNotFound(id string) error {
	return awserr.New("InvalidPrefixListID.NotFound", "The prefix list ID '%s' does not exist", id)
}

// prefixListFilter answers the filters of DescribePrefixLists (managed:
// false) and DescribeManagedPrefixLists (managed: true).
func prefixListFilter(p *PrefixList, name string, managed bool) ([]string, bool) {
	switch name {
	case "prefix-list-id":
		return []string{p.ID}, true
	case "prefix-list-name":
		return []string{p.Name}, true
	case "owner-id":
		if managed {
			return []string{prefixListOwner}, true
		}
	}
	return nil, false
}

// describePrefixLists is DescribePrefixLists and DescribeManagedPrefixLists.
func (c *Cloud) describePrefixLists(who Caller, ids []string, filters []Filter, managed bool) ([]*PrefixList, error) {
	for _, f := range filters {
		if _, ok := prefixListFilter(&PrefixList{}, f.Name, managed); !ok {
			return nil, awserr.InvalidParameterValue("The filter '%s' is invalid", f.Name)
		}
	}
	var out []*PrefixList
	err := c.view(who, func(tx *Tx) error {
		all := tx.awsPrefixLists()
		for _, id := range ids {
			if !wellFormedID("pl", id) {
				return prefixListMalformed(id)
			}
			if _, ok := tx.awsPrefixList(id); !ok {
				return prefixListNotFound(id)
			}
		}
		for _, p := range all {
			if len(ids) > 0 && !containsString(ids, p.ID) {
				continue
			}
			ok := true
			for _, f := range filters {
				have, _ := prefixListFilter(p, f.Name, managed)
				ok = ok && matchAny(have, f.Values)
			}
			if ok {
				out = append(out, p)
			}
		}
		return nil
	})
	return out, err
}

// DescribePrefixLists lists the AWS services' prefix lists (filters
// prefix-list-id and prefix-list-name).
func (c *Cloud) DescribePrefixLists(who Caller, ids []string, filters []Filter, p Page) ([]*PrefixList, string, error) {
	out, err := c.describePrefixLists(who, ids, filters, false)
	if err != nil {
		return nil, "", err
	}
	return paginateCapped(out, func(p *PrefixList) string { return p.ID }, p, 1000)
}

// DescribeManagedPrefixLists lists the managed prefix lists the caller can
// use: here the AWS-managed ones (filters owner-id, prefix-list-id,
// prefix-list-name; MaxResults 1–100).
func (c *Cloud) DescribeManagedPrefixLists(who Caller, ids []string, filters []Filter, p Page) ([]*PrefixList, string, error) {
	out, err := c.describePrefixLists(who, ids, filters, true)
	if err != nil {
		return nil, "", err
	}
	return paginate(out, func(p *PrefixList) string { return p.ID }, p, 1, 100)
}

// GetManagedPrefixListEntries lists a prefix list's CIDRs (MaxResults
// 1–100). AWS-managed lists have no versions: a TargetVersion other than
// the current one (1) is refused.
func (c *Cloud) GetManagedPrefixListEntries(who Caller, id string, targetVersion int64, p Page) ([]string, string, error) {
	if id == "" {
		return nil, "", awserr.MissingParameter("PrefixListId")
	}
	var pl *PrefixList
	err := c.view(who, func(tx *Tx) error {
		if !wellFormedID("pl", id) {
			return prefixListMalformed(id)
		}
		var ok bool
		if pl, ok = tx.awsPrefixList(id); !ok {
			return prefixListNotFound(id)
		}
		if targetVersion != 0 && targetVersion != 1 {
			return awserr.InvalidParameterValue("The prefix list %s does not have version %d.", id, targetVersion)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return paginate(pl.CIDRs, func(s string) string { return s }, p, 1, 100)
}

// paginateCapped is paginate for the calls whose MaxResults has no lower
// bound and an upper one that is a cap ("if the value is greater than
// 1,000, we return only 1,000 items"): MaxResults 0 asks for a full page
// of max. A negative value is refused.
func paginateCapped[T any](items []T, key func(T) string, p Page, max int32) ([]T, string, error) {
	if p.MaxResults < 0 {
		return nil, "", awserr.InvalidParameterValue("Value ( %d ) for parameter maxResults is invalid. Parameter must be greater than 0.", p.MaxResults)
	}
	if p.MaxResults == 0 || p.MaxResults > max {
		p.MaxResults = max
	}
	return paginate(items, key, p, 1, max)
}

// prefixListForSecurityGroup is the checkPrefixListID hook of security
// group rules: the list must exist (an AWS-managed list of the region).
func (tx *Tx) prefixListForSecurityGroup(id string) error {
	if !wellFormedID("pl", id) {
		return prefixListMalformed(id)
	}
	if _, ok := tx.awsPrefixList(id); !ok {
		return prefixListNotFound(id)
	}
	return nil
}

// prefixListForRoute is the checkPrefixListDestination hook of CreateRoute
// and ReplaceRoute. The AWS-managed prefix lists are route destinations
// only through gateway endpoints, which manage those routes themselves
// (ModifyVpcEndpoint AddRouteTableIds/RemoveRouteTableIds). Other
// well-formed ids stand for customer-managed lists, which are not modelled:
// they are accepted as before.
func (tx *Tx) prefixListForRoute(id string) error {
	if p, ok := tx.awsPrefixList(id); ok {
		return awserr.InvalidParameterValue("The prefix list %s (%s) is an AWS-managed prefix list: routes to it are managed by gateway VPC endpoints. Use ModifyVpcEndpoint to add or remove route tables.", id, p.Name)
	}
	return nil
}

// routeRemovable refuses DeleteRoute of a route a gateway endpoint
// manages.
func (tx *Tx) routeRemovable(rt *RouteTable, r *Route) error {
	if r.VpcEndpointID == "" || r.DestinationPrefixListID == "" {
		return nil
	}
	if e, ok, err := loadAny[VpcEndpoint](tx, kindVpcEndpoint, r.VpcEndpointID); err == nil && ok && e.Type == EndpointTypeGateway {
		return awserr.InvalidParameterValue("cannot remove route %s in route table %s: it belongs to VPC endpoint %s. Use ModifyVpcEndpoint with RemoveRouteTableIds instead.", r.DestinationPrefixListID, rt.ID, e.ID)
	}
	return nil
}
