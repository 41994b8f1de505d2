package core

import (
	"strings"

	"github.com/isthmusnet/isthmus/awserr"
)

// Region is one AWS region served here, with its availability zones.
type Region struct {
	Name  string
	Zones []Zone
}

// Zone is an availability zone: its name (us-east-1a) and its zone id
// (use1-az1).
type Zone struct {
	Name string
	ID   string
}

// CommercialRegions are AWS's public commercial regions.
var CommercialRegions = []string{
	"us-east-1", "us-east-2", "us-west-1", "us-west-2",
	"af-south-1", "ap-east-1", "ap-east-2", "ap-south-1", "ap-south-2",
	"ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
	"ap-southeast-5", "ap-southeast-6", "ap-southeast-7",
	"ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
	"ca-central-1", "ca-west-1",
	"eu-central-1", "eu-central-2", "eu-west-1", "eu-west-2", "eu-west-3",
	"eu-south-1", "eu-south-2", "eu-north-1",
	"il-central-1", "me-south-1", "me-central-1", "mx-central-1", "sa-east-1",
}

// NewRegion returns a region with zones <name>a, b, c... (as many as
// zones), whose zone ids follow AWS's style (use1-az1, apse2-az3).
func NewRegion(name string, zones int) Region {
	r := Region{Name: name}
	prefix := ZoneIDPrefix(name)
	for i := 0; i < zones; i++ {
		r.Zones = append(r.Zones, Zone{
			Name: name + string(rune('a'+i)),
			ID:   prefix + "-az" + string(rune('1'+i)),
		})
	}
	return r
}

// DefaultRegions are the commercial regions, each with three zones.
func DefaultRegions() []Region {
	out := make([]Region, len(CommercialRegions))
	for i, name := range CommercialRegions {
		out[i] = NewRegion(name, 3)
	}
	return out
}

// ZoneIDPrefix abbreviates a region name as AWS's zone ids do:
// us-east-1 → use1, ap-southeast-2 → apse2, eu-central-1 → euc1.
func ZoneIDPrefix(region string) string {
	parts := strings.Split(region, "-")
	if len(parts) != 3 {
		return region
	}
	dir := parts[1]
	for _, w := range []struct{ long, short string }{
		{"northeast", "ne"}, {"northwest", "nw"}, {"southeast", "se"}, {"southwest", "sw"},
		{"north", "n"}, {"south", "s"}, {"east", "e"}, {"west", "w"}, {"central", "c"},
	} {
		if dir == w.long {
			dir = w.short
			break
		}
	}
	return parts[0] + dir + parts[2]
}

// Regions returns the regions served, in the order configured.
func (c *Cloud) Regions() []Region {
	out := make([]Region, len(c.order))
	for i, n := range c.order {
		out[i] = c.regions[n]
	}
	return out
}

// Region returns the region named name.
func (c *Cloud) Region(name string) (Region, bool) {
	r, ok := c.regions[name]
	return r, ok
}

// zone finds an availability zone of the caller's region by name or id.
func (tx *Tx) zone(name, id string) (Zone, error) {
	r := tx.c.regions[tx.who.Region]
	for _, z := range r.Zones {
		if (name != "" && z.Name == name) || (name == "" && z.ID == id) {
			if name != "" && id != "" && z.ID != id {
				break
			}
			return z, nil
		}
	}
	if name == "" {
		name = id
	}
	return Zone{}, awserr.InvalidParameterValue("Value (%s) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: %s.", name, zoneNames(r))
}

func zoneNames(r Region) string {
	names := make([]string, len(r.Zones))
	for i, z := range r.Zones {
		names[i] = z.Name
	}
	return strings.Join(names, ", ")
}

// Check validates the caller alone (its region), answering DryRunOperation
// for a valid DryRun: for read-only calls that touch no store.
func (c *Cloud) Check(who Caller) error {
	return c.view(who, func(*Tx) error { return nil })
}

// DescribeRegions lists the regions served, by name and filters
// (region-name, endpoint, opt-in-status).
func (c *Cloud) DescribeRegions(who Caller, names []string, filters []Filter) ([]Region, error) {
	var out []Region
	err := c.Check(who)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, ok := c.regions[n]; !ok {
			return nil, awserr.New("InvalidParameterValue", "Invalid region: %s", n)
		}
	}
	for _, r := range c.Regions() {
		if len(names) > 0 && !containsString(names, r.Name) {
			continue
		}
		ok := true
		for _, f := range filters {
			var have []string
			switch f.Name {
			case "region-name":
				have = []string{r.Name}
			case "endpoint":
				have = []string{"ec2." + r.Name + ".amazonaws.com"}
			case "opt-in-status":
				have = []string{"opt-in-not-required"}
			default:
				return nil, awserr.InvalidParameterValue("The filter '%s' is invalid", f.Name)
			}
			ok = ok && matchAny(have, f.Values)
		}
		if ok {
			out = append(out, r)
		}
	}
	return out, nil
}

// DescribeAvailabilityZones lists the zones of the caller's region, by name,
// id and filters (zone-name, zone-id, region-name, state, zone-type).
func (c *Cloud) DescribeAvailabilityZones(who Caller, names, ids []string, filters []Filter) ([]Zone, error) {
	if err := c.Check(who); err != nil {
		return nil, err
	}
	r := c.regions[who.Region]
	for _, n := range names {
		if !containsZone(r, n, "") {
			return nil, awserr.InvalidParameterValue("The availability zone '%s' is not available in the current region", n)
		}
	}
	for _, id := range ids {
		if !containsZone(r, "", id) {
			return nil, awserr.InvalidParameterValue("The availability zone ID '%s' is not available in the current region", id)
		}
	}
	var out []Zone
	for _, z := range r.Zones {
		if (len(names) > 0 || len(ids) > 0) && !containsString(names, z.Name) && !containsString(ids, z.ID) {
			continue
		}
		ok := true
		for _, f := range filters {
			var have []string
			switch f.Name {
			case "zone-name":
				have = []string{z.Name}
			case "zone-id":
				have = []string{z.ID}
			case "region-name", "group-name", "network-border-group":
				have = []string{r.Name}
			case "state":
				have = []string{"available"}
			case "zone-type":
				have = []string{"availability-zone"}
			case "opt-in-status":
				have = []string{"opt-in-not-required"}
			default:
				return nil, awserr.InvalidParameterValue("The filter '%s' is invalid", f.Name)
			}
			ok = ok && matchAny(have, f.Values)
		}
		if ok {
			out = append(out, z)
		}
	}
	return out, nil
}

func containsZone(r Region, name, id string) bool {
	for _, z := range r.Zones {
		if (name != "" && z.Name == name) || (id != "" && z.ID == id) {
			return true
		}
	}
	return false
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
