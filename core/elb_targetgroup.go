package core

import (
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/isthmusnet/isthmus/awserr"
	"github.com/isthmusnet/isthmus/store"
)

// Target groups of network load balancers (TCP, UDP, TCP_UDP) and gateway
// load balancers (GENEVE on 6081), with target types instance and ip.
//
// Isthmus has no EC2 instances: an "instance" target names a network
// interface (eni-...) of the caller in the target group's VPC, which stands
// for the host behind it. ip targets must lie inside the VPC's CIDR.
//
// TLS is refused for target groups and listeners: Isthmus has no
// certificates to terminate it with, and a TCP listener carries TLS through
// unchanged.
//
// Every registered target has a health record,
//
//	r/<region>/elb-th/<target group id>/<target id>/<port>  →  TargetHealth
//
// written "initial" at registration and later by the data plane's health
// checker through SetTargetHealth. DescribeTargetHealth answers "unused"
// (Target.NotInUse) while no load balancer uses the group, or the target's
// zone is not one of the load balancer's, whatever the record says.

// Target group protocols and target types Isthmus serves.
const (
	ProtocolTCP    = "TCP"
	ProtocolUDP    = "UDP"
	ProtocolTCPUDP = "TCP_UDP"
	ProtocolGENEVE = "GENEVE"

	TargetTypeInstance = "instance"
	TargetTypeIP       = "ip"
)

// genevePort is the only port of GENEVE target groups and their targets.
const genevePort = 6081

var elbProtocols = []string{"HTTP", "HTTPS", "TCP", "TLS", "UDP", "TCP_UDP", "GENEVE", "QUIC", "TCP_QUIC"}

// TargetGroup is a set of targets a listener forwards to.
type TargetGroup struct {
	Meta
	Name          string            `json:"name"`
	Protocol      string            `json:"protocol"`
	Port          int32             `json:"port"`
	TargetType    string            `json:"targetType"`
	IPAddressType string            `json:"ipType"`
	HealthCheck   HealthCheck       `json:"hc"`
	Attributes    map[string]string `json:"attrs"`
	Targets       []Target          `json:"targets,omitempty"`

	// LoadBalancerARNs are the load balancers whose listeners forward to
	// the group, filled in by reads (not stored).
	LoadBalancerARNs []string `json:"-"`
}

// HealthCheck is how the data plane checks a target group's targets.
type HealthCheck struct {
	Enabled  bool   `json:"enabled"`
	Protocol string `json:"protocol"` // TCP | HTTP | HTTPS
	Port     string `json:"port"`     // traffic-port or a number
	Path     string `json:"path,omitempty"`
	Interval int32  `json:"interval"`
	Timeout  int32  `json:"timeout"`
	Healthy  int32  `json:"healthy"`
	// Unhealthy is the number of failed checks that make a target unhealthy.
	Unhealthy int32 `json:"unhealthy"`
	// Matcher holds the HTTP codes of a healthy answer ("200-399").
	Matcher string `json:"matcher,omitempty"`
}

// Target is a registered target: an IP address or a network interface id,
// and the port traffic goes to.
type Target struct {
	ID               string    `json:"id"`
	Port             int32     `json:"port"`
	AvailabilityZone string    `json:"az,omitempty"`
	Registered       time.Time `json:"registered"`
}

// TargetHealth is the health of one registered target.
type TargetHealth struct {
	State       string    `json:"state"`
	Reason      string    `json:"reason,omitempty"`
	Description string    `json:"desc,omitempty"`
	Updated     time.Time `json:"updated"`
	// Until is when a draining target's deregistration completes (draining.go).
	Until time.Time `json:"until,omitzero"`
}

func (tg *TargetGroup) filter(string) ([]string, bool) { return nil, false }

// ARN is the target group's ARN.
func (tg *TargetGroup) ARN() string {
	return elbARN(tg.Region, tg.Owner, "targetgroup/"+tg.Name+"/"+tg.ID)
}

// Gateway reports whether the group serves gateway load balancers.
func (tg *TargetGroup) Gateway() bool { return tg.Protocol == ProtocolGENEVE }

// healthCheckPort is the port health checks of t go to.
func (tg *TargetGroup) healthCheckPort(t Target) string {
	if tg.HealthCheck.Port == "traffic-port" {
		return strconv.Itoa(int(t.Port))
	}
	return tg.HealthCheck.Port
}

func targetGroupIDOf(arn string) (string, bool) {
	res, p, ok := parseELBARN(arn)
	if !ok || res != "targetgroup" || len(p) != 2 || !isELBHex(p[1]) {
		return "", false
	}
	return p[1], true
}

func tgNotFound(arn string) error {
	return awserr.New("TargetGroupNotFound", "Target group '%s' not found", arn)
}

// loadTargetGroup returns the caller's target group arn names:
// ValidationError if the ARN is malformed, TargetGroupNotFound if it is
// missing or another account's.
func (tx *Tx) loadTargetGroup(arn string) (*TargetGroup, error) {
	id, ok := targetGroupIDOf(arn)
	if !ok {
		return nil, elbValidation("'%s' is not a valid target group ARN", arn)
	}
	tg, found, err := getJSON[TargetGroup](tx, objectKey(tx.who.Region, kindTargetGroup, id))
	if err != nil {
		return nil, err
	}
	if !found || tg.ARN() != arn || tg.Owner != tx.who.Account {
		return nil, tgNotFound(arn)
	}
	return tg, nil
}

