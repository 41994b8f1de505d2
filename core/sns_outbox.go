package core

// The SNS outbox. Whatever must be sent to a subscriber — a Publish, a
// notification the core raises itself (VPC endpoint connection events), a
// subscription confirmation — is written as one record under
//
//	r/<region>/sns/outbox/<revision>-<sequence>
//
// in the same transaction as the change that caused it, so a message
// exists exactly when its cause committed. The notify worker follows the
// store's change feed, delivers each record over HTTP(S) and then deletes
// it: delivery is at least once, and survives restarts.

import (
	"fmt"
	"strings"
	"time"

	"github.com/isthmusnet/isthmus/store"
)

// SNS message types (the Type of the JSON envelope and the
// x-amz-sns-message-type header).
const (
	SNSNotification             = "Notification"
	SNSSubscriptionConfirmation = "SubscriptionConfirmation"
)

// SNSMessage is one outbox record.
type SNSMessage struct {
	// ID is the record's key within the region's outbox: the commit
	// revision and a sequence number, so keys sort in publishing order.
	ID        string    `json:"id"`
	Region    string    `json:"region"`
	Type      string    `json:"type"`
	MessageID string    `json:"messageId"`
	TopicARN  string    `json:"topic"`
	Timestamp time.Time `json:"ts"`
	Subject   string    `json:"subject,omitempty"`
	// Message is the text; ByProtocol holds the per-protocol texts of a
	// MessageStructure=json publish (Message is then its "default").
	Message    string                         `json:"message"`
	ByProtocol map[string]string              `json:"byProtocol,omitempty"`
	Attributes map[string]SNSMessageAttribute `json:"attrs,omitempty"`
	// SubscriptionARN and Token: the one recipient of a
	// SubscriptionConfirmation and the token it carries.
	SubscriptionARN string `json:"sub,omitempty"`
	Token           string `json:"token,omitempty"`
	// Delivered lists the subscriptions already done with (delivered, or
	// given up on after the retries), so a restart does not repeat them.
	Delivered []string `json:"delivered,omitempty"`
}

// Text is the message text for a subscription of protocol.
func (m *SNSMessage) Text(protocol string) string {
	if s, ok := m.ByProtocol[protocol]; ok {
		return s
	}
	return m.Message
}

func snsOutboxPrefix(region string) string { return "r/" + region + "/sns/outbox/" }

// SNSOutboxKey reports whether a store key is an outbox record, and its
// region and id.
func SNSOutboxKey(key string) (region, id string, ok bool) {
	rest, ok := strings.CutPrefix(key, "r/")
	if !ok {
		return "", "", false
	}
	region, rest, ok = strings.Cut(rest, "/")
	if !ok {
		return "", "", false
	}
	id, ok = strings.CutPrefix(rest, "sns/outbox/")
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", "", false
	}
	return region, id, true
}

// enqueueSNS writes m into region's outbox, giving it its id, message id
// and timestamp.
func (tx *Tx) enqueueSNS(region string, m *SNSMessage) error {
	rev := fmt.Sprintf("%016d-", tx.Rev()+1)
	n := 0
	if err := tx.Scan(snsOutboxPrefix(region)+rev, "", func(string, []byte) bool { n++; return true }); err != nil {
		return err
	}
	m.ID = fmt.Sprintf("%s%06d", rev, n)
	m.Region = region
	if m.MessageID == "" {
		m.MessageID = newUUID(tx.c.rand)
	}
	m.Timestamp = tx.c.Now()
	return putJSON(tx, snsOutboxPrefix(region)+m.ID, m)
}

func (tx *Tx) enqueueConfirmation(t *Topic, s *Subscription) error {
	return tx.enqueueSNS(t.Region, &SNSMessage{
		Type:            SNSSubscriptionConfirmation,
		TopicARN:        t.ARN(),
		SubscriptionARN: s.ARN(),
		Token:           s.Token,
		Message: "You have chosen to subscribe to the topic " + t.ARN() +
			".\nTo confirm the subscription, visit the SubscribeURL included in this message.",
	})
}

// publish is the core's own publisher (VPC endpoint connection
// notifications): it queues message for every confirmed subscription of
// the topic, in this transaction, whoever owns the topic. A topic that is
// malformed, in a region not served, or gone is dropped and logged, as
// SNS drops what is published to a deleted topic; the ARN was validated
// when the notification was configured.
func (tx *Tx) publish(topicARN, subject, message string) error {
	ref, err := parseTopicARN(topicARN, "TopicArn")
	if err != nil {
		tx.c.log.Warn("sns: dropping a notification for a malformed topic ARN", "topic", topicARN)
		return nil
	}
	if _, ok := tx.c.Region(ref.region); !ok {
		tx.c.log.Warn("sns: dropping a notification for a topic in a region not served", "topic", topicARN)
		return nil
	}
	if _, ok, err := tx.snsTopic(ref); err != nil {
		return err
	} else if !ok {
		tx.c.log.Warn("sns: dropping a notification for a topic that does not exist", "topic", topicARN)
		return nil
	}
	return tx.enqueueSNS(ref.region, &SNSMessage{Type: SNSNotification, TopicARN: ref.arn(), Subject: subject, Message: message})
}

