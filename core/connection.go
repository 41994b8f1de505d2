package core

import (
	"encoding/json"
	"time"

	"github.com/isthmusnet/isthmus/awserr"
)

// Connections: the provider's view of the endpoints connected to its
// services. A connection is stored under its endpoint's id, owned by the
// service's owner, and always has its endpoint's state: both change in
// the same transaction. A connection outlives its endpoint (state
// deleted) until the service is deleted.

// Connection is one endpoint's connection to an endpoint service.
type Connection struct {
	Meta                 // ID: the endpoint's id; Owner: the service's owner
	ConnectionID  string `json:"conId"` // vpce-con-...
	ServiceID     string `json:"serviceId"`
	EndpointOwner string `json:"endpointOwner"`
	State         string `json:"state"`
	IPAddressType string `json:"ipType,omitempty"`
}

func (cn *Connection) filter(name string) ([]string, bool) {
	switch name {
	case "ip-address-type":
		return one(cn.IPAddressType), true
	case "service-id":
		return one(cn.ServiceID), true
	case "vpc-endpoint-owner":
		return one(cn.EndpointOwner), true
	case "vpc-endpoint-region":
		return one(cn.Region), true
	case "vpc-endpoint-state":
		return one(cn.State), true
	case "vpc-endpoint-id":
		return one(cn.ID), true
	}
	return nil, false
}

// active reports whether the endpoint is (or may become) connected:
// pendingAcceptance, pending or available.
func (cn *Connection) active() bool {
	switch cn.State {
	case EndpointPendingAcceptance, EndpointPending, EndpointAvailable:
		return true
	}
	return false
}

// connect creates the connection of a new endpoint to s and sends the
// Connect notification.
func (tx *Tx) connect(e *VpcEndpoint, s *EndpointService) error {
	cn := &Connection{
		Meta:          Meta{ID: e.ID, Owner: s.Owner, Region: e.Region, Created: e.Created},
		ConnectionID:  tx.newID("vpce-con"),
		ServiceID:     s.ID,
		EndpointOwner: e.Owner,
		State:         e.State,
		IPAddressType: e.IPAddressType,
	}
	if err := tx.save(kindConnection, cn); err != nil {
		return err
	}
	return tx.notify("Connect", e, cn)
}

// disconnect marks a deleted endpoint's connection deleted and sends the
// Delete notification.
func (tx *Tx) disconnect(e *VpcEndpoint) error {
	cn, ok, err := loadAny[Connection](tx, kindConnection, e.ID)
	if err != nil || !ok {
		return err
	}
	cn.State = EndpointDeleted
	if err := tx.save(kindConnection, cn); err != nil {
		return err
	}
	return tx.notify("Delete", e, cn)
}

// setEndpointState moves an endpoint and its connection to state, sending
// event ("" for none).
func (tx *Tx) setEndpointState(e *VpcEndpoint, state, event string) error {
	e.setState(tx, state)
	if err := tx.save(kindVpcEndpoint, e); err != nil {
		return err
	}
	cn, ok, err := loadAny[Connection](tx, kindConnection, e.ID)
	if err != nil || !ok {
		return err
	}
	cn.State = state
	if err := tx.save(kindConnection, cn); err != nil {
		return err
	}
	if event == "" {
		return nil
	}
	return tx.notify(event, e, cn)
}

// serviceConnections lists the connections of service id.
func (tx *Tx) serviceConnections(id string) ([]*Connection, error) {
	return listAll[Connection](tx, kindConnection, func(cn *Connection) bool { return cn.ServiceID == id })
}

// ConnectionView is a connection with what Describe shows beside it.
type ConnectionView struct {
	*Connection
	DNSEntries    []DNSEntry
	NLBs, GWLBs   []string
	EndpointOwner string
}

