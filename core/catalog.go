package core

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"

	"github.com/isthmusnet/isthmus/store"
)

// The AWS service catalog: the services of a region that VPC endpoints can
// reach (com.amazonaws.<region>.<name>), their endpoint types, private DNS
// names and — for gateway services — prefix lists. It is data, not code:
// catalog.json is embedded, and an operator extends or replaces it with a
// file of the same shape (LoadCatalog).
//
// Gateway services (S3, DynamoDB) are always offered. An interface service
// is offered only once the data plane can serve it: it marks it with
// SetAWSServiceServable, which is stored (so every API process sees it).

//go:embed catalog.json
var defaultCatalogJSON []byte

// Endpoint types, as EC2 names them.
const (
	EndpointTypeInterface           = "Interface"
	EndpointTypeGateway             = "Gateway"
	EndpointTypeGatewayLoadBalancer = "GatewayLoadBalancer"
)

// CatalogService is one AWS service of the catalog.
type CatalogService struct {
	// Name is the service's part of com.amazonaws.<region>.<name>.
	Name  string   `json:"name"`
	Types []string `json:"types"` // Interface and/or Gateway
	// PrivateDNSName is the name interface endpoints answer for, with
	// {region} standing for the region.
	PrivateDNSName string `json:"privateDnsName,omitempty"`
	// Wildcard: the endpoint's DNS names are *.<name> (as S3's are).
	Wildcard bool `json:"wildcard,omitempty"`
	// Policy: VPC endpoint policies are supported.
	Policy bool `json:"policy,omitempty"`
	// CIDRs are the prefix list's entries (gateway services).
	CIDRs []string `json:"cidrs,omitempty"`
	// PrefixListIDs pins the prefix list id in some regions.
	PrefixListIDs map[string]string `json:"prefixListIds,omitempty"`
}

// HasType reports whether the service offers endpoints of type t.
func (s *CatalogService) HasType(t string) bool { return containsString(s.Types, t) }

// Catalog is the set of AWS services.
type Catalog struct {
	Services []CatalogService `json:"services"`
	byName   map[string]*CatalogService
}

type catalogFile struct {
	Comment string `json:"comment,omitempty"`
	// Replace: the file replaces the embedded catalog instead of
	// extending it.
	Replace  bool             `json:"replace,omitempty"`
	Services []CatalogService `json:"services"`
}

// DefaultCatalog returns the embedded catalog.
func DefaultCatalog() *Catalog {
	c, err := parseCatalog(defaultCatalogJSON, nil)
	if err != nil {
		panic("core: embedded catalog.json: " + err.Error())
	}
	return c
}

