package core

// A small built-in SNS (API version 2010-03-31): topics, HTTP/HTTPS
// subscriptions with the confirmation handshake, and Publish. It exists so
// that VPC endpoint connection notifications are really delivered; the
// core only records what must be sent (the outbox, see sns_outbox.go) and
// package notify does the HTTP.
//
// Topics and subscriptions are named by ARN, not by EC2-style ids, so they
// are not kinds: they live under their own keys (see tx.go) and are never
// seen by EC2's DescribeTags or DeleteVpc.

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/isthmusnet/isthmus/awserr"
)

// Limits SNS documents.
const (
	SNSMaxMessageBytes = 262144 // Message plus message attributes, 256 KiB
	snsMaxSubjectLen   = 100
	snsMaxDisplayName  = 100
	snsMaxPolicyLen    = 30720
	snsPageSize        = 100
	snsMaxTags         = 50
	// SNSTokenTTL is how long a confirmation token is valid ("Confirmation
	// tokens are valid for three days", API_Subscribe).
	SNSTokenTTL = 72 * time.Hour
)

// Topic is an SNS topic. Meta.ID is the topic ARN.
type Topic struct {
	Meta
	Name             string `json:"name"`
	DisplayName      string `json:"displayName,omitempty"`
	Policy           string `json:"policy"`
	DeliveryPolicy   string `json:"deliveryPolicy,omitempty"`
	SignatureVersion string `json:"sigVersion,omitempty"`
	// SubscriptionsDeleted counts the subscriptions removed from the topic.
	SubscriptionsDeleted int `json:"subsDeleted,omitempty"`
}

// ARN is the topic's ARN.
func (t *Topic) ARN() string { return t.ID }

// Subscription is an HTTP or HTTPS endpoint subscribed to a topic. Meta.ID
// is the subscription ARN (<topic ARN>:<uuid>); Meta.Owner is the account
// that subscribed.
type Subscription struct {
	Meta
	TopicARN  string `json:"topic"`
	Protocol  string `json:"protocol"`
	Endpoint  string `json:"endpoint"`
	Confirmed bool   `json:"confirmed"`
	// Token confirms the subscription; it was issued at TokenIssued.
	Token                        string    `json:"token"`
	TokenIssued                  time.Time `json:"tokenIssued"`
	ConfirmationWasAuthenticated bool      `json:"confirmAuth,omitempty"`
	AuthenticateOnUnsubscribe    bool      `json:"authUnsub,omitempty"`
	RawMessageDelivery           bool      `json:"raw,omitempty"`
	DeliveryPolicy               string    `json:"deliveryPolicy,omitempty"`
}

// ARN is the subscription's ARN.
func (s *Subscription) ARN() string { return s.ID }

// Key layout (see tx.go).
func snsTopicPrefix(region, account string) string {
	return "r/" + region + "/sns/topic/" + account + "/"
}

func snsTopicKey(r topicRef) string { return snsTopicPrefix(r.region, r.account) + r.name }

func snsSubPrefix(r topicRef) string {
	return "r/" + r.region + "/sns/sub/" + r.account + "/" + r.name + "/"
}

func snsSubRegionPrefix(region string) string { return "r/" + region + "/sns/sub/" }

// Errors, with SNS's codes and statuses (from the service model).

func snsInvalid(format string, args ...any) error {
	return awserr.New("InvalidParameter", "Invalid parameter: "+format, args...)
}

func snsNotFound(msg string) error {
	return awserr.WithStatus(404, "NotFound", "%s", msg)
}

func snsTopicNotFound() error { return snsNotFound("Topic does not exist") }

func snsAuthorizationError(who Caller, action, resource string) error {
	user := who.ARN
	if user == "" && who.Account != "" {
		user = RootARN(who.Account)
	}
	if user == "" {
		user = "anonymous"
	}
	return awserr.WithStatus(403, "AuthorizationError",
		"User: %s is not authorized to perform: SNS:%s on resource: %s because no resource-based policy allows the SNS:%s action",
		user, action, resource, action)
}

// topicRef is a parsed topic ARN.
type topicRef struct {
	region, account, name string
}

func (r topicRef) arn() string { return "arn:aws:sns:" + r.region + ":" + r.account + ":" + r.name }

var topicNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

// parseTopicARN parses arn:aws:sns:<region>:<account>:<name>. param names
// the parameter in the error (TopicArn, ResourceArn, TargetArn).
func parseTopicARN(arn, param string) (topicRef, error) {
	parts := strings.Split(arn, ":")
	if len(parts) < 6 {
		return topicRef{}, snsInvalid("%s Reason: An ARN must have at least 6 elements, not %d", param, len(parts))
	}
	r := topicRef{region: parts[3], account: parts[4], name: parts[5]}
	if len(parts) != 6 || parts[0] != "arn" || parts[1] != "aws" || parts[2] != "sns" ||
		!IsAccountID(r.account) || r.region == "" || !topicNameRE.MatchString(r.name) {
		return topicRef{}, snsInvalid("%s", param)
	}
	return r, nil
}