// DescribeVpcEndpointConnections lists the connections to the caller's
// services, deleted ones included (filters ip-address-type, service-id,
// vpc-endpoint-owner, vpc-endpoint-region, vpc-endpoint-state,
// vpc-endpoint-id).
func (c *Cloud) DescribeVpcEndpointConnections(who Caller, filters []Filter, p Page) ([]*ConnectionView, string, error) {
	var views []*ConnectionView
	var next string
	err := c.view(who, func(tx *Tx) error {
		all, err := describe[Connection](tx, kindConnection, nil, filters)
		if err != nil {
			return err
		}
		page, n, err := paginateCapped(all, func(cn *Connection) string { return cn.ID }, p, 1000)
		if err != nil {
			return err
		}
		next = n
		for _, cn := range page {
			v := &ConnectionView{Connection: cn}
			if s, ok, err := loadAny[EndpointService](tx, kindEndpointService, cn.ServiceID); err == nil && ok {
				v.NLBs, v.GWLBs = s.NLBs, s.GWLBs
			}
			if e, ok, err := loadAny[VpcEndpoint](tx, kindVpcEndpoint, cn.ID); err == nil && ok {
				v.DNSEntries = tx.dnsEntries(e)
			}
			views = append(views, v)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return views, next, nil
}

// AcceptVpcEndpointConnections accepts endpoints waiting for acceptance
// (pendingAcceptance → available). Each id is handled on its own; those
// that cannot be accepted come back as unsuccessful items.
func (c *Cloud) AcceptVpcEndpointConnections(who Caller, serviceID string, ids []string) ([]UnsuccessfulItem, error) {
	return c.decideConnections(who, serviceID, ids, EndpointAvailable, "Accept", []string{EndpointPendingAcceptance})
}

// RejectVpcEndpointConnections rejects endpoints: waiting ones, and ones
// already available (their traffic stops).
func (c *Cloud) RejectVpcEndpointConnections(who Caller, serviceID string, ids []string) ([]UnsuccessfulItem, error) {
	return c.decideConnections(who, serviceID, ids, EndpointRejected, "Reject", []string{EndpointPendingAcceptance, EndpointPending, EndpointAvailable})
}

func (c *Cloud) decideConnections(who Caller, serviceID string, ids []string, to, event string, from []string) ([]UnsuccessfulItem, error) {
	if serviceID == "" {
		return nil, awserr.MissingParameter("ServiceId")
	}
	if len(ids) == 0 {
		return nil, awserr.MissingParameter("VpcEndpointId")
	}
	var out []UnsuccessfulItem
	err := c.update(who, func(tx *Tx) error {
		out = nil
		s, err := load[EndpointService](tx, kindEndpointService, serviceID)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := kindVpcEndpoint.checkID(id); err != nil {
				out = append(out, unsuccessful(id, err))
				continue
			}
			cn, ok, err := loadAny[Connection](tx, kindConnection, id)
			if err != nil {
				return err
			}
			e, eok, err := loadAny[VpcEndpoint](tx, kindVpcEndpoint, id)
			if err != nil {
				return err
			}
			if !ok || !eok || cn.ServiceID != s.ID {
				out = append(out, unsuccessful(id, awserr.New("InvalidVpcEndpointId.NotFound", "The Vpc Endpoint Id '%s' does not exist", id)))
				continue
			}
			if !containsString(from, e.State) {
				out = append(out, unsuccessful(id, awserr.New("InvalidStateTransition", "Vpc Endpoint %s is in state %s and cannot be %s.", id, e.State, map[string]string{"Accept": "accepted", "Reject": "rejected"}[event])))
				continue
			}
			if err := tx.setEndpointState(e, to, event); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// Connection notifications.

// ConnectionNotification sends an endpoint's or a service's connection
// events to an SNS topic.
type ConnectionNotification struct {
	Meta
	ServiceID  string   `json:"serviceId,omitempty"`
	EndpointID string   `json:"endpointId,omitempty"`
	TopicARN   string   `json:"topic"`
	Events     []string `json:"events"`
	State      string   `json:"state"` // Enabled
}

func (n *ConnectionNotification) filter(name string) ([]string, bool) {
	switch name {
	case "connection-notification-arn":
		return one(n.TopicARN), true
	case "connection-notification-id":
		return one(n.ID), true
	case "connection-notification-state":
		return one(n.State), true
	case "connection-notification-type":
		return []string{"Topic"}, true
	case "service-id":
		return one(n.ServiceID), true
	case "vpc-endpoint-id":
		return one(n.EndpointID), true
	}
	return nil, false
}

var connectionEvents = []string{"Accept", "Connect", "Delete", "Reject"}

func checkConnectionEvents(events []string) ([]string, error) {
	if len(events) == 0 {
		return nil, awserr.MissingParameter("ConnectionEvents")
	}
	var out []string
	for _, ev := range events {
		if !containsString(connectionEvents, ev) {
			return nil, awserr.InvalidParameterValue("Invalid connection event %s. Valid values are Accept, Connect, Delete and Reject.", ev)
		}
		if !containsString(out, ev) {
			out = append(out, ev)
		}
	}
	return out, nil
}

// checkTopicARN accepts an SNS topic ARN of the caller's region.
func checkTopicARN(who Caller, arn string) error {
	r, err := parseTopicARN(arn, "ConnectionNotificationArn")
	if err != nil || r.region != who.Region {
		return invalidParameter("Invalid ConnectionNotificationArn %s: it must be the ARN of an SNS topic in %s.", arn, who.Region)
	}
	return nil
}

// CreateConnectionNotificationInput is what
// CreateVpcEndpointConnectionNotification takes: exactly one of a service
// or an interface endpoint.
type CreateConnectionNotificationInput struct {
	ServiceID     string
	VpcEndpointID string
	TopicARN      string
	Events        []string
}

// CreateVpcEndpointConnectionNotification sends the events of one of the
// caller's services or interface endpoints to an SNS topic.
func (c *Cloud) CreateVpcEndpointConnectionNotification(who Caller, in CreateConnectionNotificationInput) (*ConnectionNotification, error) {
	switch {
	case in.ServiceID == "" && in.VpcEndpointID == "":
		return nil, awserr.New("MissingParameter", "Either ServiceId or VpcEndpointId must be specified.")
	case in.ServiceID != "" && in.VpcEndpointID != "":
		return nil, awserr.InvalidParameterCombination("ServiceId and VpcEndpointId cannot both be specified.")
	case in.TopicARN == "":
		return nil, awserr.MissingParameter("ConnectionNotificationArn")
	}
	events, err := checkConnectionEvents(in.Events)
	if err != nil {
		return nil, err
	}
	if err := checkTopicARN(who, in.TopicARN); err != nil {
		return nil, err
	}
	var n *ConnectionNotification
	err = c.update(who, func(tx *Tx) error {
		if in.ServiceID != "" {
			if _, err := load[EndpointService](tx, kindEndpointService, in.ServiceID); err != nil {
				return err
			}
		} else {
			e, err := load[VpcEndpoint](tx, kindVpcEndpoint, in.VpcEndpointID)
			if err != nil {
				return err
			}
			if e.Type != EndpointTypeInterface {
				return invalidParameter("Connection notifications are supported for Interface VPC endpoints only; %s is a %s endpoint.", e.ID, e.Type)
			}
		}
		if ok, err := tx.topicExists(in.TopicARN); err != nil {
			return err
		} else if !ok {
			return invalidParameter("Invalid ConnectionNotificationArn %s: the SNS topic does not exist.", in.TopicARN)
		}
		n = &ConnectionNotification{
			Meta:      tx.newMeta(kindConnectionNotification, ""),
			ServiceID: in.ServiceID, EndpointID: in.VpcEndpointID,
			TopicARN: in.TopicARN, Events: events, State: "Enabled",
		}
		return tx.save(kindConnectionNotification, n)
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// DescribeVpcEndpointConnectionNotifications lists the caller's
// notifications, one by id or by filters.
func (c *Cloud) DescribeVpcEndpointConnectionNotifications(who Caller, id string, filters []Filter, p Page) ([]*ConnectionNotification, string, error) {
	var ids []string
	if id != "" {
		ids = []string{id}
	}
	var out []*ConnectionNotification
	err := c.view(who, func(tx *Tx) error {
		var err error
		out, err = describe[ConnectionNotification](tx, kindConnectionNotification, ids, filters)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return paginateCapped(out, func(n *ConnectionNotification) string { return n.ID }, p, 1000)
}

// ModifyVpcEndpointConnectionNotification changes a notification's topic
// and/or events.
func (c *Cloud) ModifyVpcEndpointConnectionNotification(who Caller, id, topicARN string, events []string) error {
	if id == "" {
		return awserr.MissingParameter("ConnectionNotificationId")
	}
	if topicARN == "" && len(events) == 0 {
		return awserr.New("MissingParameter", "Either ConnectionNotificationArn or ConnectionEvents must be specified.")
	}
	if topicARN != "" {
		if err := checkTopicARN(who, topicARN); err != nil {
			return err
		}
	}
	var err error
	if len(events) > 0 {
		if events, err = checkConnectionEvents(events); err != nil {
			return err
		}
	}
	return c.update(who, func(tx *Tx) error {
		n, err := load[ConnectionNotification](tx, kindConnectionNotification, id)
		if err != nil {
			return err
		}
		if topicARN != "" {
			if ok, err := tx.topicExists(topicARN); err != nil {
				return err
			} else if !ok {
				return invalidParameter("Invalid ConnectionNotificationArn %s: the SNS topic does not exist.", topicARN)
			}
			n.TopicARN = topicARN
		}
		if len(events) > 0 {
			n.Events = events
		}
		return tx.save(kindConnectionNotification, n)
	})
}

// DeleteVpcEndpointConnectionNotifications deletes notifications; an id
// that is not the caller's is an unsuccessful item.
func (c *Cloud) DeleteVpcEndpointConnectionNotifications(who Caller, ids []string) ([]UnsuccessfulItem, error) {
	if len(ids) == 0 {
		return nil, awserr.MissingParameter("ConnectionNotificationId")
	}
	var out []UnsuccessfulItem
	err := c.update(who, func(tx *Tx) error {
		out = nil
		for _, id := range ids {
			n, err := load[ConnectionNotification](tx, kindConnectionNotification, id)
			if err != nil {
				if _, ok := awserr.As(err); !ok {
					return err
				}
				out = append(out, unsuccessful(id, err))
				continue
			}
			if err := tx.remove(kindConnectionNotification, n); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// dropNotifications deletes the notifications (of any owner) drop picks.
func (tx *Tx) dropNotifications(drop func(*ConnectionNotification) bool) error {
	ns, err := listAll[ConnectionNotification](tx, kindConnectionNotification, drop)
	if err != nil {
		return err
	}
	for _, n := range ns {
		if err := tx.remove(kindConnectionNotification, n); err != nil {
			return err
		}
	}
	return nil
}

// ConnectionEvent is the message a connection notification publishes (as
// JSON, the SNS message body).
type ConnectionEvent struct {
	EventType        string    `json:"eventType"` // Accept | Connect | Delete | Reject
	EventTime        time.Time `json:"eventTime"`
	Region           string    `json:"region"`
	ServiceID        string    `json:"serviceId"`
	ServiceName      string    `json:"serviceName"`
	VpcEndpointID    string    `json:"vpcEndpointId"`
	VpcEndpointOwner string    `json:"vpcEndpointOwner"`
	VpcEndpointState string    `json:"vpcEndpointState"`
}

// ConnectionEventSubject is the SNS subject of connection notifications.
const ConnectionEventSubject = "VPC Endpoint Connection Notification"

// notify publishes event to every enabled notification of the endpoint
// and of its service that asks for it, through the SNS outbox of this
// transaction. A topic that is gone (or refuses) does not stop the call.
func (tx *Tx) notify(event string, e *VpcEndpoint, cn *Connection) error {
	ns, err := listAll[ConnectionNotification](tx, kindConnectionNotification, func(n *ConnectionNotification) bool {
		return n.State == "Enabled" && containsString(n.Events, event) &&
			(n.EndpointID != "" && n.EndpointID == e.ID || n.ServiceID != "" && n.ServiceID == cn.ServiceID)
	})
	if err != nil || len(ns) == 0 {
		return err
	}
	msg, err := json.Marshal(ConnectionEvent{
		EventType: event, EventTime: tx.c.Now(), Region: e.Region,
		ServiceID: cn.ServiceID, ServiceName: e.ServiceName,
		VpcEndpointID: e.ID, VpcEndpointOwner: e.Owner, VpcEndpointState: e.State,
	})
	if err != nil {
		return err
	}
	for _, n := range ns {
		if err := tx.publish(n.TopicARN, ConnectionEventSubject, string(msg)); err != nil {
			if _, ok := awserr.As(err); ok {
				tx.c.log.Warn("connection notification not published", "topic", n.TopicARN, "event", event, "endpoint", e.ID, "err", err)
				continue
			}
			return err
		}
	}
	return nil
}