// topicExists reports whether topicARN is a well-formed ARN of an SNS
// topic that exists, whoever owns it: for validating a notification's
// topic when it is configured.
func (tx *Tx) topicExists(topicARN string) (bool, error) {
	ref, err := parseTopicARN(topicARN, "TopicArn")
	if err != nil {
		return false, nil
	}
	_, ok, err := tx.snsTopic(ref)
	return ok, err
}

// SNSOutbox returns every outbox record of every region served, with the
// store revision they were read at: a worker starts with these and then
// watches the store from that revision.
func (c *Cloud) SNSOutbox() (int64, []*SNSMessage, error) {
	var rev int64
	var out []*SNSMessage
	err := c.st.View(func(tx store.Tx) error {
		rev = tx.Rev()
		for _, region := range c.order {
			var derr error
			err := tx.Scan(snsOutboxPrefix(region), "", func(key string, b []byte) bool {
				m, err := decodeJSON[SNSMessage](b)
				if err != nil {
					derr = fmt.Errorf("decode %s: %w", key, err)
					return false
				}
				out = append(out, m)
				return true
			})
			if err == nil {
				err = derr
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	return rev, out, err
}

// SNSTarget is one endpoint a message goes to, with how to deliver it.
type SNSTarget struct {
	SubscriptionARN string
	Protocol        string
	Endpoint        string
	// Raw: RawMessageDelivery (a Notification's body is the bare message).
	Raw         bool
	ContentType string
	Retry       SNSRetryPolicy
}

// SNSDelivery is what to do with one outbox record now.
type SNSDelivery struct {
	Message *SNSMessage
	// SignatureVersion of the topic ("1" or "2").
	SignatureVersion string
	Targets          []SNSTarget
}

// SNSDeliveryPlan returns the record region/id and its recipients that
// are still to be served: the confirmed HTTP/S subscriptions of the topic
// for a Notification, the one subscription (if still pending with the same
// token) for a SubscriptionConfirmation. It returns nil when the record is
// gone.
func (c *Cloud) SNSDeliveryPlan(region, id string) (*SNSDelivery, error) {
	var d *SNSDelivery
	err := c.st.View(func(stx store.Tx) error {
		tx := &Tx{Tx: stx, c: c, who: Caller{Region: region}}
		m, ok, err := getJSON[SNSMessage](tx, snsOutboxPrefix(region)+id)
		if err != nil || !ok {
			return err
		}
		d = &SNSDelivery{Message: m, SignatureVersion: "1"}
		ref, err := parseTopicARN(m.TopicARN, "TopicArn")
		if err != nil {
			return nil // nothing to deliver to
		}
		t, ok, err := tx.snsTopic(ref)
		if err != nil || !ok {
			return err
		}
		if t.SignatureVersion != "" {
			d.SignatureVersion = t.SignatureVersion
		}
		subs, err := tx.topicSubscriptions(ref)
		if err != nil {
			return err
		}
		for _, s := range subs {
			if containsString(m.Delivered, s.ARN()) || (s.Protocol != "http" && s.Protocol != "https") {
				continue
			}
			switch m.Type {
			case SNSNotification:
				if !s.Confirmed {
					continue
				}
			case SNSSubscriptionConfirmation:
				if s.ARN() != m.SubscriptionARN || s.Confirmed || s.Token != m.Token {
					continue
				}
			default:
				continue
			}
			retry, contentType := subscriptionDelivery(t.DeliveryPolicy, s.DeliveryPolicy)
			d.Targets = append(d.Targets, SNSTarget{
				SubscriptionARN: s.ARN(), Protocol: s.Protocol, Endpoint: s.Endpoint,
				Raw: s.RawMessageDelivery, ContentType: contentType, Retry: retry,
			})
		}
		return nil
	})
	return d, err
}

// SNSDelivered records that the record region/id is done with one
// subscription. A record that is gone is not an error.
func (c *Cloud) SNSDelivered(region, id, subscriptionARN string) error {
	_, err := c.st.Update(func(tx store.Tx) error {
		key := snsOutboxPrefix(region) + id
		m, ok, err := getJSON[SNSMessage](tx, key)
		if err != nil || !ok || containsString(m.Delivered, subscriptionARN) {
			return err
		}
		m.Delivered = append(m.Delivered, subscriptionARN)
		return putJSON(tx, key, m)
	})
	return err
}

// SNSOutboxDone deletes the record region/id once it is served.
func (c *Cloud) SNSOutboxDone(region, id string) error {
	_, err := c.st.Update(func(tx store.Tx) error {
		return tx.Delete(snsOutboxPrefix(region) + id)
	})
	return err
}
