package core

import (
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/isthmusnet/isthmus/awserr"
)

// Endpoint services (the provider side of PrivateLink). A service fronts
// network load balancers (ServiceType Interface) or gateway load balancers
// (ServiceType GatewayLoadBalancer) of its owner; its availability zones
// are those of its load balancers. Only the owner and the principals it
// allows see the service and may connect to it; anyone else gets
// InvalidServiceName, as if it did not exist.

// Service states (ServiceState), as EC2 names them.
const (
	ServiceAvailable = "Available"
)

// Private DNS name verification states.
const (
	DNSPendingVerification = "pendingVerification"
	DNSVerified            = "verified"
	DNSFailed              = "failed"
)

// EndpointService is an endpoint service configuration.
type EndpointService struct {
	Meta
	Type                string   `json:"type"` // Interface | GatewayLoadBalancer
	State               string   `json:"state"`
	AcceptanceRequired  bool     `json:"acceptance"`
	NLBs                []string `json:"nlbs,omitempty"`
	GWLBs               []string `json:"gwlbs,omitempty"`
	IPAddressTypes      []string `json:"ipTypes"`
	PayerResponsibility string   `json:"payer,omitempty"`
	PrivateDNSName      string   `json:"privateDns,omitempty"`
	// DNS is the verification of PrivateDNSName (nil without one).
	DNS        *DNSVerification   `json:"dns,omitempty"`
	Principals []AllowedPrincipal `json:"principals,omitempty"`
}

// DNSVerification is the TXT record that proves ownership of a service's
// private DNS name: a record Name (a label, created under the name's
// domain) holding Value.
type DNSVerification struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	State string `json:"state"`
	// Started is when verification was last asked for (on create, modify
	// or StartVpcEndpointServicePrivateDnsVerification).
	Started time.Time `json:"started"`
}

// AllowedPrincipal is one principal a service allows.
type AllowedPrincipal struct {
	ID        string `json:"id"` // vpce-svc-perm-...
	Principal string `json:"principal"`
	Type      string `json:"type"` // All | Account | User | Role
}

// ServiceName is com.amazonaws.vpce.<region>.<id>.
func (s *EndpointService) ServiceName() string {
	return "com.amazonaws.vpce." + s.Region + "." + s.ID
}

// BaseEndpointDNSName is <id>.<region>.vpce.amazonaws.com.
func (s *EndpointService) BaseEndpointDNSName() string {
	return s.ID + "." + s.Region + ".vpce.amazonaws.com"
}

// LoadBalancers are the service's load balancer ARNs.
func (s *EndpointService) LoadBalancers() []string {
	return append(append([]string(nil), s.NLBs...), s.GWLBs...)
}

// VerificationState is the private DNS name's verification state ("" without one).
func (s *EndpointService) VerificationState() string {
	if s.DNS == nil {
		return ""
	}
	return s.DNS.State
}

// VerifiedPrivateDNSName is the private DNS name consumers get: only once
// verified.
func (s *EndpointService) VerifiedPrivateDNSName() string {
	if s.DNS == nil || s.DNS.State != DNSVerified {
		return ""
	}
	return s.PrivateDNSName
}

// VerificationDomain is the domain the TXT record goes under: the private
// DNS name without a leading "*.".
func (s *EndpointService) VerificationDomain() string {
	return strings.TrimPrefix(s.PrivateDNSName, "*.")
}

// allows reports whether who may see and connect to the service: its
// owner, or a principal it allows ("*", the account's root, or the
// caller's own user or role ARN).
func (s *EndpointService) allows(who Caller) bool {
	if who.Account == s.Owner {
		return true
	}
	for _, p := range s.Principals {
		if p.Principal == "*" || p.Principal == RootARN(who.Account) || (who.ARN != "" && p.Principal == who.ARN) {
			return true
		}
	}
	return false
}