// subRef is a parsed subscription ARN.
type subRef struct {
	topic topicRef
	id    string
}

func (r subRef) arn() string { return r.topic.arn() + ":" + r.id }

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func parseSubscriptionARN(arn string) (subRef, error) {
	parts := strings.Split(arn, ":")
	if len(parts) < 6 {
		return subRef{}, snsInvalid("SubscriptionArn Reason: An ARN must have at least 6 elements, not %d", len(parts))
	}
	if len(parts) == 6 {
		return subRef{}, snsInvalid("SubscriptionId")
	}
	t, err := parseTopicARN(strings.Join(parts[:6], ":"), "SubscriptionArn")
	if err != nil || len(parts) != 7 || !uuidRE.MatchString(parts[6]) {
		return subRef{}, snsInvalid("SubscriptionArn")
	}
	return subRef{topic: t, id: parts[6]}, nil
}

// sameRegion refuses an ARN of another region than the caller's, as SNS
// does ("Invalid parameter: TopicArn").
func sameRegion(who Caller, r topicRef, param string) error {
	if r.region != who.Region {
		return snsInvalid("%s", param)
	}
	return nil
}

// newUUID returns a random (version 4) UUID.
func newUUID(r io.Reader) string {
	var b [16]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		panic(fmt.Sprintf("core: random source failed: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// newSNSToken returns a confirmation token: 256 hex digits, the length
// and alphabet of the tokens SNS sends.
func newSNSToken(r io.Reader) string {
	b := make([]byte, 128)
	if _, err := io.ReadFull(r, b); err != nil {
		panic(fmt.Sprintf("core: random source failed: %v", err))
	}
	return hex.EncodeToString(b)
}

// snsTopic reads the topic r names, whoever owns it.
func (tx *Tx) snsTopic(r topicRef) (*Topic, bool, error) {
	return getJSON[Topic](tx, snsTopicKey(r))
}

// loadTopic returns the topic r names, refusing a missing one (NotFound)
// and one whose policy does not let the caller do action
// (AuthorizationError).
func (tx *Tx) loadTopic(r topicRef, action string) (*Topic, error) {
	t, ok, err := tx.snsTopic(r)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, snsTopicNotFound()
	}
	if !topicAllows(t, tx.who, action) {
		return nil, snsAuthorizationError(tx.who, action, t.ARN())
	}
	return t, nil
}

// topicSubscriptions lists the subscriptions of a topic in key order.
func (tx *Tx) topicSubscriptions(r topicRef) ([]*Subscription, error) {
	var out []*Subscription
	var derr error
	err := tx.Scan(snsSubPrefix(r), "", func(key string, b []byte) bool {
		s, err := decodeJSON[Subscription](b)
		if err != nil {
			derr = fmt.Errorf("decode %s: %w", key, err)
			return false
		}
		out = append(out, s)
		return true
	})
	if err == nil {
		err = derr
	}
	return out, err
}

func (tx *Tx) saveSubscription(s *Subscription) error {
	r, err := parseSubscriptionARN(s.ID)
	if err != nil {
		return err
	}
	return putJSON(tx, snsSubPrefix(r.topic)+r.id, s)
}

// CreateTopicInput is what CreateTopic takes.
type CreateTopicInput struct {
	Name       string
	Attributes map[string]string
	Tags       []Tag
}

// CreateTopic creates a topic, or returns the caller's topic of that name
// when it already exists with the same attributes and tags (CreateTopic
// is idempotent by name).
func (c *Cloud) CreateTopic(who Caller, in CreateTopicInput) (string, error) {
	if !topicNameRE.MatchString(in.Name) {
		return "", snsInvalid("Topic Name")
	}
	if err := validateSNSTags(in.Tags); err != nil {
		return "", err
	}
	ref := topicRef{region: who.Region, account: who.Account, name: in.Name}
	var arn string
	err := c.update(who, func(tx *Tx) error {
		arn = ref.arn()
		old, ok, err := tx.snsTopic(ref)
		if err != nil {
			return err
		}
		t := &Topic{
			Meta: Meta{ID: arn, Owner: who.Account, Region: who.Region, Created: tx.c.Now()},
			Name: in.Name,
		}
		t.Policy = defaultTopicPolicy(arn, who.Account)
		for _, name := range sortedKeys(in.Attributes) {
			if err := setTopicAttribute(t, name, in.Attributes[name], "Attributes Reason: "); err != nil {
				return err
			}
		}
		if ok {
			for _, name := range sortedKeys(in.Attributes) {
				if topicAttributes(old, 0, 0)[name] != topicAttributes(t, 0, 0)[name] {
					return snsInvalid("Attributes Reason: Topic already exists with different attributes")
				}
			}
			if len(in.Tags) > 0 && !sameTags(old.Tags, in.Tags) {
				return snsInvalid("Tags Reason: Topic already exists with different tags")
			}
			return nil
		}
		t.Tags = mergeTags(nil, in.Tags)
		return putJSON(tx, snsTopicKey(ref), t)
	})
	if err != nil {
		return "", err
	}
	return arn, nil
}

func sameTags(have, want []Tag) bool {
	m := map[string]string{}
	for _, t := range have {
		m[t.Key] = t.Value
	}
	for _, t := range want {
		if v, ok := m[t.Key]; !ok || v != t.Value {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// DeleteTopic deletes a topic and its subscriptions. Deleting a topic that
// does not exist is not an error, as in SNS.
func (c *Cloud) DeleteTopic(who Caller, topicARN string) error {
	ref, err := parseTopicARN(topicARN, "TopicArn")
	if err != nil {
		return err
	}
	if err := sameRegion(who, ref, "TopicArn"); err != nil {
		return err
	}
	return c.update(who, func(tx *Tx) error {
		_, ok, err := tx.snsTopic(ref)
		if err != nil || !ok {
			return err
		}
		if _, err := tx.loadTopic(ref, "DeleteTopic"); err != nil {
			return err
		}
		subs, err := tx.topicSubscriptions(ref)
		if err != nil {
			return err
		}
		for _, s := range subs {
			r, _ := parseSubscriptionARN(s.ID)
			if err := tx.Delete(snsSubPrefix(ref) + r.id); err != nil {
				return err
			}
		}
		return tx.Delete(snsTopicKey(ref))
	})
}

// ListTopics lists the caller's topics in the caller's region, 100 a page.
func (c *Cloud) ListTopics(who Caller, nextToken string) ([]string, string, error) {
	var arns []string
	err := c.view(who, func(tx *Tx) error {
		return tx.Scan(snsTopicPrefix(who.Region, who.Account), "", func(key string, _ []byte) bool {
			arns = append(arns, topicRef{region: who.Region, account: who.Account, name: key[strings.LastIndexByte(key, '/')+1:]}.arn())
			return true
		})
	})
	if err != nil {
		return nil, "", err
	}
	return snsPage(arns, func(s string) string { return s }, nextToken)
}

// snsPage cuts one page of 100 out of items sorted by key.
func snsPage[T any](items []T, key func(T) string, nextToken string) ([]T, string, error) {
	out, next, err := paginate(items, key, Page{MaxResults: snsPageSize, NextToken: nextToken}, 1, snsPageSize)
	if awserr.HasCode(err, "InvalidPaginationToken") {
		return nil, "", snsInvalid("NextToken")
	}
	return out, next, err
}

// GetTopicAttributes returns a topic's attributes, as SNS names them.
func (c *Cloud) GetTopicAttributes(who Caller, topicARN string) (map[string]string, error) {
	ref, err := parseTopicARN(topicARN, "TopicArn")
	if err != nil {
		return nil, err
	}
	if err := sameRegion(who, ref, "TopicArn"); err != nil {
		return nil, err
	}
	var attrs map[string]string
	err = c.view(who, func(tx *Tx) error {
		t, err := tx.loadTopic(ref, "GetTopicAttributes")
		if err != nil {
			return err
		}
		subs, err := tx.topicSubscriptions(ref)
		if err != nil {
			return err
		}
		confirmed, pending := 0, 0
		for _, s := range subs {
			if s.Confirmed {
				confirmed++
			} else {
				pending++
			}
		}
		attrs = topicAttributes(t, confirmed, pending)
		return nil
	})
	return attrs, err
}

func topicAttributes(t *Topic, confirmed, pending int) map[string]string {
	m := map[string]string{
		"TopicArn":                t.ARN(),
		"Owner":                   t.Owner,
		"Policy":                  t.Policy,
		"DisplayName":             t.DisplayName,
		"SubscriptionsConfirmed":  strconv.Itoa(confirmed),
		"SubscriptionsPending":    strconv.Itoa(pending),
		"SubscriptionsDeleted":    strconv.Itoa(t.SubscriptionsDeleted),
		"EffectiveDeliveryPolicy": effectiveTopicDeliveryPolicy(t.DeliveryPolicy),
	}
	if t.DeliveryPolicy != "" {
		m["DeliveryPolicy"] = t.DeliveryPolicy
	}
	if t.SignatureVersion != "" {
		m["SignatureVersion"] = t.SignatureVersion
	}
	return m
}

// Topic attributes SNS has and Isthmus does not implement.
var unsupportedTopicAttributes = map[string]bool{
	"KmsMasterKeyId": true, "TracingConfig": true, "ArchivePolicy": true,
	"ContentBasedDeduplication": true, "FifoThroughputScope": true, "DataProtectionPolicy": true,
}

// setTopicAttribute sets one attribute; prefix starts the error message
// ("Attributes Reason: " for CreateTopic's map).
func setTopicAttribute(t *Topic, name, value, prefix string) error {
	switch name {
	case "DisplayName":
		if utf8.RuneCountInString(value) > snsMaxDisplayName {
			return snsInvalid("%sDisplayName", prefix)
		}
		t.DisplayName = value
	case "Policy":
		if value == "" {
			t.Policy = defaultTopicPolicy(t.ARN(), t.Owner)
			return nil
		}
		if err := validateTopicPolicy(value); err != nil {
			return snsInvalid("%sPolicy Error: %s", prefix, err)
		}
		t.Policy = value
	case "DeliveryPolicy":
		if value != "" {
			if err := validateTopicDeliveryPolicy(value); err != nil {
				return snsInvalid("%sDeliveryPolicy: %s", prefix, err)
			}
		}
		t.DeliveryPolicy = value
	case "FifoTopic":
		// CreateTopic accepts and forgets an explicit "false"; it cannot be
		// set later; FIFO topics are not implemented.
		if prefix == "" {
			return snsInvalid("AttributeName")
		}
		if !strings.EqualFold(value, "false") {
			return snsInvalid("%sAttributeName Reason: FIFO topics are not supported by Isthmus", prefix)
		}
	case "SignatureVersion":
		if value != "1" && value != "2" {
			return snsInvalid("%sSignatureVersion", prefix)
		}
		t.SignatureVersion = value
	default:
		if strings.HasSuffix(name, "FeedbackRoleArn") || strings.HasSuffix(name, "FeedbackSampleRate") || unsupportedTopicAttributes[name] {
			return snsInvalid("%sAttributeName Reason: %s is not supported by Isthmus", prefix, name)
		}
		return snsInvalid("%sAttributeName", prefix)
	}
	return nil
}

// SetTopicAttributes sets one topic attribute: DisplayName, Policy,
// DeliveryPolicy or SignatureVersion.
func (c *Cloud) SetTopicAttributes(who Caller, topicARN, name, value string) error {
	ref, err := parseTopicARN(topicARN, "TopicArn")
	if err != nil {
		return err
	}
	if err := sameRegion(who, ref, "TopicArn"); err != nil {
		return err
	}
	return c.update(who, func(tx *Tx) error {
		t, err := tx.loadTopic(ref, "SetTopicAttributes")
		if err != nil {
			return err
		}
		if err := setTopicAttribute(t, name, value, ""); err != nil {
			return err
		}
		return putJSON(tx, snsTopicKey(ref), t)
	})
}

// SubscribeInput is what Subscribe takes.
type SubscribeInput struct {
	TopicARN   string
	Protocol   string
	Endpoint   string
	Attributes map[string]string
	// ReturnSubscriptionARN answers the ARN even while the subscription
	// waits for confirmation (else "pending confirmation").
	ReturnSubscriptionARN bool
}

// SubscriptionPending is what Subscribe answers instead of an ARN for a
// subscription that waits for confirmation; ListSubscriptions shows
// SubscriptionPendingARN in its place.
const (
	SubscriptionPending    = "pending confirmation"
	SubscriptionPendingARN = "PendingConfirmation"
)

// protocols SNS knows; Isthmus delivers to http and https only.
var snsProtocols = map[string]bool{
	"http": true, "https": true, "email": true, "email-json": true, "sms": true,
	"sqs": true, "application": true, "lambda": true, "firehose": true,
}

// Subscribe subscribes an HTTP or HTTPS endpoint to a topic. The
// subscription waits for confirmation: a SubscriptionConfirmation message
// carrying its token goes into the outbox. Subscribing the same endpoint
// again answers the same subscription (and resends the confirmation while
// it is pending).
func (c *Cloud) Subscribe(who Caller, in SubscribeInput) (string, error) {
	ref, err := parseTopicARN(in.TopicARN, "TopicArn")
	if err != nil {
		return "", err
	}
	if err := sameRegion(who, ref, "TopicArn"); err != nil {
		return "", err
	}
	var out string
	err = c.update(who, func(tx *Tx) error {
		t, err := tx.loadTopic(ref, "Subscribe")
		if err != nil {
			return err
		}
		if err := checkSubscriptionEndpoint(in.Protocol, in.Endpoint); err != nil {
			return err
		}
		sub := &Subscription{TopicARN: t.ARN(), Protocol: in.Protocol, Endpoint: in.Endpoint}
		for _, name := range sortedKeys(in.Attributes) {
			if err := setSubscriptionAttribute(sub, name, in.Attributes[name], "Attributes Reason: "); err != nil {
				return err
			}
		}
		subs, err := tx.topicSubscriptions(ref)
		if err != nil {
			return err
		}
		for _, old := range subs {
			if old.Protocol != in.Protocol || old.Endpoint != in.Endpoint {
				continue
			}
			if old.RawMessageDelivery != sub.RawMessageDelivery || old.DeliveryPolicy != sub.DeliveryPolicy {
				if len(in.Attributes) > 0 {
					return snsInvalid("Attributes Reason: Subscription already exists with different attributes")
				}
			}
			out = old.ARN()
			if !old.Confirmed {
				old.Token, old.TokenIssued = newSNSToken(tx.c.rand), tx.c.Now()
				if err := tx.saveSubscription(old); err != nil {
					return err
				}
				if err := tx.enqueueConfirmation(t, old); err != nil {
					return err
				}
				if !in.ReturnSubscriptionARN {
					out = SubscriptionPending
				}
			}
			return nil
		}
		id := newUUID(tx.c.rand)
		sub.Meta = Meta{ID: ref.arn() + ":" + id, Owner: who.Account, Region: who.Region, Created: tx.c.Now()}
		sub.Token, sub.TokenIssued = newSNSToken(tx.c.rand), tx.c.Now()
		if err := tx.saveSubscription(sub); err != nil {
			return err
		}
		if err := tx.enqueueConfirmation(t, sub); err != nil {
			return err
		}
		out = sub.ARN()
		if !in.ReturnSubscriptionARN {
			out = SubscriptionPending
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return out, nil
}

func checkSubscriptionEndpoint(protocol, endpoint string) error {
	if protocol != "http" && protocol != "https" {
		if snsProtocols[protocol] {
			return snsInvalid("Amazon SNS does not support this protocol string: %s (Isthmus delivers to http and https endpoints only)", protocol)
		}
		return snsInvalid("Amazon SNS does not support this protocol string: %s", protocol)
	}
	if endpoint == "" {
		return snsInvalid("Endpoint Reason: An endpoint must be specified for the %s protocol", protocol)
	}
	if !strings.HasPrefix(endpoint, protocol+"://") {
		return snsInvalid("Endpoint must match the specified protocol")
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || u.User != nil {
		return snsInvalid("Endpoint Reason: %s is not a valid URL", endpoint)
	}
	return nil
}

// Subscription attributes SNS has and Isthmus does not implement.
var unsupportedSubscriptionAttributes = map[string]bool{
	"FilterPolicy": true, "FilterPolicyScope": true, "RedrivePolicy": true,
	"SubscriptionRoleArn": true, "ReplayPolicy": true,
}

func setSubscriptionAttribute(s *Subscription, name, value, prefix string) error {
	switch name {
	case "RawMessageDelivery":
		switch strings.ToLower(value) {
		case "true":
			s.RawMessageDelivery = true
		case "false":
			s.RawMessageDelivery = false
		default:
			return snsInvalid("%sRawMessageDelivery: Invalid value [%s]. Must be true or false.", prefix, value)
		}
	case "DeliveryPolicy":
		if value != "" {
			if err := validateSubscriptionDeliveryPolicy(value); err != nil {
				return snsInvalid("%sDeliveryPolicy: %s", prefix, err)
			}
		}
		s.DeliveryPolicy = value
	default:
		if unsupportedSubscriptionAttributes[name] {
			return snsInvalid("%s%s is not supported by Isthmus", prefix, name)
		}
		return snsInvalid("%sAttributeName", prefix)
	}
	return nil
}

// ConfirmSubscription confirms the subscription the token was sent for.
// It may be called without credentials (who.Account empty), as SNS
// allows: the topic ARN then gives the region. Confirming twice answers
// the same ARN. authenticateOnUnsubscribe (honoured only for a signed
// call) makes Unsubscribe require the owner's credentials.
func (c *Cloud) ConfirmSubscription(who Caller, topicARN, token string, authenticateOnUnsubscribe bool) (string, error) {
	ref, err := parseTopicARN(topicARN, "Topic")
	if err != nil {
		return "", err
	}
	if who.Account == "" {
		who.Region = ref.region
	} else if err := sameRegion(who, ref, "Topic"); err != nil {
		return "", err
	}
	if _, ok := c.Region(ref.region); !ok {
		return "", snsInvalid("Topic")
	}
	var out string
	err = c.update(who, func(tx *Tx) error {
		_, ok, err := tx.snsTopic(ref)
		if err != nil {
			return err
		}
		if !ok {
			return snsTopicNotFound()
		}
		subs, err := tx.topicSubscriptions(ref)
		if err != nil {
			return err
		}
		for _, s := range subs {
			if s.Token == "" || s.Token != token {
				continue
			}
			out = s.ARN()
			if s.Confirmed {
				return nil
			}
			if tx.c.Now().Sub(s.TokenIssued) > SNSTokenTTL {
				return snsInvalid("Token")
			}
			s.Confirmed = true
			s.ConfirmationWasAuthenticated = who.Account != ""
			s.AuthenticateOnUnsubscribe = authenticateOnUnsubscribe && who.Account != ""
			return tx.saveSubscription(s)
		}
		return snsInvalid("Token")
	})
	if err != nil {
		return "", err
	}
	return out, nil
}

// Unsubscribe deletes a subscription. The subscription's owner and the
// topic's owner may; so may anyone without credentials (the
// UnsubscribeURL of every notification) unless the subscription was
// confirmed with AuthenticateOnUnsubscribe. Unsubscribing twice is not an
// error.
func (c *Cloud) Unsubscribe(who Caller, subscriptionARN string) error {
	ref, err := parseSubscriptionARN(subscriptionARN)
	if err != nil {
		return err
	}
	if who.Account == "" {
		who.Region = ref.topic.region
		if _, ok := c.Region(who.Region); !ok {
			return snsInvalid("SubscriptionArn")
		}
	} else if err := sameRegion(who, ref.topic, "SubscriptionArn"); err != nil {
		return err
	}
	return c.update(who, func(tx *Tx) error {
		s, ok, err := getJSON[Subscription](tx, snsSubPrefix(ref.topic)+ref.id)
		if err != nil || !ok {
			return err
		}
		switch {
		case who.Account == "":
			if s.AuthenticateOnUnsubscribe {
				return snsAuthorizationError(who, "Unsubscribe", s.ARN())
			}
		case who.Account != s.Owner && who.Account != ref.topic.account:
			return snsAuthorizationError(who, "Unsubscribe", s.ARN())
		}
		if err := tx.Delete(snsSubPrefix(ref.topic) + ref.id); err != nil {
			return err
		}
		t, ok, err := tx.snsTopic(ref.topic)
		if err != nil || !ok {
			return err
		}
		t.SubscriptionsDeleted++
		return putJSON(tx, snsTopicKey(ref.topic), t)
	})
}

// ListSubscriptions lists the caller's subscriptions in the region, 100 a
// page.
func (c *Cloud) ListSubscriptions(who Caller, nextToken string) ([]*Subscription, string, error) {
	var out []*Subscription
	err := c.view(who, func(tx *Tx) error {
		var derr error
		err := tx.Scan(snsSubRegionPrefix(who.Region), "", func(key string, b []byte) bool {
			s, err := decodeJSON[Subscription](b)
			if err != nil {
				derr = fmt.Errorf("decode %s: %w", key, err)
				return false
			}
			if s.Owner == who.Account {
				out = append(out, s)
			}
			return true
		})
		if err == nil {
			err = derr
		}
		return err
	})
	if err != nil {
		return nil, "", err
	}
	return snsPage(out, func(s *Subscription) string { return s.ID }, nextToken)
}

// ListSubscriptionsByTopic lists a topic's subscriptions, 100 a page.
func (c *Cloud) ListSubscriptionsByTopic(who Caller, topicARN, nextToken string) ([]*Subscription, string, error) {
	ref, err := parseTopicARN(topicARN, "TopicArn")
	if err != nil {
		return nil, "", err
	}
	if err := sameRegion(who, ref, "TopicArn"); err != nil {
		return nil, "", err
	}
	var out []*Subscription
	err = c.view(who, func(tx *Tx) error {
		if _, err := tx.loadTopic(ref, "ListSubscriptionsByTopic"); err != nil {
			return err
		}
		out, err = tx.topicSubscriptions(ref)
		return err
	})
	if err != nil {
		return nil, "", err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return snsPage(out, func(s *Subscription) string { return s.ID }, nextToken)
}

// GetSubscriptionAttributes returns a subscription's attributes. The
// subscription's owner and the topic's owner may read them.
func (c *Cloud) GetSubscriptionAttributes(who Caller, subscriptionARN string) (map[string]string, error) {
	ref, err := parseSubscriptionARN(subscriptionARN)
	if err != nil {
		return nil, err
	}
	if err := sameRegion(who, ref.topic, "SubscriptionArn"); err != nil {
		return nil, err
	}
	var attrs map[string]string
	err = c.view(who, func(tx *Tx) error {
		s, ok, err := getJSON[Subscription](tx, snsSubPrefix(ref.topic)+ref.id)
		if err != nil {
			return err
		}
		if !ok {
			return snsNotFound("Subscription does not exist")
		}
		if who.Account != s.Owner && who.Account != ref.topic.account {
			return snsAuthorizationError(who, "GetSubscriptionAttributes", s.ARN())
		}
		t, ok, err := tx.snsTopic(ref.topic)
		if err != nil {
			return err
		}
		topicPolicy := ""
		if ok {
			topicPolicy = t.DeliveryPolicy
		}
		attrs = map[string]string{
			"SubscriptionArn":              s.ARN(),
			"TopicArn":                     s.TopicARN,
			"Owner":                        s.Owner,
			"Protocol":                     s.Protocol,
			"Endpoint":                     s.Endpoint,
			"PendingConfirmation":          strconv.FormatBool(!s.Confirmed),
			"ConfirmationWasAuthenticated": strconv.FormatBool(s.ConfirmationWasAuthenticated),
			"RawMessageDelivery":           strconv.FormatBool(s.RawMessageDelivery),
			"SubscriptionPrincipal":        RootARN(s.Owner),
			"EffectiveDeliveryPolicy":      effectiveSubscriptionDeliveryPolicy(topicPolicy, s.DeliveryPolicy),
		}
		if s.DeliveryPolicy != "" {
			attrs["DeliveryPolicy"] = s.DeliveryPolicy
		}
		return nil
	})
	return attrs, err
}

// SNSMessageAttribute is one message attribute of Publish: its data type
// (String, Number, Binary, optionally with a .custom suffix) and value
// (binary values base64-encoded, as the HTTP envelope carries them).
type SNSMessageAttribute struct {
	Type  string `json:"t"`
	Value string `json:"v"`
}

// MessageAttributeValue is one message attribute as Publish receives it.
type MessageAttributeValue struct {
	DataType    string
	StringValue *string
	BinaryValue []byte
}

// PublishInput is what Publish takes.
type PublishInput struct {
	TopicARN, TargetARN, PhoneNumber string
	Subject                          *string
	Message                          string
	MessageStructure                 string
	Attributes                       map[string]MessageAttributeValue
	DeduplicationID                  string
}

var msgAttrNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// messageAttributes validates Publish's message attributes with SNS's
// messages (code ParameterValueInvalid) and returns them as the envelope
// carries them, with their size.
func messageAttributes(in map[string]MessageAttributeValue) (map[string]SNSMessageAttribute, int, error) {
	if len(in) == 0 {
		return nil, 0, nil
	}
	bad := func(format string, args ...any) error {
		return awserr.New("ParameterValueInvalid", format, args...)
	}
	out := make(map[string]SNSMessageAttribute, len(in))
	size := 0
	for _, name := range sortedKeys(in) {
		a := in[name]
		switch {
		case len(name) > 256:
			return nil, 0, bad("Length of message attribute name must be less than 256 bytes.")
		case strings.HasPrefix(name, "."):
			return nil, 0, bad("Invalid message attribute name starting with character '.' was found.")
		case strings.HasSuffix(name, "."):
			return nil, 0, bad("Invalid message attribute name ending with character '.' was found.")
		case strings.Contains(name, ".."):
			return nil, 0, bad("Message attribute name can not have successive '.' character.")
		case !msgAttrNameRE.MatchString(name):
			return nil, 0, bad("Invalid non-alphanumeric character was found in the message attribute name. Can only include alphanumeric characters, hyphens, underscores, or dots.")
		}
		base, _, _ := strings.Cut(a.DataType, ".")
		if base != "String" && base != "Number" && base != "Binary" {
			return nil, 0, bad("The message attribute '%s' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.", name)
		}
		var value string
		if base == "Binary" {
			if a.BinaryValue == nil && a.StringValue != nil {
				return nil, 0, bad("The message attribute '%s' with type '%s' must use field 'Binary'.", name, a.DataType)
			}
			if len(a.BinaryValue) == 0 {
				return nil, 0, bad("The message attribute '%s' must contain non-empty message attribute value for message attribute type '%s'.", name, a.DataType)
			}
			value = base64.StdEncoding.EncodeToString(a.BinaryValue)
			size += len(a.BinaryValue)
		} else {
			if a.StringValue == nil && a.BinaryValue != nil {
				return nil, 0, bad("The message attribute '%s' with type '%s' must use field 'String'.", name, a.DataType)
			}
			if a.StringValue == nil || *a.StringValue == "" {
				return nil, 0, bad("The message attribute '%s' must contain non-empty message attribute value for message attribute type '%s'.", name, a.DataType)
			}
			value = *a.StringValue
			if base == "Number" {
				if _, err := strconv.ParseFloat(value, 64); err != nil {
					return nil, 0, bad("Could not cast message attribute '%s' value to number.", name)
				}
			}
			size += len(value)
		}
		size += len(name) + len(a.DataType)
		out[name] = SNSMessageAttribute{Type: a.DataType, Value: value}
	}
	return out, size, nil
}

// Publish sends a message to every confirmed subscription of a topic (the
// notify worker delivers it from the outbox) and answers its MessageId.
func (c *Cloud) Publish(who Caller, in PublishInput) (string, error) {
	if in.PhoneNumber != "" {
		return "", snsInvalid("PhoneNumber Reason: SMS is not supported by Isthmus")
	}
	arn, param := in.TopicARN, "TopicArn"
	switch {
	case in.TopicARN != "" && in.TargetARN != "":
		return "", snsInvalid("TopicArn or TargetArn Reason: Only one of TopicArn and TargetArn may be specified")
	case in.TopicARN == "" && in.TargetARN == "":
		return "", snsInvalid("TopicArn or TargetArn Reason: no value for required parameter")
	case in.TargetARN != "":
		arn, param = in.TargetARN, "TargetArn"
	}
	if in.Message == "" {
		return "", snsInvalid("Empty message")
	}
	subject := ""
	if in.Subject != nil {
		subject = *in.Subject
		if !validSubject(subject) {
			return "", snsInvalid("Subject")
		}
	}
	attrs, attrSize, err := messageAttributes(in.Attributes)
	if err != nil {
		return "", err
	}
	if len(in.Message)+attrSize > SNSMaxMessageBytes {
		return "", snsInvalid("Message too long")
	}
	var byProtocol map[string]string
	switch in.MessageStructure {
	case "":
	case "json":
		var m map[string]any
		if err := json.Unmarshal([]byte(in.Message), &m); err != nil {
			return "", snsInvalid("Message Structure - JSON message body failed to parse")
		}
		byProtocol = map[string]string{}
		for k, v := range m {
			if s, ok := v.(string); ok {
				byProtocol[k] = s
			}
		}
		if _, ok := byProtocol["default"]; !ok {
			return "", snsInvalid("Message Structure - No default entry in JSON message body")
		}
	default:
		return "", snsInvalid("MessageStructure")
	}
	ref, err := parseTopicARN(arn, param)
	if err != nil {
		return "", err
	}
	if err := sameRegion(who, ref, param); err != nil {
		return "", err
	}
	if in.DeduplicationID != "" {
		return "", snsInvalid("MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type")
	}
	var id string
	err = c.update(who, func(tx *Tx) error {
		t, err := tx.loadTopic(ref, "Publish")
		if err != nil {
			return err
		}
		m := &SNSMessage{
			Type:       SNSNotification,
			TopicARN:   t.ARN(),
			Subject:    subject,
			Message:    in.Message,
			ByProtocol: byProtocol,
			Attributes: attrs,
		}
		if byProtocol != nil {
			m.Message = byProtocol["default"]
		}
		if err := tx.enqueueSNS(ref.region, m); err != nil {
			return err
		}
		id = m.MessageID
		return nil
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// validSubject: at most 100 characters, ASCII, starting with a letter,
// number or punctuation, without line breaks or control characters.
func validSubject(s string) bool {
	if s == "" || len(s) > snsMaxSubjectLen || s[0] == ' ' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// Tags of topics (TagResource, UntagResource, ListTagsForResource).

func validateSNSTags(tags []Tag) error {
	seen := map[string]bool{}
	for _, t := range tags {
		if seen[t.Key] {
			return snsInvalid("Duplicated keys are not allowed.")
		}
		seen[t.Key] = true
		if t.Key == "" || utf8.RuneCountInString(t.Key) > maxTagKeyLen {
			return snsInvalid("Tags Reason: Tag key must be between 1 and %d characters", maxTagKeyLen)
		}
		if utf8.RuneCountInString(t.Value) > maxTagValueLen {
			return snsInvalid("Tags Reason: Tag value must be at most %d characters", maxTagValueLen)
		}
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return snsInvalid("Tags Reason: Tag keys starting with 'aws:' are reserved")
		}
	}
	if len(tags) > snsMaxTags {
		return snsTagLimit()
	}
	return nil
}

func snsTagLimit() error {
	return awserr.New("TagLimitExceeded", "Could not complete request: tag quota of per resource exceeded")
}

// loadTaggedTopic loads the caller's own topic for a tagging call:
// ResourceNotFound when missing, AuthorizationError for another
// account's.
func (tx *Tx) loadTaggedTopic(resourceARN, action string) (topicRef, *Topic, error) {
	ref, err := parseTopicARN(resourceARN, "ResourceArn")
	if err != nil {
		return ref, nil, err
	}
	if err := sameRegion(tx.who, ref, "ResourceArn"); err != nil {
		return ref, nil, err
	}
	t, ok, err := tx.snsTopic(ref)
	if err != nil {
		return ref, nil, err
	}
	if !ok {
		return ref, nil, awserr.WithStatus(404, "ResourceNotFound", "Resource does not exist")
	}
	if t.Owner != tx.who.Account {
		return ref, nil, snsAuthorizationError(tx.who, action, t.ARN())
	}
	return ref, t, nil
}

// TagResource adds or overwrites tags on the caller's topic.
func (c *Cloud) TagResource(who Caller, resourceARN string, tags []Tag) error {
	if err := validateSNSTags(tags); err != nil {
		return err
	}
	return c.update(who, func(tx *Tx) error {
		ref, t, err := tx.loadTaggedTopic(resourceARN, "TagResource")
		if err != nil {
			return err
		}
		t.Tags = mergeTags(t.Tags, tags)
		if len(t.Tags) > snsMaxTags {
			return snsTagLimit()
		}
		return putJSON(tx, snsTopicKey(ref), t)
	})
}

// UntagResource removes tags, by key, from the caller's topic.
func (c *Cloud) UntagResource(who Caller, resourceARN string, keys []string) error {
	return c.update(who, func(tx *Tx) error {
		ref, t, err := tx.loadTaggedTopic(resourceARN, "UntagResource")
		if err != nil {
			return err
		}
		var kept []Tag
		for _, tag := range t.Tags {
			if !containsString(keys, tag.Key) {
				kept = append(kept, tag)
			}
		}
		t.Tags = kept
		return putJSON(tx, snsTopicKey(ref), t)
	})
}

// ListTagsForResource lists the tags of the caller's topic.
func (c *Cloud) ListTagsForResource(who Caller, resourceARN string) ([]Tag, error) {
	var out []Tag
	err := c.view(who, func(tx *Tx) error {
		_, t, err := tx.loadTaggedTopic(resourceARN, "ListTagsForResource")
		if err != nil {
			return err
		}
		out = t.Tags
		return nil
	})
	return out, err
}