// HealthCheckInput are the health check settings of CreateTargetGroup and
// ModifyTargetGroup; nil leaves a setting at its default (create) or
// unchanged (modify).
type HealthCheckInput struct {
	Enabled   *bool
	Protocol  *string
	Port      *string
	Path      *string
	Interval  *int32
	Timeout   *int32
	Healthy   *int32
	Unhealthy *int32
	HTTPCode  *string
	GrpcCode  *string
}

// CreateTargetGroupInput is what CreateTargetGroup takes.
type CreateTargetGroupInput struct {
	Name              string
	Protocol          string
	ProtocolVersion   string
	Port              *int32
	VpcID             string
	TargetType        string // "": instance
	IPAddressType     string // "": ipv4
	TargetControlPort *int32
	HealthCheck       HealthCheckInput
	Tags              []Tag
}

// CreateTargetGroup creates a target group. As on AWS the call is
// idempotent: the same name with the same settings answers the existing
// group; with other settings it is DuplicateTargetGroupName.
func (c *Cloud) CreateTargetGroup(who Caller, in CreateTargetGroupInput) (*TargetGroup, error) {
	if err := checkELBName("Target group", in.Name); err != nil {
		return nil, err
	}
	switch in.TargetType {
	case "":
		in.TargetType = TargetTypeInstance
	case TargetTypeInstance, TargetTypeIP:
	case "lambda", "alb":
		return nil, invalidConfig("Target type '%s' is not supported by Isthmus: use 'instance' or 'ip'", in.TargetType)
	default:
		return nil, enumError("targetType", in.TargetType, "instance", "ip", "lambda", "alb")
	}
	switch in.IPAddressType {
	case "", "ipv4":
		in.IPAddressType = "ipv4"
	case "ipv6":
		return nil, invalidConfig("Isthmus has no IPv6: the IP address type of a target group can only be 'ipv4'")
	default:
		return nil, enumError("ipAddressType", in.IPAddressType, "ipv4", "ipv6")
	}
	if in.Protocol == "" {
		return nil, elbValidation("A protocol must be specified")
	}
	if err := checkTGProtocol(in.Protocol); err != nil {
		return nil, err
	}
	if in.Port == nil {
		return nil, elbValidation("A port must be specified")
	}
	if *in.Port < 1 || *in.Port > 65535 {
		return nil, rangeError("port", int64(*in.Port), 1, 65535)
	}
	if in.Protocol == ProtocolGENEVE && *in.Port != genevePort {
		return nil, invalidConfig("The port of a GENEVE target group must be %d", genevePort)
	}
	if in.ProtocolVersion != "" {
		return nil, invalidConfig("A protocol version can only be specified for HTTP and HTTPS target groups")
	}
	if in.TargetControlPort != nil {
		return nil, invalidConfig("A target control port can only be specified for Application Load Balancer target groups")
	}
	if in.VpcID == "" {
		return nil, elbValidation("A VPC ID must be specified")
	}
	if err := checkELBTags(in.Tags); err != nil {
		return nil, err
	}
	tg := &TargetGroup{
		Name:          in.Name,
		Protocol:      in.Protocol,
		Port:          *in.Port,
		TargetType:    in.TargetType,
		IPAddressType: in.IPAddressType,
		HealthCheck:   defaultHealthCheck(in.Protocol),
	}
	if err := tg.applyHealthCheck(in.HealthCheck); err != nil {
		return nil, err
	}
	err := c.update(who, func(tx *Tx) error {
		v, err := load[Vpc](tx, kindVpc, in.VpcID)
		if err != nil {
			if _, ok := awserr.As(err); ok {
				return elbValidation("The VPC ID '%s' is not found", in.VpcID)
			}
			return err
		}
		existing, err := list[TargetGroup](tx, kindTargetGroup, func(o *TargetGroup) bool { return o.Name == in.Name })
		if err != nil {
			return err
		}
		if len(existing) > 0 {
			e := existing[0]
			if e.VpcID == v.ID && e.Protocol == tg.Protocol && e.Port == tg.Port && e.TargetType == tg.TargetType &&
				e.IPAddressType == tg.IPAddressType && e.HealthCheck == tg.HealthCheck {
				tg = e
				return tx.fillTargetGroupLBs(tg)
			}
			return awserr.New("DuplicateTargetGroupName", "A target group with the same name '%s' exists, but with different settings", in.Name)
		}
		tg.Meta = tx.elbMeta(kindTargetGroup, v.ID)
		tg.Tags = mergeTags(nil, in.Tags)
		tg.Attributes = tgDefaultAttributes(tg)
		return tx.save(kindTargetGroup, tg)
	})
	if err != nil {
		return nil, err
	}
	return tg, nil
}

// checkTGProtocol refuses the protocols Isthmus does not serve.
func checkTGProtocol(p string) error {
	switch p {
	case ProtocolTCP, ProtocolUDP, ProtocolTCPUDP, ProtocolGENEVE:
		return nil
	case "TLS":
		return invalidConfig("The TLS protocol is not supported by Isthmus, which has no certificates: use TCP and terminate TLS on the targets")
	case "HTTP", "HTTPS":
		return invalidConfig("The %s protocol is for Application Load Balancers, which Isthmus does not serve: use TCP", p)
	case "QUIC", "TCP_QUIC":
		return invalidConfig("The %s protocol is not supported by Isthmus", p)
	}
	return enumError("protocol", p, elbProtocols...)
}