// LoadCatalog reads an operator's catalog file. Its services extend the
// embedded catalog (a service of the same name replaces the embedded one),
// or replace it altogether when the file says "replace": true.
func LoadCatalog(path string) (*Catalog, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := parseCatalog(b, DefaultCatalog())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func parseCatalog(b []byte, base *Catalog) (*Catalog, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f catalogFile
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	merged := map[string]CatalogService{}
	if base != nil && !f.Replace {
		for _, s := range base.Services {
			merged[s.Name] = s
		}
	}
	for _, s := range f.Services {
		if err := s.validate(); err != nil {
			return nil, err
		}
		merged[s.Name] = s
	}
	c := &Catalog{byName: map[string]*CatalogService{}}
	for _, s := range merged {
		c.Services = append(c.Services, s)
	}
	sort.Slice(c.Services, func(i, j int) bool { return c.Services[i].Name < c.Services[j].Name })
	for i := range c.Services {
		c.byName[c.Services[i].Name] = &c.Services[i]
	}
	return c, nil
}

func (s *CatalogService) validate() error {
	if s.Name == "" || strings.ContainsAny(s.Name, " /*") {
		return fmt.Errorf("service name %q is not valid", s.Name)
	}
	if len(s.Types) == 0 {
		return fmt.Errorf("service %s has no types", s.Name)
	}
	for _, t := range s.Types {
		if t != EndpointTypeInterface && t != EndpointTypeGateway {
			return fmt.Errorf("service %s: type %q is not Interface or Gateway", s.Name, t)
		}
	}
	if s.HasType(EndpointTypeGateway) && len(s.CIDRs) == 0 {
		return fmt.Errorf("gateway service %s has no cidrs for its prefix list", s.Name)
	}
	for _, c := range s.CIDRs {
		if _, ok := ParseCIDR(c); !ok {
			return fmt.Errorf("service %s: %q is not an IPv4 CIDR", s.Name, c)
		}
	}
	for r, id := range s.PrefixListIDs {
		if !wellFormedID("pl", id) {
			return fmt.Errorf("service %s: prefix list id %q for %s is not pl-<hex>", s.Name, id, r)
		}
	}
	return nil
}

// lookup returns the service named by its short name.
func (c *Catalog) lookup(name string) (*CatalogService, bool) {
	s, ok := c.byName[name]
	return s, ok
}

// AWSServiceName is com.amazonaws.<region>.<name>.
func AWSServiceName(region, name string) string { return "com.amazonaws." + region + "." + name }

// awsServiceShortName returns <name> of com.amazonaws.<region>.<name>.
func awsServiceShortName(region, serviceName string) (string, bool) {
	return strings.CutPrefix(serviceName, "com.amazonaws."+region+".")
}

// PrefixListID is the id of the service's prefix list in region.
func (s *CatalogService) PrefixListID(region string) string {
	if id, ok := s.PrefixListIDs[region]; ok {
		return id
	}
	sum := sha256.Sum256([]byte("isthmus/prefix-list/" + region + "/" + s.Name))
	return "pl-" + hex.EncodeToString(sum[:])[:8]
}

// ServiceID is the stable vpce-svc- id AWS services carry in
// DescribeVpcEndpointServices.
func (s *CatalogService) ServiceID(region, typ string) string {
	sum := sha256.Sum256([]byte("isthmus/service/" + region + "/" + s.Name + "/" + typ))
	return "vpce-svc-" + hex.EncodeToString(sum[:])[:17]
}

// privateDNS is the service's private DNS name in region ("" if none).
func (s *CatalogService) privateDNS(region string) string {
	return strings.ReplaceAll(s.PrivateDNSName, "{region}", region)
}

// Prefixes returns the prefix list's CIDRs, parsed.
func (s *CatalogService) Prefixes() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(s.CIDRs))
	for _, c := range s.CIDRs {
		if p, ok := ParseCIDR(c); ok {
			out = append(out, p)
		}
	}
	return out
}

// catalog returns the cloud's catalog.
func (c *Cloud) serviceCatalog() *Catalog {
	if c.catalog == nil {
		return defaultCatalog
	}
	return c.catalog
}

var defaultCatalog = DefaultCatalog()

// Servability of interface services, stored so that every process of a
// deployment agrees:
//
//	r/<region>/servable/<name>  → "1"
func servableKey(region, name string) string { return "r/" + region + "/servable/" + name }

// SetAWSServiceServable records whether the data plane can serve the
// interface endpoints of the catalog service name in region. Only
// servable interface services are offered by DescribeVpcEndpointServices
// and CreateVpcEndpoint.
func (c *Cloud) SetAWSServiceServable(region, name string, servable bool) error {
	if _, ok := c.regions[region]; !ok {
		return unknownRegion(region)
	}
	if _, ok := c.serviceCatalog().lookup(name); !ok {
		return fmt.Errorf("core: %q is not a service of the catalog", name)
	}
	_, err := c.st.Update(func(tx store.Tx) error {
		if servable {
			return tx.Put(servableKey(region, name), []byte("1"))
		}
		return tx.Delete(servableKey(region, name))
	})
	return err
}

// servable reports whether the data plane serves interface endpoints of
// the catalog service name in the caller's region.
func (tx *Tx) servable(name string) bool {
	_, ok := tx.Get(servableKey(tx.who.Region, name))
	return ok
}

// offeredTypes are the types of s that DescribeVpcEndpointServices offers
// now: gateway always, interface once servable.
func (tx *Tx) offeredTypes(s *CatalogService) []string {
	var out []string
	for _, t := range s.Types {
		if t == EndpointTypeInterface && !tx.servable(s.Name) {
			continue
		}
		out = append(out, t)
	}
	return out
}