func (s *EndpointService) filter(name string) ([]string, bool) {
	switch name {
	case "service-name":
		return one(s.ServiceName()), true
	case "service-id":
		return one(s.ID), true
	case "service-state":
		return one(s.State), true
	case "service-type":
		return one(s.Type), true
	case "supported-ip-address-types":
		return s.IPAddressTypes, true
	case "service-region":
		return one(s.Region), true
	}
	return nil, false
}

func invalidServiceName(name string) error {
	return awserr.New("InvalidServiceName", "The Vpc Endpoint Service '%s' does not exist", name)
}

func invalidParameter(format string, args ...any) error {
	return awserr.New("InvalidParameter", format, args...)
}

// CreateEndpointServiceInput is what CreateVpcEndpointServiceConfiguration takes.
type CreateEndpointServiceInput struct {
	NetworkLoadBalancerARNs []string
	GatewayLoadBalancerARNs []string
	AcceptanceRequired      bool
	PrivateDNSName          string
	SupportedIPAddressTypes []string
	SupportedRegions        []string
	TagSpecs                []TagSpec
}

// CreateVpcEndpointServiceConfiguration creates an endpoint service for
// the caller's network or gateway load balancers (exactly one of the two
// kinds). A load balancer belongs to at most one service.
func (c *Cloud) CreateVpcEndpointServiceConfiguration(who Caller, in CreateEndpointServiceInput) (*EndpointService, error) {
	switch {
	case len(in.NetworkLoadBalancerARNs) == 0 && len(in.GatewayLoadBalancerARNs) == 0:
		return nil, invalidParameter("Either a Network Load Balancer or a Gateway Load Balancer must be specified.")
	case len(in.NetworkLoadBalancerARNs) > 0 && len(in.GatewayLoadBalancerARNs) > 0:
		return nil, invalidParameter("A service can have either Network Load Balancers or Gateway Load Balancers, not both.")
	}
	ipTypes, err := serviceIPTypes(nil, in.SupportedIPAddressTypes, nil)
	if err != nil {
		return nil, err
	}
	if err := checkSupportedRegions(who, in.SupportedRegions); err != nil {
		return nil, err
	}
	if in.PrivateDNSName != "" {
		if err := checkPrivateDNSName(in.PrivateDNSName); err != nil {
			return nil, err
		}
	}
	tags, err := specTags(kindEndpointService, in.TagSpecs)
	if err != nil {
		return nil, err
	}
	var s *EndpointService
	err = c.update(who, func(tx *Tx) error {
		s = &EndpointService{
			Meta:               tx.newMeta(kindEndpointService, ""),
			State:              ServiceAvailable,
			AcceptanceRequired: in.AcceptanceRequired,
			IPAddressTypes:     ipTypes,
		}
		s.Tags = tags
		s.Type = EndpointTypeInterface
		if len(in.GatewayLoadBalancerARNs) > 0 {
			s.Type = EndpointTypeGatewayLoadBalancer
		}
		if err := tx.addServiceLoadBalancers(s, in.NetworkLoadBalancerARNs, LoadBalancerNetwork); err != nil {
			return err
		}
		if err := tx.addServiceLoadBalancers(s, in.GatewayLoadBalancerARNs, LoadBalancerGateway); err != nil {
			return err
		}
		if in.PrivateDNSName != "" {
			if s.Type == EndpointTypeGatewayLoadBalancer {
				return invalidParameter("Private DNS names are not supported for Gateway Load Balancer endpoint services.")
			}
			tx.setPrivateDNSName(s, in.PrivateDNSName)
		}
		return tx.save(kindEndpointService, s)
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// addServiceLoadBalancers adds the caller's load balancers of type typ to
// s, refusing one that is missing, of the other type, or already another
// service's.
func (tx *Tx) addServiceLoadBalancers(s *EndpointService, arns []string, typ string) error {
	for _, arn := range arns {
		if containsString(s.LoadBalancers(), arn) {
			continue
		}
		lb, err := tx.findLoadBalancer(arn)
		if err != nil {
			return err
		}
		if lb == nil {
			return invalidParameter("Load balancer %s does not exist.", arn)
		}
		if lb.Type != typ {
			kind := "Network"
			if typ == LoadBalancerGateway {
				kind = "Gateway"
			}
			return invalidParameter("Load balancer %s is not a %s Load Balancer.", arn, kind)
		}
		user, err := serviceUsingLoadBalancer(tx, lb)
		if err != nil {
			return err
		}
		if user != "" && user != s.ID {
			return invalidParameter("Load balancer %s is already associated with another VPC Endpoint Service (%s).", arn, user)
		}
		if typ == LoadBalancerNetwork {
			s.NLBs = append(s.NLBs, arn)
		} else {
			s.GWLBs = append(s.GWLBs, arn)
		}
	}
	return nil
}

// serviceUsingLoadBalancer names the endpoint service using lb, or "". It
// is registered with the load balancers so that DeleteLoadBalancer
// answers ResourceInUse while a service uses one.
func serviceUsingLoadBalancer(tx *Tx, lb *LoadBalancer) (string, error) {
	arn := lb.ARN()
	var user string
	_, err := listAll[EndpointService](tx, kindEndpointService, func(s *EndpointService) bool {
		if user == "" && containsString(s.LoadBalancers(), arn) {
			user = s.ID
		}
		return false
	})
	return user, err
}

func init() { registerLoadBalancerUser(serviceUsingLoadBalancer) }

// serviceZones are the availability zones of s: those of its load
// balancers, in zone order.
func (tx *Tx) serviceZones(s *EndpointService) ([]Zone, error) {
	have := map[string]bool{}
	for _, arn := range s.LoadBalancers() {
		lb, err := tx.loadBalancerAnyOwner(arn)
		if err != nil {
			return nil, err
		}
		if lb == nil {
			continue
		}
		for _, z := range lb.Zones {
			have[z.ZoneName] = true
		}
	}
	var out []Zone
	for _, z := range tx.c.regions[tx.who.Region].Zones {
		if have[z.Name] {
			out = append(out, z)
		}
	}
	return out, nil
}

var ipAddressTypes = []string{"ipv4", "ipv6", "dualstack"}

// serviceIPTypes applies adds and removes to the supported IP address
// types. Isthmus load balancers are IPv4 only, so only ipv4 can be
// supported.
func serviceIPTypes(cur, add, remove []string) ([]string, error) {
	if len(cur) == 0 && len(add) == 0 {
		add = []string{"ipv4"}
	}
	set := map[string]bool{}
	for _, t := range cur {
		set[t] = true
	}
	for _, t := range add {
		if !containsString(ipAddressTypes, t) {
			return nil, awserr.InvalidParameterValue("Invalid supported IP address type '%s'. Valid values are ipv4, ipv6 and dualstack.", t)
		}
		if t != "ipv4" {
			return nil, invalidParameter("Supported IP address type %s requires dualstack load balancers, which are not supported here.", t)
		}
		set[t] = true
	}
	for _, t := range remove {
		delete(set, t)
	}
	if len(set) == 0 {
		return nil, invalidParameter("A service must support at least one IP address type.")
	}
	var out []string
	for _, t := range ipAddressTypes {
		if set[t] {
			out = append(out, t)
		}
	}
	return out, nil
}

// checkSupportedRegions refuses cross-region access: a service serves
// only its own region here.
func checkSupportedRegions(who Caller, regions []string) error {
	for _, r := range regions {
		if r != who.Region {
			return awserr.New("UnsupportedOperation", "Cross-region access to endpoint services is not supported: region %s.", r)
		}
	}
	return nil
}

var dnsLabelRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// checkPrivateDNSName accepts a lower-case domain name of at least two
// labels, optionally starting with "*.".
func checkPrivateDNSName(name string) error {
	bad := invalidParameter("Invalid private DNS name %s.", name)
	d := strings.TrimPrefix(name, "*.")
	if len(name) > 255 || strings.Count(d, ".") < 1 {
		return bad
	}
	for _, l := range strings.Split(d, ".") {
		if !dnsLabelRE.MatchString(l) {
			return bad
		}
	}
	return nil
}

// setPrivateDNSName gives s a private DNS name and a fresh verification
// record, pending verification.
func (tx *Tx) setPrivateDNSName(s *EndpointService, name string) {
	s.PrivateDNSName = name
	s.DNS = &DNSVerification{
		Name:    "_" + randomString(tx.c.rand, 20, lowerAlnum),
		Value:   "vpce:" + randomString(tx.c.rand, 20, lowerAlnum+"ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
		State:   DNSPendingVerification,
		Started: tx.c.Now(),
	}
}

// DescribeVpcEndpointServiceConfigurations lists the caller's services
// (filters service-name, service-id, service-state, supported-ip-address-types,
// tags).
func (c *Cloud) DescribeVpcEndpointServiceConfigurations(who Caller, ids []string, filters []Filter, p Page) ([]*ServiceView, string, error) {
	var out []*ServiceView
	err := c.view(who, func(tx *Tx) error {
		svcs, err := describe[EndpointService](tx, kindEndpointService, ids, filters)
		if err != nil {
			return err
		}
		for _, s := range svcs {
			v, err := tx.serviceView(s)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return paginateCapped(out, func(v *ServiceView) string { return v.ID }, p, 1000)
}

// ServiceView is a service with what its configuration shows beside it.
type ServiceView struct {
	*EndpointService
	Zones []Zone
}

func (tx *Tx) serviceView(s *EndpointService) (*ServiceView, error) {
	z, err := tx.serviceZones(s)
	if err != nil {
		return nil, err
	}
	return &ServiceView{EndpointService: s, Zones: z}, nil
}

// ServiceByID returns one of the caller's services with its zones.
func (c *Cloud) ServiceByID(who Caller, id string) (*ServiceView, error) {
	var v *ServiceView
	err := c.view(who, func(tx *Tx) error {
		s, err := load[EndpointService](tx, kindEndpointService, id)
		if err != nil {
			return err
		}
		v, err = tx.serviceView(s)
		return err
	})
	return v, err
}

// ModifyEndpointServiceInput is what ModifyVpcEndpointServiceConfiguration takes.
type ModifyEndpointServiceInput struct {
	ServiceID                     string
	AcceptanceRequired            *bool
	PrivateDNSName                string
	RemovePrivateDNSName          bool
	AddNetworkLoadBalancerARNs    []string
	RemoveNetworkLoadBalancerARNs []string
	AddGatewayLoadBalancerARNs    []string
	RemoveGatewayLoadBalancerARNs []string
	AddSupportedIPAddressTypes    []string
	RemoveSupportedIPAddressTypes []string
	AddSupportedRegions           []string
	RemoveSupportedRegions        []string
}

// ModifyVpcEndpointServiceConfiguration changes a service: acceptance, its
// private DNS name (a new name needs verifying again), its load balancers
// (at least one must remain) and supported IP address types.
func (c *Cloud) ModifyVpcEndpointServiceConfiguration(who Caller, in ModifyEndpointServiceInput) error {
	if in.ServiceID == "" {
		return awserr.MissingParameter("ServiceId")
	}
	if in.PrivateDNSName != "" && in.RemovePrivateDNSName {
		return awserr.InvalidParameterCombination("PrivateDnsName and RemovePrivateDnsName cannot both be specified.")
	}
	if in.PrivateDNSName != "" {
		if err := checkPrivateDNSName(in.PrivateDNSName); err != nil {
			return err
		}
	}
	if err := checkSupportedRegions(who, in.AddSupportedRegions); err != nil {
		return err
	}
	return c.update(who, func(tx *Tx) error {
		s, err := load[EndpointService](tx, kindEndpointService, in.ServiceID)
		if err != nil {
			return err
		}
		if in.AcceptanceRequired != nil {
			s.AcceptanceRequired = *in.AcceptanceRequired
		}
		if len(in.AddNetworkLoadBalancerARNs) > 0 && s.Type != EndpointTypeInterface ||
			len(in.AddGatewayLoadBalancerARNs) > 0 && s.Type != EndpointTypeGatewayLoadBalancer {
			return invalidParameter("A service can have either Network Load Balancers or Gateway Load Balancers, not both.")
		}
		if err := tx.addServiceLoadBalancers(s, in.AddNetworkLoadBalancerARNs, LoadBalancerNetwork); err != nil {
			return err
		}
		if err := tx.addServiceLoadBalancers(s, in.AddGatewayLoadBalancerARNs, LoadBalancerGateway); err != nil {
			return err
		}
		for _, arn := range append(append([]string(nil), in.RemoveNetworkLoadBalancerARNs...), in.RemoveGatewayLoadBalancerARNs...) {
			if !containsString(s.LoadBalancers(), arn) {
				return invalidParameter("Load balancer %s is not associated with service %s.", arn, s.ID)
			}
		}
		s.NLBs = without(s.NLBs, in.RemoveNetworkLoadBalancerARNs)
		s.GWLBs = without(s.GWLBs, in.RemoveGatewayLoadBalancerARNs)
		if len(s.LoadBalancers()) == 0 {
			return invalidParameter("A service must have at least one load balancer.")
		}
		if s.IPAddressTypes, err = serviceIPTypes(s.IPAddressTypes, in.AddSupportedIPAddressTypes, in.RemoveSupportedIPAddressTypes); err != nil {
			return err
		}
		switch {
		case in.RemovePrivateDNSName:
			s.PrivateDNSName, s.DNS = "", nil
		case in.PrivateDNSName != "":
			if s.Type == EndpointTypeGatewayLoadBalancer {
				return invalidParameter("Private DNS names are not supported for Gateway Load Balancer endpoint services.")
			}
			if in.PrivateDNSName != s.PrivateDNSName {
				tx.setPrivateDNSName(s, in.PrivateDNSName)
			}
		}
		return tx.save(kindEndpointService, s)
	})
}

func without(list, remove []string) []string {
	var out []string
	for _, v := range list {
		if !containsString(remove, v) {
			out = append(out, v)
		}
	}
	return out
}

// UnsuccessfulItem is one id a batch call could not act on, with AWS's
// error code and message for it.
type UnsuccessfulItem struct {
	ResourceID string
	Code       string
	Message    string
}

func unsuccessful(id string, err error) UnsuccessfulItem {
	if e, ok := awserr.As(err); ok {
		return UnsuccessfulItem{ResourceID: id, Code: e.Code, Message: e.Message}
	}
	return UnsuccessfulItem{ResourceID: id, Code: "InternalError", Message: err.Error()}
}

// DeleteVpcEndpointServiceConfigurations deletes services, each on its
// own: one that has endpoints connected (pendingAcceptance, pending or
// available) is refused with ExistingVpcEndpointConnections and an id
// that is not the caller's service with InvalidVpcEndpointService.NotFound,
// as per-id unsuccessful items. A deleted service's connections go with it.
func (c *Cloud) DeleteVpcEndpointServiceConfigurations(who Caller, ids []string) ([]UnsuccessfulItem, error) {
	if len(ids) == 0 {
		return nil, awserr.MissingParameter("ServiceId")
	}
	var out []UnsuccessfulItem
	err := c.update(who, func(tx *Tx) error {
		out = nil
		for _, id := range ids {
			if err := kindEndpointService.checkID(id); err != nil {
				out = append(out, unsuccessful(id, err))
				continue
			}
			s, err := load[EndpointService](tx, kindEndpointService, id)
			if awserr.HasCode(err, kindEndpointService.notFoundCode) {
				out = append(out, unsuccessful(id, awserr.New("InvalidVpcEndpointService.NotFound", "The VpcEndpointService Id '%s' does not exist", id)))
				continue
			} else if err != nil {
				return err
			}
			conns, err := tx.serviceConnections(s.ID)
			if err != nil {
				return err
			}
			busy := false
			for _, cn := range conns {
				busy = busy || cn.active()
			}
			if busy {
				out = append(out, unsuccessful(id, awserr.New("ExistingVpcEndpointConnections", "Service has existing active VPC Endpoint connections!")))
				continue
			}
			for _, cn := range conns {
				if err := tx.remove(kindConnection, cn); err != nil {
					return err
				}
			}
			if err := tx.dropNotifications(func(n *ConnectionNotification) bool { return n.ServiceID == s.ID }); err != nil {
				return err
			}
			if err := tx.remove(kindEndpointService, s); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// ModifyVpcEndpointServicePermissions adds and removes the principals a
// service allows, answering the added ones. Removing a principal does not
// touch the endpoints it already connected (as on AWS).
func (c *Cloud) ModifyVpcEndpointServicePermissions(who Caller, serviceID string, add, remove []string) ([]AllowedPrincipal, error) {
	if serviceID == "" {
		return nil, awserr.MissingParameter("ServiceId")
	}
	for _, p := range append(append([]string(nil), add...), remove...) {
		if _, err := principalType(p); err != nil {
			return nil, err
		}
	}
	var added []AllowedPrincipal
	err := c.update(who, func(tx *Tx) error {
		added = nil
		s, err := load[EndpointService](tx, kindEndpointService, serviceID)
		if err != nil {
			return err
		}
		kept := s.Principals[:0]
		for _, p := range s.Principals {
			if !containsString(remove, p.Principal) {
				kept = append(kept, p)
			}
		}
		s.Principals = kept
		for _, p := range add {
			dup := false
			for _, have := range s.Principals {
				dup = dup || have.Principal == p
			}
			if dup {
				continue
			}
			t, _ := principalType(p)
			ap := AllowedPrincipal{ID: tx.newID("vpce-svc-perm"), Principal: p, Type: t}
			s.Principals = append(s.Principals, ap)
			added = append(added, ap)
		}
		return tx.save(kindEndpointService, s)
	})
	if err != nil {
		return nil, err
	}
	return added, nil
}

var principalRE = regexp.MustCompile(`^arn:aws:iam::([0-9]{12}):(root|user/[\w+=,.@/-]+|role/[\w+=,.@/-]+)$`)

// principalType validates a principal and returns its type.
func principalType(p string) (string, error) {
	if p == "*" {
		return "All", nil
	}
	m := principalRE.FindStringSubmatch(p)
	if m == nil {
		return "", awserr.InvalidParameterValue("Invalid principal %s. A principal is '*' or the ARN of an account root, IAM user or IAM role.", p)
	}
	switch {
	case m[2] == "root":
		return "Account", nil
	case strings.HasPrefix(m[2], "user/"):
		return "User", nil
	}
	return "Role", nil
}

// DescribeVpcEndpointServicePermissions lists the principals a service
// allows (filters principal, principal-type).
func (c *Cloud) DescribeVpcEndpointServicePermissions(who Caller, serviceID string, filters []Filter, p Page) ([]AllowedPrincipal, *EndpointService, string, error) {
	if serviceID == "" {
		return nil, nil, "", awserr.MissingParameter("ServiceId")
	}
	for _, f := range filters {
		if f.Name != "principal" && f.Name != "principal-type" {
			return nil, nil, "", awserr.InvalidParameterValue("The filter '%s' is invalid", f.Name)
		}
	}
	var s *EndpointService
	err := c.view(who, func(tx *Tx) error {
		var err error
		s, err = load[EndpointService](tx, kindEndpointService, serviceID)
		return err
	})
	if err != nil {
		return nil, nil, "", err
	}
	var out []AllowedPrincipal
	for _, ap := range s.Principals {
		ok := true
		for _, f := range filters {
			v := ap.Principal
			if f.Name == "principal-type" {
				v = ap.Type
			}
			ok = ok && matchAny([]string{v}, f.Values)
		}
		if ok {
			out = append(out, ap)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	page, next, err := paginateCapped(out, func(a AllowedPrincipal) string { return a.ID }, p, 1000)
	return page, s, next, err
}

// StartVpcEndpointServicePrivateDnsVerification asks for the service's
// private DNS name to be verified (again): the state goes back to
// pendingVerification and the verification worker looks the TXT record up.
func (c *Cloud) StartVpcEndpointServicePrivateDnsVerification(who Caller, serviceID string) error {
	if serviceID == "" {
		return awserr.MissingParameter("ServiceId")
	}
	return c.update(who, func(tx *Tx) error {
		s, err := load[EndpointService](tx, kindEndpointService, serviceID)
		if err != nil {
			return err
		}
		if s.DNS == nil {
			return invalidParameter("Service %s has no private DNS name to verify.", s.ID)
		}
		if s.DNS.State == DNSVerified {
			return invalidParameter("The private DNS name of service %s is already verified.", s.ID)
		}
		s.DNS.State = DNSPendingVerification
		s.DNS.Started = tx.c.Now()
		return tx.save(kindEndpointService, s)
	})
}

// ModifyVpcEndpointServicePayerResponsibility makes the service owner pay
// for its endpoints. AWS knows one value, ServiceOwner, and the change
// cannot be undone.
func (c *Cloud) ModifyVpcEndpointServicePayerResponsibility(who Caller, serviceID, resp string) error {
	if serviceID == "" {
		return awserr.MissingParameter("ServiceId")
	}
	if resp != "ServiceOwner" {
		return awserr.InvalidParameterValue("Value (%s) for parameter payerResponsibility is invalid. Valid values: ServiceOwner.", resp)
	}
	return c.update(who, func(tx *Tx) error {
		s, err := load[EndpointService](tx, kindEndpointService, serviceID)
		if err != nil {
			return err
		}
		s.PayerResponsibility = resp
		return tx.save(kindEndpointService, s)
	})
}

// Private DNS verification, for the dnsverify worker.

// PendingVerification is one private DNS name waiting for verification.
type PendingVerification struct {
	Region    string
	ServiceID string
	// Record is the TXT record's full name (Name under the domain) and
	// Value the text it must hold.
	Record  string
	Value   string
	Started time.Time
}

// PendingDNSVerifications lists every service, in every region, whose
// private DNS name is pending verification.
func (c *Cloud) PendingDNSVerifications() ([]PendingVerification, error) {
	var out []PendingVerification
	for _, r := range c.Regions() {
		err := c.view(Caller{Region: r.Name}, func(tx *Tx) error {
			_, err := listAll[EndpointService](tx, kindEndpointService, func(s *EndpointService) bool {
				if s.DNS != nil && s.DNS.State == DNSPendingVerification {
					out = append(out, PendingVerification{Region: r.Name, ServiceID: s.ID,
						Record: s.DNS.Name + "." + s.VerificationDomain(), Value: s.DNS.Value, Started: s.DNS.Started})
				}
				return false
			})
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// CompleteDNSVerification records the outcome of a verification: verified
// or failed. It applies only if the service still waits for exactly that
// record value (a newer name or a fresh start wins).
func (c *Cloud) CompleteDNSVerification(region, serviceID, value string, verified bool) error {
	return c.update(Caller{Region: region}, func(tx *Tx) error {
		s, ok, err := loadAny[EndpointService](tx, kindEndpointService, serviceID)
		if err != nil || !ok || s.DNS == nil || s.DNS.Value != value || s.DNS.State != DNSPendingVerification {
			return err
		}
		s.DNS.State = DNSFailed
		if verified {
			s.DNS.State = DNSVerified
		}
		return tx.save(kindEndpointService, s)
	})
}

// ServiceDetail is a service as DescribeVpcEndpointServices shows it to a
// consumer: an AWS service of the catalog (one detail per endpoint type)
// or an endpoint service the caller may use.
type ServiceDetail struct {
	Name                string
	ID                  string
	Owner               string // account id, or "amazon"
	Type                string // Interface | Gateway | GatewayLoadBalancer
	Zones               []Zone
	BaseEndpointDNS     []string
	PrivateDNSName      string // only once verified
	VerificationState   string
	AcceptanceRequired  bool
	PolicySupported     bool
	ManagesVpcEndpoints bool
	PayerResponsibility string
	IPAddressTypes      []string
	Tags                []Tag // the owner's own services only
}

func (d *ServiceDetail) filterValues(name string) ([]string, bool) {
	switch name {
	case "owner":
		return []string{d.Owner}, true
	case "service-name":
		return []string{d.Name}, true
	case "service-region":
		return nil, true
	case "service-type":
		return []string{d.Type}, true
	case "supported-ip-address-types":
		return d.IPAddressTypes, true
	}
	m := Meta{Tags: d.Tags}
	if name == "owner-id" {
		return nil, false
	}
	return tagFilter(&m, name)
}

// DescribeVpcEndpointServices lists the services the caller can create
// endpoints to: the catalog's AWS services (interface ones once the data
// plane serves them) and every endpoint service that allows the caller.
// A service name the caller cannot use is InvalidServiceName.
func (c *Cloud) DescribeVpcEndpointServices(who Caller, names []string, filters []Filter, p Page) ([]*ServiceDetail, string, error) {
	for _, f := range filters {
		if _, ok := (&ServiceDetail{}).filterValues(f.Name); !ok {
			return nil, "", awserr.InvalidParameterValue("The filter '%s' is invalid", f.Name)
		}
	}
	var all []*ServiceDetail
	err := c.view(who, func(tx *Tx) error {
		zones := tx.c.regions[tx.who.Region].Zones
		for i := range tx.c.serviceCatalog().Services {
			s := &tx.c.serviceCatalog().Services[i]
			for _, t := range tx.offeredTypes(s) {
				d := &ServiceDetail{
					Name: AWSServiceName(who.Region, s.Name), ID: s.ServiceID(who.Region, t), Owner: "amazon", Type: t,
					Zones: zones, PolicySupported: s.Policy, IPAddressTypes: []string{"ipv4"},
				}
				if t == EndpointTypeGateway {
					d.BaseEndpointDNS = []string{s.Name + "." + who.Region + ".amazonaws.com"}
				} else {
					d.BaseEndpointDNS = []string{s.Name + "." + who.Region + ".vpce.amazonaws.com"}
					if d.PrivateDNSName = s.privateDNS(who.Region); d.PrivateDNSName != "" {
						d.VerificationState = DNSVerified
					}
				}
				all = append(all, d)
			}
		}
		svcs, err := listAll[EndpointService](tx, kindEndpointService, func(s *EndpointService) bool {
			return s.State == ServiceAvailable && s.allows(who)
		})
		if err != nil {
			return err
		}
		for _, s := range svcs {
			z, err := tx.serviceZones(s)
			if err != nil {
				return err
			}
			d := &ServiceDetail{
				Name: s.ServiceName(), ID: s.ID, Owner: s.Owner, Type: s.Type, Zones: z,
				BaseEndpointDNS:     []string{s.BaseEndpointDNSName()},
				PrivateDNSName:      s.VerifiedPrivateDNSName(),
				VerificationState:   s.VerificationState(),
				AcceptanceRequired:  s.AcceptanceRequired,
				PayerResponsibility: s.PayerResponsibility,
				IPAddressTypes:      s.IPAddressTypes,
			}
			if s.Type == EndpointTypeGatewayLoadBalancer {
				d.BaseEndpointDNS = nil
			}
			if s.Owner == who.Account {
				d.Tags = s.Tags
			}
			all = append(all, d)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	for _, n := range names {
		found := false
		for _, d := range all {
			found = found || d.Name == n
		}
		if !found {
			return nil, "", invalidServiceName(n)
		}
	}
	var out []*ServiceDetail
	for _, d := range all {
		if len(names) > 0 && !containsString(names, d.Name) {
			continue
		}
		ok := true
		for _, f := range filters {
			have, _ := d.filterValues(f.Name)
			if f.Name == "service-region" {
				have = []string{who.Region}
			}
			ok = ok && matchAny(have, f.Values)
		}
		if ok {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name+"/"+out[i].Type < out[j].Name+"/"+out[j].Type })
	return paginateCapped(out, func(d *ServiceDetail) string { return d.Name + "/" + d.Type }, p, 1000)
}