// defaultHealthCheck is AWS's health check for a new target group of
// protocol p: TCP on the traffic port every 30 s with a 10 s timeout, 5
// successes and 2 failures; for GENEVE, TCP on port 80 every 10 s with a
// 5 s timeout.
func defaultHealthCheck(p string) HealthCheck {
	hc := HealthCheck{Enabled: true, Protocol: "TCP", Port: "traffic-port", Interval: 30, Timeout: 10, Healthy: 5, Unhealthy: 2}
	if p == ProtocolGENEVE {
		hc.Port, hc.Interval, hc.Timeout = "80", 10, 5
	}
	return hc
}

var httpCodesRE = regexp.MustCompile(`^[0-9]{3}(-[0-9]{3})?(,[0-9]{3}(-[0-9]{3})?)*$`)

// applyHealthCheck applies the given settings to tg's health check and
// validates the result, with AWS's ranges: interval 5-300, timeout 2-120
// (less than the interval), thresholds 2-10, path and matcher only for
// HTTP and HTTPS checks, matcher codes within 200-599 (200-399 for GENEVE).
func (tg *TargetGroup) applyHealthCheck(in HealthCheckInput) error {
	hc := tg.HealthCheck
	if in.Enabled != nil {
		if !*in.Enabled {
			return invalidConfig("Health checks cannot be disabled for target groups with target type '%s'", tg.TargetType)
		}
		hc.Enabled = true
	}
	if in.Protocol != nil {
		switch p := *in.Protocol; p {
		case "TCP", "HTTP", "HTTPS":
			if p != hc.Protocol {
				wasHTTP := hc.Protocol != "TCP"
				hc.Protocol = p
				switch {
				case p == "TCP":
					hc.Path, hc.Matcher = "", ""
				case !wasHTTP:
					hc.Path, hc.Matcher = "/", "200-399"
				}
			}
		default:
			if !containsString(elbProtocols, p) {
				return enumError("healthCheckProtocol", p, elbProtocols...)
			}
			return invalidConfig("Health check protocol '%s' is not supported: use TCP, HTTP or HTTPS", p)
		}
	}
	httpCheck := hc.Protocol != "TCP"
	if in.Port != nil {
		p := *in.Port
		if p != "traffic-port" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				return elbValidation("Health check port '%s' is not valid: it must be 'traffic-port' or a port from 1 to 65535", p)
			}
		}
		hc.Port = p
	}
	if in.Path != nil {
		p := *in.Path
		switch {
		case !httpCheck:
			return invalidConfig("A health check path can only be specified for HTTP and HTTPS health checks")
		case len(p) < 1 || len(p) > 1024:
			return elbValidation("1 validation error detected: Value '%s' at 'healthCheckPath' failed to satisfy constraint: Member must have length between 1 and 1024", p)
		case !strings.HasPrefix(p, "/"):
			return elbValidation("Health check path '%s' must begin with '/'", p)
		}
		hc.Path = p
	}
	for _, r := range []struct {
		v        *int32
		dst      *int32
		field    string
		min, max int64
	}{
		{in.Interval, &hc.Interval, "healthCheckIntervalSeconds", 5, 300},
		{in.Timeout, &hc.Timeout, "healthCheckTimeoutSeconds", 2, 120},
		{in.Healthy, &hc.Healthy, "healthyThresholdCount", 2, 10},
		{in.Unhealthy, &hc.Unhealthy, "unhealthyThresholdCount", 2, 10},
	} {
		if r.v == nil {
			continue
		}
		if int64(*r.v) < r.min || int64(*r.v) > r.max {
			return rangeError(r.field, int64(*r.v), r.min, r.max)
		}
		*r.dst = *r.v
	}
	if in.Protocol != nil && in.Timeout == nil && tg.ID == "" && tg.Protocol != ProtocolGENEVE && hc.Protocol == "HTTP" {
		hc.Timeout = 6 // AWS's default timeout of HTTP checks
	}
	if hc.Timeout >= hc.Interval {
		return elbValidation("Health check timeout '%d' must be smaller than the interval '%d'", hc.Timeout, hc.Interval)
	}
	if in.GrpcCode != nil {
		return invalidConfig("gRPC codes can only be matched by Application Load Balancer health checks")
	}
	if in.HTTPCode != nil {
		codes := *in.HTTPCode
		if !httpCheck {
			return invalidConfig("A health check matcher can only be specified for HTTP and HTTPS health checks")
		}
		max := 599
		if tg.Protocol == ProtocolGENEVE {
			max = 399
		}
		if err := checkHTTPCodes(codes, 200, max); err != nil {
			return err
		}
		hc.Matcher = codes
	}
	tg.HealthCheck = hc
	return nil
}

// checkHTTPCodes validates a matcher: codes and ranges ("200", "200,202",
// "200-299") within min and max.
func checkHTTPCodes(s string, min, max int) error {
	if !httpCodesRE.MatchString(s) {
		return elbValidation("Health check matcher HTTP code '%s' must be a code, a list of codes or a range of codes", s)
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, _ := strings.Cut(part, "-")
		if hi == "" {
			hi = lo
		}
		a, _ := strconv.Atoi(lo)
		b, _ := strconv.Atoi(hi)
		if a < min || b > max || a > b {
			return elbValidation("Health check matcher HTTP code '%s' must be within %d-%d", s, min, max)
		}
	}
	return nil
}

