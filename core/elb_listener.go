package core

import (
	"fmt"
	"sort"
	"strings"

	"github.com/isthmusnet/isthmus/awserr"
)

// Listeners of network load balancers (a port and TCP, UDP or TCP_UDP) and
// gateway load balancers (no port or protocol: every packet, GENEVE to the
// targets). A listener has exactly one default action, forward, to one
// target group of the load balancer's VPC with a compatible protocol; a
// target group serves at most one load balancer.

// Listener is a load balancer's listener.
type Listener struct {
	Meta
	LoadBalancerARN string `json:"lb"`
	LoadBalancerID  string `json:"lbId"`
	Port            int32  `json:"port,omitempty"`     // 0 for gateway load balancers
	Protocol        string `json:"protocol,omitempty"` // "" for gateway load balancers
	TargetGroupARN  string `json:"tg"`
	TargetGroupID   string `json:"tgId"`
}

func (l *Listener) filter(string) ([]string, bool) { return nil, false }

// ARN is the listener's ARN: its load balancer's, under listener/, with the
// listener's own id.
func (l *Listener) ARN() string {
	return strings.Replace(l.LoadBalancerARN, ":loadbalancer/", ":listener/", 1) + "/" + l.ID
}

// sortKey orders a load balancer's listeners by port and protocol.
func (l *Listener) sortKey() string {
	return fmt.Sprintf("%05d/%s/%s", l.Port, l.Protocol, l.ID)
}

func listenerIDOf(arn string) (lbARN, id string, ok bool) {
	res, p, ok := parseELBARN(arn)
	if !ok || res != "listener" || len(p) != 4 || !isLBTypeSegment(p[0]) || !isELBHex(p[2]) || !isELBHex(p[3]) {
		return "", "", false
	}
	i := strings.LastIndexByte(arn, '/')
	return strings.Replace(arn[:i], ":listener/", ":loadbalancer/", 1), p[3], true
}

// loadListener returns the caller's listener arn names: ValidationError if
// the ARN is malformed, ListenerNotFound if it is missing or another
// account's.
func (tx *Tx) loadListener(arn string) (*Listener, error) {
	_, id, ok := listenerIDOf(arn)
	if !ok {
		return nil, elbValidation("'%s' is not a valid listener ARN", arn)
	}
	l, found, err := getJSON[Listener](tx, objectKey(tx.who.Region, kindListener, id))
	if err != nil {
		return nil, err
	}
	if !found || l.ARN() != arn || l.Owner != tx.who.Account {
		return nil, awserr.New("ListenerNotFound", "Listener '%s' not found", arn)
	}
	return l, nil
}

// listenersOf returns lb's listeners, by port and protocol.
func (tx *Tx) listenersOf(lb *LoadBalancer) ([]*Listener, error) {
	ls, err := listAll[Listener](tx, kindListener, func(l *Listener) bool { return l.LoadBalancerID == lb.ID && l.Owner == lb.Owner })
	if err != nil {
		return nil, err
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].sortKey() < ls[j].sortKey() })
	return ls, nil
}

// listenersForwardingTo returns the listeners whose action forwards to tg.
func (tx *Tx) listenersForwardingTo(tg *TargetGroup) ([]*Listener, error) {
	return listAll[Listener](tx, kindListener, func(l *Listener) bool { return l.TargetGroupID == tg.ID && l.Owner == tg.Owner })
}

// ActionInput is one default action of CreateListener or ModifyListener.
type ActionInput struct {
	Type           string
	TargetGroupARN string
	// ForwardTargetGroups are the target groups of a ForwardConfig.
	ForwardTargetGroups []string
	// OtherConfig names a configuration block of another action type that
	// was given (e.g. "RedirectConfig"), which forward actions refuse.
	OtherConfig string
}

var actionTypes = []string{"forward", "authenticate-oidc", "authenticate-cognito", "redirect", "fixed-response", "jwt-validation"}

// forwardTarget checks a listener's default actions and returns the ARN of
// the one target group they forward to.
func forwardTarget(actions []ActionInput) (string, error) {
	if len(actions) == 0 {
		return "", elbValidation("A default action must be specified")
	}
	if len(actions) > 1 {
		return "", awserr.New("TooManyActions", "Network and Gateway Load Balancer listeners support exactly one default action")
	}
	a := actions[0]
	switch {
	case a.Type == "":
		return "", elbValidation("An action type must be specified")
	case !containsString(actionTypes, a.Type):
		return "", enumError("defaultActions.1.member.type", a.Type, actionTypes...)
	case a.Type != "forward":
		return "", awserr.New("InvalidLoadBalancerAction", "The action type '%s' is not supported by Network and Gateway Load Balancers: use 'forward'", a.Type)
	case a.OtherConfig != "":
		return "", awserr.New("InvalidLoadBalancerAction", "%s cannot be specified for a forward action", a.OtherConfig)
	}
	arn := a.TargetGroupARN
	switch n := len(a.ForwardTargetGroups); {
	case n > 1:
		return "", awserr.New("InvalidLoadBalancerAction", "Network and Gateway Load Balancer listeners can forward to only one target group")
	case n == 1:
		if arn != "" && arn != a.ForwardTargetGroups[0] {
			return "", awserr.New("InvalidLoadBalancerAction", "The target group of ForwardConfig must be the same as TargetGroupArn")
		}
		arn = a.ForwardTargetGroups[0]
	}
	if arn == "" {
		return "", elbValidation("A target group ARN must be specified for a forward action")
	}
	return arn, nil
}

// compatible reports whether a listener protocol can forward to a target
// group protocol: TCP to TCP or TCP_UDP, UDP to UDP or TCP_UDP, TCP_UDP to
// TCP_UDP, a gateway listener ("") to GENEVE.
func compatible(listener, tg string) bool {
	switch listener {
	case "":
		return tg == ProtocolGENEVE
	case ProtocolTCP, ProtocolUDP:
		return tg == listener || tg == ProtocolTCPUDP
	case ProtocolTCPUDP:
		return tg == ProtocolTCPUDP
	}
	return false
}

// checkListenerProtocol validates a network load balancer listener's
// protocol.
func checkListenerProtocol(p string) error {
	switch p {
	case ProtocolTCP, ProtocolUDP, ProtocolTCPUDP:
		return nil
	case "TLS":
		return awserr.New("UnsupportedProtocol", "The TLS protocol is not supported by Isthmus, which has no certificates: use a TCP listener")
	case "HTTP", "HTTPS", "GENEVE", "QUIC", "TCP_QUIC":
		return awserr.New("UnsupportedProtocol", "Protocol '%s' is not supported for listeners of Network Load Balancers: use TCP, UDP or TCP_UDP", p)
	}
	return enumError("protocol", p, elbProtocols...)
}

// CreateListenerInput is what CreateListener takes.
type CreateListenerInput struct {
	LoadBalancerARN string
	Port            *int32
	Protocol        string
	DefaultActions  []ActionInput
	Tags            []Tag
}