// ModifyTargetGroup changes the health check of a target group.
func (c *Cloud) ModifyTargetGroup(who Caller, arn string, in HealthCheckInput) (*TargetGroup, error) {
	var tg *TargetGroup
	err := c.update(who, func(tx *Tx) error {
		var err error
		if tg, err = tx.loadTargetGroup(arn); err != nil {
			return err
		}
		if err := tg.applyHealthCheck(in); err != nil {
			return err
		}
		if err := tx.save(kindTargetGroup, tg); err != nil {
			return err
		}
		return tx.fillTargetGroupLBs(tg)
	})
	if err != nil {
		return nil, err
	}
	return tg, nil
}

// DescribeTargetGroups lists the caller's target groups, those named by ARN
// or by name (each must exist), or those a load balancer's listeners
// forward to; sorted by name.
func (c *Cloud) DescribeTargetGroups(who Caller, arns, names []string, lbARN string, p MarkerPage) ([]*TargetGroup, string, error) {
	given := 0
	for _, b := range []bool{len(arns) > 0, len(names) > 0, lbARN != ""} {
		if b {
			given++
		}
	}
	if given > 1 {
		return nil, "", elbValidation("Only one of target group ARNs, target group names and a load balancer ARN can be specified")
	}
	if len(arns) > maxDescribeARNs {
		return nil, "", elbValidation("1 validation error detected: Value at 'targetGroupArns' failed to satisfy constraint: Member must have length less than or equal to %d", maxDescribeARNs)
	}
	var out []*TargetGroup
	err := c.view(who, func(tx *Tx) error {
		switch {
		case len(arns) > 0:
			seen := map[string]bool{}
			for _, arn := range arns {
				if seen[arn] {
					continue
				}
				seen[arn] = true
				tg, err := tx.loadTargetGroup(arn)
				if awserr.HasCode(err, "TargetGroupNotFound") {
					return awserr.New("TargetGroupNotFound", "One or more target groups not found")
				}
				if err != nil {
					return err
				}
				out = append(out, tg)
			}
		case lbARN != "":
			lb, err := tx.loadLoadBalancer(lbARN)
			if err != nil {
				return err
			}
			ls, err := tx.listenersOf(lb)
			if err != nil {
				return err
			}
			ids := map[string]bool{}
			for _, l := range ls {
				ids[l.TargetGroupID] = true
			}
			out, err = list[TargetGroup](tx, kindTargetGroup, func(tg *TargetGroup) bool { return ids[tg.ID] })
			if err != nil {
				return err
			}
		default:
			want := map[string]bool{}
			for _, n := range names {
				want[n] = true
			}
			var err error
			out, err = list[TargetGroup](tx, kindTargetGroup, func(tg *TargetGroup) bool { return len(names) == 0 || want[tg.Name] })
			if err != nil {
				return err
			}
			if len(names) > 0 && len(out) < len(want) {
				have := map[string]bool{}
				for _, tg := range out {
					have[tg.Name] = true
				}
				var missing []string
				for _, n := range names {
					if !have[n] && !containsString(missing, n) {
						missing = append(missing, n)
					}
				}
				return awserr.New("TargetGroupNotFound", "Target groups '[%s]' not found", strings.Join(missing, ", "))
			}
		}
		// One scan of the caller's listeners gives every group's load balancers.
		ls, err := list[Listener](tx, kindListener, nil)
		if err != nil {
			return err
		}
		lbs := map[string][]string{}
		for _, l := range ls {
			if !containsString(lbs[l.TargetGroupID], l.LoadBalancerARN) {
				lbs[l.TargetGroupID] = append(lbs[l.TargetGroupID], l.LoadBalancerARN)
			}
		}
		for _, tg := range out {
			tg.LoadBalancerARNs = lbs[tg.ID]
			sort.Strings(tg.LoadBalancerARNs)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return pageByMarker(out, func(tg *TargetGroup) string { return tg.Name }, p)
}

// fillTargetGroupLBs sets tg.LoadBalancerARNs from the listeners that
// forward to it.
func (tx *Tx) fillTargetGroupLBs(tg *TargetGroup) error {
	ls, err := tx.listenersForwardingTo(tg)
	if err != nil {
		return err
	}
	tg.LoadBalancerARNs = nil
	for _, l := range ls {
		if !containsString(tg.LoadBalancerARNs, l.LoadBalancerARN) {
			tg.LoadBalancerARNs = append(tg.LoadBalancerARNs, l.LoadBalancerARN)
		}
	}
	sort.Strings(tg.LoadBalancerARNs)
	return nil
}

// DeleteTargetGroup deletes a target group that no listener forwards to
// (else ResourceInUse), with its targets' health records. As on AWS, a
// target group that does not exist is not an error.
func (c *Cloud) DeleteTargetGroup(who Caller, arn string) error {
	return c.update(who, func(tx *Tx) error {
		tg, err := tx.loadTargetGroup(arn)
		if awserr.HasCode(err, "TargetGroupNotFound") {
			return nil
		}
		if err != nil {
			return err
		}
		ls, err := tx.listenersForwardingTo(tg)
		if err != nil {
			return err
		}
		if len(ls) > 0 {
			return awserr.New("ResourceInUse", "Target group '%s' is currently in use by a listener or a rule", arn)
		}
		var keys []string
		if err := tx.Scan(healthPrefix(tg.Region, tg.ID), "", func(k string, _ []byte) bool {
			keys = append(keys, k)
			return true
		}); err != nil {
			return err
		}
		for _, k := range keys {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		return tx.remove(kindTargetGroup, tg)
	})
}

// Target group attributes.

func isProtocolUDP(p string) bool { return p == ProtocolUDP || p == ProtocolTCPUDP }

// tgAttrSpecs are the attributes of target groups like tg, in the order
// DescribeTargetGroupAttributes lists them, with AWS's defaults.
func tgAttrSpecs(tg *TargetGroup) []attrSpec {
	if tg.Gateway() {
		return []attrSpec{
			{"deregistration_delay.timeout_seconds", "300", intAttr("deregistration_delay.timeout_seconds", 0, 3600)},
			{"stickiness.enabled", "false", boolAttr("stickiness.enabled")},
			{"stickiness.type", "source_ip_dest_ip_proto", func(v string) error {
				if v != "source_ip_dest_ip" && v != "source_ip_dest_ip_proto" {
					return invalidConfig("Stickiness type '%s' is not supported for target groups with the GENEVE protocol: use source_ip_dest_ip or source_ip_dest_ip_proto", v)
				}
				return nil
			}},
			{"target_failover.on_deregistration", "no_rebalance", enumAttr("target_failover.on_deregistration", "rebalance", "no_rebalance")},
			{"target_failover.on_unhealthy", "no_rebalance", enumAttr("target_failover.on_unhealthy", "rebalance", "no_rebalance")},
		}
	}
	udp := isProtocolUDP(tg.Protocol)
	preserve := "true"
	if tg.TargetType == TargetTypeIP && !udp {
		preserve = "false"
	}
	termination := "false"
	if udp {
		termination = "true"
	}
	unhealthyTermination := "true"
	if udp {
		unhealthyTermination = "false"
	}
	offOrInt := func(key string, min, max int, off bool) func(string) error {
		return func(v string) error {
			if off && v == "off" {
				return nil
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < min || n > max {
				if off {
					return elbValidation("The value of attribute '%s' must be 'off' or an integer from %d to %d, not '%s'", key, min, max, v)
				}
				return elbValidation("The value of attribute '%s' must be an integer from %d to %d, not '%s'", key, min, max, v)
			}
			return nil
		}
	}
	return []attrSpec{
		{"proxy_protocol_v2.enabled", "false", func(v string) error {
			if err := boolAttr("proxy_protocol_v2.enabled")(v); err != nil {
				return err
			}
			if v == "true" && udp {
				return invalidConfig("Proxy protocol v2 is not supported for target groups with the %s protocol", tg.Protocol)
			}
			return nil
		}},
		{"preserve_client_ip.enabled", preserve, func(v string) error {
			if err := boolAttr("preserve_client_ip.enabled")(v); err != nil {
				return err
			}
			if v == "false" && udp {
				return invalidConfig("Client IP preservation cannot be disabled for target groups with the %s protocol", tg.Protocol)
			}
			return nil
		}},
		{"stickiness.enabled", "false", boolAttr("stickiness.enabled")},
		{"deregistration_delay.timeout_seconds", "300", intAttr("deregistration_delay.timeout_seconds", 0, 3600)},
		{"stickiness.type", "source_ip", func(v string) error {
			if v != "source_ip" {
				return invalidConfig("Stickiness type '%s' is not supported for target groups with the %s protocol: use source_ip", v, tg.Protocol)
			}
			return nil
		}},
		{"deregistration_delay.connection_termination.enabled", termination, boolAttr("deregistration_delay.connection_termination.enabled")},
		{"load_balancing.cross_zone.enabled", "use_load_balancer_configuration", enumAttr("load_balancing.cross_zone.enabled", "true", "false", "use_load_balancer_configuration")},
		{"target_health_state.unhealthy.connection_termination.enabled", unhealthyTermination, func(v string) error {
			if err := boolAttr("target_health_state.unhealthy.connection_termination.enabled")(v); err != nil {
				return err
			}
			if v == "true" && udp {
				return invalidConfig("Connection termination for unhealthy targets cannot be enabled for target groups with the %s protocol", tg.Protocol)
			}
			return nil
		}},
		{"target_health_state.unhealthy.draining_interval_seconds", "0", intAttr("target_health_state.unhealthy.draining_interval_seconds", 0, 360000)},
		{"target_group_health.dns_failover.minimum_healthy_targets.count", "1", offOrInt("target_group_health.dns_failover.minimum_healthy_targets.count", 1, 1<<30, true)},
		{"target_group_health.dns_failover.minimum_healthy_targets.percentage", "off", offOrInt("target_group_health.dns_failover.minimum_healthy_targets.percentage", 1, 100, true)},
		{"target_group_health.unhealthy_state_routing.minimum_healthy_targets.count", "1", offOrInt("target_group_health.unhealthy_state_routing.minimum_healthy_targets.count", 1, 1<<30, false)},
		{"target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage", "off", offOrInt("target_group_health.unhealthy_state_routing.minimum_healthy_targets.percentage", 1, 100, true)},
	}
}

func tgDefaultAttributes(tg *TargetGroup) map[string]string {
	m := map[string]string{}
	for _, s := range tgAttrSpecs(tg) {
		m[s.key] = s.def
	}
	return m
}

// DescribeTargetGroupAttributes lists every attribute of a target group.
func (c *Cloud) DescribeTargetGroupAttributes(who Caller, arn string) ([]Attribute, error) {
	var out []Attribute
	err := c.view(who, func(tx *Tx) error {
		tg, err := tx.loadTargetGroup(arn)
		if err != nil {
			return err
		}
		out = listAttributes(tgAttrSpecs(tg), tg.Attributes)
		return nil
	})
	return out, err
}

// ModifyTargetGroupAttributes sets attributes of a target group and returns
// all of them. Keys the group's kind does not have are a ValidationError;
// nothing changes unless every attribute is valid.
func (c *Cloud) ModifyTargetGroupAttributes(who Caller, arn string, attrs []Attribute) ([]Attribute, error) {
	if len(attrs) == 0 {
		return nil, elbValidation("At least one attribute must be specified")
	}
	var out []Attribute
	err := c.update(who, func(tx *Tx) error {
		tg, err := tx.loadTargetGroup(arn)
		if err != nil {
			return err
		}
		specs := tgAttrSpecs(tg)
		if tg.Attributes == nil {
			tg.Attributes = tgDefaultAttributes(tg)
		}
		for _, a := range attrs {
			s, ok := findAttrSpec(specs, a.Key)
			if !ok {
				return elbValidation("Target group attribute key '%s' is not recognized", a.Key)
			}
			if err := s.check(a.Value); err != nil {
				return err
			}
			tg.Attributes[a.Key] = a.Value
		}
		at := func(k string) string {
			if v, ok := tg.Attributes[k]; ok {
				return v
			}
			s, _ := findAttrSpec(specs, k)
			return s.def
		}
		if tg.Gateway() {
			if at("target_failover.on_deregistration") != at("target_failover.on_unhealthy") {
				return invalidConfig("target_failover.on_deregistration and target_failover.on_unhealthy must have the same value")
			}
		} else if at("target_health_state.unhealthy.draining_interval_seconds") != "0" && at("target_health_state.unhealthy.connection_termination.enabled") == "true" {
			return invalidConfig("target_health_state.unhealthy.draining_interval_seconds can only be set when target_health_state.unhealthy.connection_termination.enabled is false")
		}
		out = listAttributes(specs, tg.Attributes)
		return tx.save(kindTargetGroup, tg)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Targets.

// TargetInput names a target in RegisterTargets, DeregisterTargets and
// DescribeTargetHealth.
type TargetInput struct {
	ID               string
	Port             *int32
	AvailabilityZone string
}

func healthPrefix(region, tgID string) string { return "r/" + region + "/elb-th/" + tgID + "/" }

func healthKey(region, tgID, target string, port int32) string {
	return healthPrefix(region, tgID) + target + "/" + strconv.Itoa(int(port))
}

// resolveTarget validates a target of tg and returns it as registered:
// port defaulted to the group's, zone found from the target's subnet.
func (tx *Tx) resolveTarget(tg *TargetGroup, in TargetInput) (Target, error) {
	t := Target{ID: in.ID, Port: tg.Port}
	if in.Port != nil {
		if *in.Port < 1 || *in.Port > 65535 {
			return t, rangeError("targets.member.port", int64(*in.Port), 1, 65535)
		}
		if tg.Gateway() && *in.Port != genevePort {
			return t, awserr.New("InvalidTarget", "The port of a target of a GENEVE target group must be %d", genevePort)
		}
		t.Port = *in.Port
	}
	if in.ID == "" {
		return t, elbValidation("A target ID must be specified")
	}
	switch tg.TargetType {
	case TargetTypeIP:
		a, err := netip.ParseAddr(in.ID)
		if err != nil || !a.Is4() {
			return t, awserr.New("InvalidTarget", "The IP address '%s' is not a valid IPv4 address", in.ID)
		}
		v, ok, err := loadAny[Vpc](tx, kindVpc, tg.VpcID)
		if err != nil {
			return t, err
		}
		var vp netip.Prefix
		if ok {
			vp, _ = ParseCIDR(v.CidrBlock)
		}
		if !ok || !vp.Contains(a) {
			return t, awserr.New("InvalidTarget", "The IP address '%s' is not within the CIDR of the target group's VPC '%s'", in.ID, tg.VpcID)
		}
		subnets, err := listAll[Subnet](tx, kindSubnet, func(s *Subnet) bool {
			p, ok := ParseCIDR(s.CidrBlock)
			return s.VpcID == tg.VpcID && ok && p.Contains(a)
		})
		if err != nil {
			return t, err
		}
		if len(subnets) > 0 {
			t.AvailabilityZone = subnets[0].AvailabilityZone
		}
		if z := in.AvailabilityZone; z != "" {
			if z == "all" {
				return t, elbValidation("Availability zone 'all' can only be specified for IP addresses outside the target group's VPC")
			}
			if _, err := tx.zone(z, ""); err != nil {
				return t, elbValidation("The availability zone '%s' is not valid in region '%s'", z, tx.who.Region)
			}
			if t.AvailabilityZone != "" && z != t.AvailabilityZone {
				return t, elbValidation("The IP address '%s' is in availability zone '%s', not '%s'", in.ID, t.AvailabilityZone, z)
			}
			t.AvailabilityZone = z
		}
	default: // instance: a network interface stands for the host
		if in.AvailabilityZone != "" {
			return t, elbValidation("An availability zone cannot be specified for targets of type instance")
		}
		if strings.HasPrefix(in.ID, "i-") {
			return t, awserr.New("InvalidTarget", "The following targets are not valid instances: '%s'. Isthmus has no EC2 instances: register the network interface (eni-...) of the host as the instance target", in.ID)
		}
		n, err := load[NetworkInterface](tx, kindENI, in.ID)
		if err != nil {
			if _, ok := awserr.As(err); ok {
				return t, awserr.New("InvalidTarget", "The following targets are not valid network interfaces: '%s'", in.ID)
			}
			return t, err
		}
		if n.VpcID != tg.VpcID {
			return t, awserr.New("InvalidTarget", "The following targets are not in the target group's VPC '%s': '%s'", tg.VpcID, in.ID)
		}
		if n.RequesterManaged {
			return t, awserr.New("InvalidTarget", "The network interface '%s' is managed by a service and cannot be a target", in.ID)
		}
		t.AvailabilityZone = n.AvailabilityZone
	}
	return t, nil
}

// RegisterTargets registers targets with a target group; registering one
// twice (same id and port) changes nothing. New targets start "initial".
func (c *Cloud) RegisterTargets(who Caller, arn string, targets []TargetInput) error {
	if len(targets) == 0 {
		return elbValidation("At least one target must be specified")
	}
	return c.update(who, func(tx *Tx) error {
		tg, err := tx.loadTargetGroup(arn)
		if err != nil {
			return err
		}
		now := tx.c.Now()
		for _, in := range targets {
			t, err := tx.resolveTarget(tg, in)
			if err != nil {
				return err
			}
			if tg.indexOf(t.ID, t.Port) >= 0 {
				continue
			}
			t.Registered = now
			tg.Targets = append(tg.Targets, t)
			rec := TargetHealth{State: "initial", Reason: "Elb.RegistrationInProgress", Description: "Target registration is in progress", Updated: now}
			if err := putJSON(tx, healthKey(tg.Region, tg.ID, t.ID, t.Port), rec); err != nil {
				return err
			}
		}
		sort.Slice(tg.Targets, func(i, j int) bool {
			if tg.Targets[i].ID != tg.Targets[j].ID {
				return tg.Targets[i].ID < tg.Targets[j].ID
			}
			return tg.Targets[i].Port < tg.Targets[j].Port
		})
		return tx.save(kindTargetGroup, tg)
	})
}

func (tg *TargetGroup) indexOf(id string, port int32) int {
	for i, t := range tg.Targets {
		if t.ID == id && t.Port == port {
			return i
		}
	}
	return -1
}

// DeregisterTargets removes targets from a target group. As AWS documents,
// a target that is not registered is not an error. A removed target
// drains for deregistration_delay.timeout_seconds (draining.go).
func (c *Cloud) DeregisterTargets(who Caller, arn string, targets []TargetInput) error {
	if len(targets) == 0 {
		return elbValidation("At least one target must be specified")
	}
	return c.update(who, func(tx *Tx) error {
		tg, err := tx.loadTargetGroup(arn)
		if err != nil {
			return err
		}
		for _, in := range targets {
			if in.ID == "" {
				return elbValidation("A target ID must be specified")
			}
			port := tg.Port
			if in.Port != nil {
				port = *in.Port
			}
			i := tg.indexOf(in.ID, port)
			if i < 0 {
				continue
			}
			t := tg.Targets[i]
			tg.Targets = append(tg.Targets[:i], tg.Targets[i+1:]...)
			if err := tx.drainTarget(tg, t); err != nil {
				return err
			}
		}
		return tx.save(kindTargetGroup, tg)
	})
}

// TargetHealthDescription is one target's health as DescribeTargetHealth
// answers it. (The zone of an instance target is not shown, as on AWS.)
type TargetHealthDescription struct {
	Target          Target
	HealthCheckPort string
	Health          TargetHealth
}

func (tg *TargetGroup) describeTarget(t Target, h TargetHealth) TargetHealthDescription {
	port := tg.healthCheckPort(t)
	if tg.TargetType == TargetTypeInstance {
		t.AvailabilityZone = ""
	}
	return TargetHealthDescription{Target: t, HealthCheckPort: port, Health: h}
}

// DescribeTargetHealth returns the health of the given targets of a target
// group, or of all its registered targets. A given target that is not
// registered is "unused" (Target.NotRegistered).
func (c *Cloud) DescribeTargetHealth(who Caller, arn string, targets []TargetInput) ([]TargetHealthDescription, error) {
	var out []TargetHealthDescription
	err := c.view(who, func(tx *Tx) error {
		tg, err := tx.loadTargetGroup(arn)
		if err != nil {
			return err
		}
		lbs, err := tx.targetGroupLoadBalancers(tg)
		if err != nil {
			return err
		}
		draining, err := tx.drainingTargets(tg)
		if err != nil {
			return err
		}
		if len(targets) == 0 {
			for _, t := range tg.Targets {
				h, err := tx.targetHealth(tg, t, lbs)
				if err != nil {
					return err
				}
				out = append(out, tg.describeTarget(t, h))
			}
			out = append(out, draining...)
			return nil
		}
		for _, in := range targets {
			if in.ID == "" {
				return elbValidation("A target ID must be specified")
			}
			if tg.TargetType == TargetTypeIP {
				if a, err := netip.ParseAddr(in.ID); err != nil || !a.Is4() {
					return awserr.New("InvalidTarget", "The IP address '%s' is not a valid IPv4 address", in.ID)
				}
			}
			found := false
			for _, t := range tg.Targets {
				if t.ID == in.ID && (in.Port == nil || *in.Port == t.Port) {
					found = true
					h, err := tx.targetHealth(tg, t, lbs)
					if err != nil {
						return err
					}
					out = append(out, tg.describeTarget(t, h))
				}
			}
			for _, d := range draining {
				if !found && d.Target.ID == in.ID && (in.Port == nil || *in.Port == d.Target.Port) {
					found = true
					out = append(out, d)
				}
			}
			if !found {
				t := Target{ID: in.ID, Port: tg.Port, AvailabilityZone: in.AvailabilityZone}
				if in.Port != nil {
					t.Port = *in.Port
				}
				out = append(out, tg.describeTarget(t, TargetHealth{
					State: "unused", Reason: "Target.NotRegistered", Description: "Target is not registered to the target group",
				}))
			}
		}
		return nil
	})
	return out, err
}

// targetGroupLoadBalancers returns the load balancers forwarding to tg.
func (tx *Tx) targetGroupLoadBalancers(tg *TargetGroup) ([]*LoadBalancer, error) {
	ls, err := tx.listenersForwardingTo(tg)
	if err != nil {
		return nil, err
	}
	var out []*LoadBalancer
	seen := map[string]bool{}
	for _, l := range ls {
		if seen[l.LoadBalancerID] {
			continue
		}
		seen[l.LoadBalancerID] = true
		lb, err := tx.lookupLoadBalancer(l.LoadBalancerARN)
		if err != nil {
			return nil, err
		}
		if lb != nil {
			out = append(out, lb)
		}
	}
	return out, nil
}

// targetHealth is the health of a registered target t as the API shows it.
func (tx *Tx) targetHealth(tg *TargetGroup, t Target, lbs []*LoadBalancer) (TargetHealth, error) {
	if len(lbs) == 0 {
		return TargetHealth{State: "unused", Reason: "Target.NotInUse", Description: "Target group is not configured to receive traffic from the load balancer"}, nil
	}
	if tg.TargetType == TargetTypeInstance {
		if _, ok, err := loadAny[NetworkInterface](tx, kindENI, t.ID); err != nil || !ok {
			return TargetHealth{State: "unused", Reason: "Target.InvalidState", Description: "Target is in the terminated state"}, err
		}
	}
	if t.AvailabilityZone != "" && t.AvailabilityZone != "all" {
		enabled := false
		for _, lb := range lbs {
			enabled = enabled || lb.HasZone(t.AvailabilityZone)
		}
		if !enabled {
			return TargetHealth{State: "unused", Reason: "Target.NotInUse", Description: "Target is in an Availability Zone that is not enabled for the load balancer"}, nil
		}
	}
	h, ok, err := getJSON[TargetHealth](tx, healthKey(tg.Region, tg.ID, t.ID, t.Port))
	if err != nil {
		return TargetHealth{}, err
	}
	if !ok {
		return TargetHealth{State: "initial", Reason: "Elb.RegistrationInProgress", Description: "Target registration is in progress"}, nil
	}
	return *h, nil
}

// Target health states and their reasons, as DescribeTargetHealth names them.
var targetHealthReasons = map[string][]string{
	"initial":            {"Elb.RegistrationInProgress", "Elb.InitialHealthChecking"},
	"healthy":            {""},
	"unhealthy":          {"Target.ResponseCodeMismatch", "Target.Timeout", "Target.FailedHealthChecks", "Elb.InternalError"},
	"unhealthy.draining": {"Target.ResponseCodeMismatch", "Target.Timeout", "Target.FailedHealthChecks", "Elb.InternalError"},
	"unused":             {"Target.NotRegistered", "Target.NotInUse", "Target.InvalidState", "Target.IpUnusable"},
	"draining":           {"Target.DeregistrationInProgress"},
	"unavailable":        {"Target.HealthCheckDisabled", "Elb.InternalError"},
}

// TargetRef names one registered target of a target group.
type TargetRef struct {
	ID   string
	Port int32
}

// SetTargetHealth records the health of a registered target, as the data
// plane's health checker observes it. It is not an API call: the target
// group is found by ARN whoever owns it. state and reason must be one of
// AWS's pairs (healthy has no reason). The record is written only when it
// changes, so that repeating an observation costs no store revision.
func (c *Cloud) SetTargetHealth(region, tgARN string, target TargetRef, state, reason, description string) error {
	reasons, ok := targetHealthReasons[state]
	if !ok {
		return elbValidation("Target health state '%s' is not valid", state)
	}
	if !containsString(reasons, reason) {
		return elbValidation("Target health reason '%s' is not valid for state '%s'", reason, state)
	}
	if _, ok := c.regions[region]; !ok {
		return unknownRegion(region)
	}
	_, err := c.st.Update(func(stx store.Tx) error {
		tx := &Tx{Tx: stx, c: c, who: Caller{Region: region}}
		id, ok := targetGroupIDOf(tgARN)
		if !ok {
			return elbValidation("'%s' is not a valid target group ARN", tgARN)
		}
		tg, found, err := getJSON[TargetGroup](tx, objectKey(region, kindTargetGroup, id))
		if err != nil {
			return err
		}
		if !found || tg.ARN() != tgARN {
			return tgNotFound(tgARN)
		}
		if tg.indexOf(target.ID, target.Port) < 0 {
			return awserr.New("InvalidTarget", "Target '%s:%d' is not registered to the target group", target.ID, target.Port)
		}
		key := healthKey(region, tg.ID, target.ID, target.Port)
		old, had, err := getJSON[TargetHealth](tx, key)
		if err != nil {
			return err
		}
		if had && old.State == state && old.Reason == reason && old.Description == description {
			return nil
		}
		return putJSON(tx, key, TargetHealth{State: state, Reason: reason, Description: description, Updated: c.Now()})
	})
	return err
}