// CreateListener creates a listener. As on AWS the call is idempotent: a
// listener on the same port and protocol with the same action is answered
// again; with another action it is DuplicateListener, and so is one whose
// port conflicts (TCP or UDP beside TCP_UDP on one port; a second listener
// of a gateway load balancer).
func (c *Cloud) CreateListener(who Caller, in CreateListenerInput) (*Listener, error) {
	tgARN, err := forwardTarget(in.DefaultActions)
	if err != nil {
		return nil, err
	}
	if err := checkELBTags(in.Tags); err != nil {
		return nil, err
	}
	var l *Listener
	err = c.update(who, func(tx *Tx) error {
		lb, err := tx.loadLoadBalancer(in.LoadBalancerARN)
		if err != nil {
			return err
		}
		cand := &Listener{LoadBalancerARN: lb.ARN(), LoadBalancerID: lb.ID}
		if err := cand.setPortProtocol(lb, in.Port, in.Protocol, true); err != nil {
			return err
		}
		tg, err := tx.forwardGroup(lb, cand.Protocol, tgARN, "")
		if err != nil {
			return err
		}
		cand.TargetGroupARN, cand.TargetGroupID = tg.ARN(), tg.ID
		others, err := tx.listenersOf(lb)
		if err != nil {
			return err
		}
		for _, o := range others {
			if o.Port == cand.Port && o.Protocol == cand.Protocol && o.TargetGroupID == cand.TargetGroupID {
				l = o
				return nil
			}
		}
		if err := checkListenerConflicts(lb, cand, others); err != nil {
			return err
		}
		cand.Meta = tx.elbMeta(kindListener, lb.VpcID)
		cand.Tags = mergeTags(nil, in.Tags)
		l = cand
		return tx.save(kindListener, l)
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// setPortProtocol validates and sets the port and protocol of a listener of
// lb. create says whether both must be given (network load balancers).
func (l *Listener) setPortProtocol(lb *LoadBalancer, port *int32, protocol string, create bool) error {
	if lb.Type == LoadBalancerGateway {
		if port != nil || protocol != "" {
			return elbValidation("A port and a protocol cannot be specified for listeners of Gateway Load Balancers")
		}
		return nil
	}
	if protocol != "" {
		if err := checkListenerProtocol(protocol); err != nil {
			return err
		}
		l.Protocol = protocol
	} else if create {
		return elbValidation("A listener protocol must be specified")
	}
	if port != nil {
		if *port < 1 || *port > 65535 {
			return rangeError("port", int64(*port), 1, 65535)
		}
		l.Port = *port
	} else if create {
		return elbValidation("A listener port must be specified")
	}
	return nil
}

// checkListenerConflicts refuses l beside the load balancer's other
// listeners: one per port and protocol, TCP_UDP taking both TCP and UDP of
// its port, one listener per gateway load balancer.
func checkListenerConflicts(lb *LoadBalancer, l *Listener, others []*Listener) error {
	for _, o := range others {
		if o.ID == l.ID {
			continue
		}
		conflict := lb.Type == LoadBalancerGateway ||
			o.Port == l.Port && (o.Protocol == l.Protocol || o.Protocol == ProtocolTCPUDP || l.Protocol == ProtocolTCPUDP)
		if conflict {
			return awserr.New("DuplicateListener", "A listener already exists on this port for this load balancer '%s'", lb.ARN())
		}
	}
	return nil
}

// forwardGroup loads the target group a listener of lb with protocol
// forwards to and checks it can: same VPC, compatible protocol, used by no
// other load balancer. self is the listener's own id (modify) or "".
func (tx *Tx) forwardGroup(lb *LoadBalancer, protocol, arn, self string) (*TargetGroup, error) {
	tg, err := tx.loadTargetGroup(arn)
	if err != nil {
		return nil, err
	}
	if tg.VpcID != lb.VpcID {
		return nil, invalidConfig("The target group '%s' is in VPC '%s', not in the load balancer's VPC '%s'", arn, tg.VpcID, lb.VpcID)
	}
	if !compatible(protocol, tg.Protocol) {
		if protocol == "" {
			return nil, awserr.New("IncompatibleProtocols", "Gateway Load Balancer listeners can only forward to target groups with the GENEVE protocol, not '%s'", tg.Protocol)
		}
		return nil, awserr.New("IncompatibleProtocols", "The listener protocol '%s' is not compatible with the protocol '%s' of target group '%s'", protocol, tg.Protocol, arn)
	}
	users, err := tx.listenersForwardingTo(tg)
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		if u.LoadBalancerID != lb.ID && u.ID != self {
			return nil, awserr.New("TargetGroupAssociationLimit", "The following target groups cannot be associated with more than one load balancer: %s", arn)
		}
	}
	return tg, nil
}

// DescribeListeners lists the listeners of a load balancer, or those named
// by ARN (each must exist); exactly one of the two is given.
func (c *Cloud) DescribeListeners(who Caller, lbARN string, arns []string, p MarkerPage) ([]*Listener, string, error) {
	switch {
	case lbARN == "" && len(arns) == 0:
		return nil, "", elbValidation("You must specify either listener ARNs or a load balancer ARN")
	case lbARN != "" && len(arns) > 0:
		return nil, "", elbValidation("Listener ARNs and a load balancer ARN cannot be specified at the same time")
	}
	var out []*Listener
	err := c.view(who, func(tx *Tx) error {
		if lbARN != "" {
			lb, err := tx.loadLoadBalancer(lbARN)
			if err != nil {
				return err
			}
			out, err = tx.listenersOf(lb)
			return err
		}
		seen := map[string]bool{}
		for _, arn := range arns {
			if seen[arn] {
				continue
			}
			seen[arn] = true
			l, err := tx.loadListener(arn)
			if awserr.HasCode(err, "ListenerNotFound") {
				return awserr.New("ListenerNotFound", "One or more listeners not found")
			}
			if err != nil {
				return err
			}
			out = append(out, l)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	key := func(l *Listener) string { return l.LoadBalancerID + "/" + l.sortKey() }
	sort.Slice(out, func(i, j int) bool { return key(out[i]) < key(out[j]) })
	return pageByMarker(out, key, p)
}

// ModifyListenerInput is what ModifyListener changes; unset fields stay.
type ModifyListenerInput struct {
	Port           *int32
	Protocol       string
	DefaultActions []ActionInput // nil: unchanged
}

// ModifyListener changes a listener's port, protocol or default action,
// with CreateListener's checks.
func (c *Cloud) ModifyListener(who Caller, arn string, in ModifyListenerInput) (*Listener, error) {
	var tgARN string
	if in.DefaultActions != nil {
		var err error
		if tgARN, err = forwardTarget(in.DefaultActions); err != nil {
			return nil, err
		}
	}
	var l *Listener
	err := c.update(who, func(tx *Tx) error {
		var err error
		if l, err = tx.loadListener(arn); err != nil {
			return err
		}
		lb, err := tx.lookupLoadBalancer(l.LoadBalancerARN)
		if err != nil {
			return err
		}
		if lb == nil {
			return awserr.New("ListenerNotFound", "Listener '%s' not found", arn)
		}
		if err := l.setPortProtocol(lb, in.Port, in.Protocol, false); err != nil {
			return err
		}
		if tgARN == "" {
			tgARN = l.TargetGroupARN
		}
		tg, err := tx.forwardGroup(lb, l.Protocol, tgARN, l.ID)
		if err != nil {
			return err
		}
		l.TargetGroupARN, l.TargetGroupID = tg.ARN(), tg.ID
		others, err := tx.listenersOf(lb)
		if err != nil {
			return err
		}
		if err := checkListenerConflicts(lb, l, others); err != nil {
			return err
		}
		return tx.save(kindListener, l)
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// DeleteListener deletes a listener.
func (c *Cloud) DeleteListener(who Caller, arn string) error {
	return c.update(who, func(tx *Tx) error {
		l, err := tx.loadListener(arn)
		if err != nil {
			return err
		}
		return tx.remove(kindListener, l)
	})
}
