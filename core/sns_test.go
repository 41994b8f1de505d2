package core

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/isthmusnet/isthmus/awserr"
	"github.com/isthmusnet/isthmus/store/bolt"
)

var (
	snsOwner = Caller{Account: "111111111111", ARN: RootARN("111111111111"), Region: "us-east-1"}
	snsOther = Caller{Account: "222222222222", ARN: RootARN("222222222222"), Region: "us-east-1"}
)

// snsClock is a settable clock.
type snsClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *snsClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *snsClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newSNSTestCloud(t *testing.T) (*Cloud, *snsClock) {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "sns.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &snsClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	return New(st, Options{Regions: []Region{NewRegion("us-east-1", 3), NewRegion("us-west-2", 3)}, Now: clk.now}), clk
}

// snsErr checks err's code, HTTP status and message prefix.
func snsErr(t *testing.T, err error, code string, status int, msg string) {
	t.Helper()
	e, ok := awserr.As(err)
	if !ok {
		t.Fatalf("err = %v, want %s", err, code)
	}
	if e.Code != code || e.HTTPStatus() != status || !strings.HasPrefix(e.Message, msg) {
		t.Fatalf("err = %s (%d) %q, want %s (%d) %q...", e.Code, e.HTTPStatus(), e.Message, code, status, msg)
	}
}

func snsMust[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func TestSNSTopicAttributesAndIdempotentCreate(t *testing.T) {
	c, _ := newSNSTestCloud(t)
	must := snsMust[string](t)
	arn := must(c.CreateTopic(snsOwner, CreateTopicInput{Name: "events", Attributes: map[string]string{"DisplayName": "Events"}}))
	if arn != "arn:aws:sns:us-east-1:111111111111:events" {
		t.Fatalf("arn = %s", arn)
	}
	// Same name and attributes: the same topic. Other attributes: refused.
	if again := must(c.CreateTopic(snsOwner, CreateTopicInput{Name: "events", Attributes: map[string]string{"DisplayName": "Events"}})); again != arn {
		t.Fatalf("second CreateTopic = %s", again)
	}
	_, err := c.CreateTopic(snsOwner, CreateTopicInput{Name: "events", Attributes: map[string]string{"DisplayName": "Other"}})
	snsErr(t, err, "InvalidParameter", 400, "Invalid parameter: Attributes Reason: Topic already exists with different attributes")
	// Another account's topic of the same name is another topic.
	if b := must(c.CreateTopic(snsOther, CreateTopicInput{Name: "events"})); b != "arn:aws:sns:us-east-1:222222222222:events" {
		t.Fatalf("other account's arn = %s", b)
	}

	attrs, err := c.GetTopicAttributes(snsOwner, arn)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"TopicArn":               arn,
		"Owner":                  "111111111111",
		"DisplayName":            "Events",
		"SubscriptionsConfirmed": "0",
		"SubscriptionsPending":   "0",
		"SubscriptionsDeleted":   "0",
		"Policy": `{"Version":"2008-10-17","Id":"__default_policy_ID","Statement":[{"Sid":"__default_statement_ID","Effect":"Allow","Principal":{"AWS":"*"},` +
			`"Action":["SNS:GetTopicAttributes","SNS:SetTopicAttributes","SNS:AddPermission","SNS:RemovePermission","SNS:DeleteTopic","SNS:Subscribe","SNS:ListSubscriptionsByTopic","SNS:Publish"],` +
			`"Resource":"arn:aws:sns:us-east-1:111111111111:events","Condition":{"StringEquals":{"AWS:SourceOwner":"111111111111"}}}]}`,
		"EffectiveDeliveryPolicy": `{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"linear"},"disableSubscriptionOverrides":false,"defaultRequestPolicy":{"headerContentType":"text/plain; charset=UTF-8"}}}`,
	}
	if !reflect.DeepEqual(attrs, want) {
		t.Fatalf("attributes:\n got %v\nwant %v", attrs, want)
	}

	// A delivery policy is merged into the effective one.
	dp := `{"http":{"defaultHealthyRetryPolicy":{"numRetries":5,"minDelayTarget":1,"maxDelayTarget":4,"backoffFunction":"exponential"}}}`
	if err := c.SetTopicAttributes(snsOwner, arn, "DeliveryPolicy", dp); err != nil {
		t.Fatal(err)
	}
	attrs, _ = c.GetTopicAttributes(snsOwner, arn)
	if attrs["DeliveryPolicy"] != dp || !strings.Contains(attrs["EffectiveDeliveryPolicy"], `"minDelayTarget":1,"maxDelayTarget":4,"numRetries":5,`) {
		t.Fatalf("after SetTopicAttributes: %v", attrs)
	}
	err = c.SetTopicAttributes(snsOwner, arn, "DeliveryPolicy", `{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":30,"maxDelayTarget":10}}}`)
	snsErr(t, err, "InvalidParameter", 400, "Invalid parameter: DeliveryPolicy: ")
	snsErr(t, c.SetTopicAttributes(snsOwner, arn, "Nonsense", "x"), "InvalidParameter", 400, "Invalid parameter: AttributeName")
	snsErr(t, c.SetTopicAttributes(snsOwner, arn, "Policy", "{not json"), "InvalidParameter", 400, "Invalid parameter: Policy Error:")
}

func TestSNSNamesAndARNs(t *testing.T) {
	c, _ := newSNSTestCloud(t)
	for _, name := range []string{"", "has space", "dot.fifo", strings.Repeat("a", 257)} {
		_, err := c.CreateTopic(snsOwner, CreateTopicInput{Name: name})
		snsErr(t, err, "InvalidParameter", 400, "Invalid parameter: Topic Name")
	}
	if _, err := c.CreateTopic(snsOwner, CreateTopicInput{Name: strings.Repeat("a", 256)}); err != nil {
		t.Fatalf("256-character name: %v", err)
	}
	_, err := c.GetTopicAttributes(snsOwner, "arn:aws:sns:us-east-1:111111111111")
	snsErr(t, err, "InvalidParameter", 400, "Invalid parameter: TopicArn Reason: An ARN must have at least 6 elements, not 5")
	_, err = c.GetTopicAttributes(snsOwner, "arn:aws:sqs:us-east-1:111111111111:q")
	snsErr(t, err, "InvalidParameter", 400, "Invalid parameter: TopicArn")
	_, err = c.GetTopicAttributes(snsOwner, "arn:aws:sns:us-west-2:111111111111:q")
	snsErr(t, err, "InvalidParameter", 400, "Invalid parameter: TopicArn")
	_, err = c.GetTopicAttributes(snsOwner, "arn:aws:sns:us-east-1:111111111111:nope")
	snsErr(t, err, "NotFound", 404, "Topic does not exist")
	_, err = c.GetSubscriptionAttributes(snsOwner, "arn:aws:sns:us-east-1:111111111111:nope")
	snsErr(t, err, "InvalidParameter", 400, "Invalid parameter: SubscriptionId")
	_, err = c.GetSubscriptionAttributes(snsOwner, "arn:aws:sns:us-east-1:111111111111:nope:6d0c8bd5-2b3e-4c64-9d0e-0c1f43a7c2e1")
	snsErr(t, err, "NotFound", 404, "Subscription does not exist")
	// Deleting what does not exist, and unsubscribing twice, are no errors.
	if err := c.DeleteTopic(snsOwner, "arn:aws:sns:us-east-1:111111111111:nope"); err != nil {
		t.Fatal(err)
	}
	if err := c.Unsubscribe(snsOwner, "arn:aws:sns:us-east-1:111111111111:nope:6d0c8bd5-2b3e-4c64-9d0e-0c1f43a7c2e1"); err != nil {
		t.Fatal(err)
	}
}

// outbox lists the outbox records of the test region.
func snsOutboxOf(t *testing.T, c *Cloud) []*SNSMessage {
	t.Helper()
	_, msgs, err := c.SNSOutbox()
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func TestSNSPublishHookIsTransactional(t *testing.T) {
	c, _ := newSNSTestCloud(t)
	arn := snsMust[string](t)(c.CreateTopic(snsOwner, CreateTopicInput{Name: "conn"}))

	// A failing transaction leaves no message behind.
	boom := errors.New("boom")
	err := c.update(snsOwner, func(tx *Tx) error {
		if err := tx.publish(arn, "VPC Endpoint Connection", `{"event":"Connect"}`); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) || len(snsOutboxOf(t, c)) != 0 {
		t.Fatalf("after a failed transaction: err %v, outbox %v", err, snsOutboxOf(t, c))
	}
	// Nor does a DryRun.
	dry := snsOwner
	dry.DryRun = true
	err = c.update(dry, func(tx *Tx) error { return tx.publish(arn, "", "x") })
	if !awserr.HasCode(err, "DryRunOperation") || len(snsOutboxOf(t, c)) != 0 {
		t.Fatalf("after a DryRun: err %v, outbox %d", err, len(snsOutboxOf(t, c)))
	}
	// Another account's internal event reaches the topic (the core's own
	// publisher needs no permission); a missing topic and a malformed ARN
	// are dropped without failing the transaction.
	err = c.update(snsOther, func(tx *Tx) error {
		for _, a := range []string{arn, "arn:aws:sns:us-east-1:111111111111:gone", "not-an-arn", arn} {
			if err := tx.publish(a, "VPC Endpoint Connection", "m:"+a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	msgs := snsOutboxOf(t, c)
	if len(msgs) != 2 {
		t.Fatalf("outbox has %d records, want 2", len(msgs))
	}
	if msgs[0].ID >= msgs[1].ID || !strings.HasSuffix(msgs[0].ID, "-000000") || !strings.HasSuffix(msgs[1].ID, "-000001") {
		t.Fatalf("ids %s, %s: want one revision, sequence 0 then 1", msgs[0].ID, msgs[1].ID)
	}
	m := msgs[0]
	if m.Type != SNSNotification || m.TopicARN != arn || m.Subject != "VPC Endpoint Connection" || m.Message != "m:"+arn ||
		m.Region != "us-east-1" || !uuidRE.MatchString(m.MessageID) || !m.Timestamp.Equal(c.Now()) {
		t.Fatalf("record = %+v", m)
	}
	region, id, ok := SNSOutboxKey(snsOutboxPrefix("us-east-1") + m.ID)
	if !ok || region != "us-east-1" || id != m.ID {
		t.Fatalf("SNSOutboxKey = %s %s %v", region, id, ok)
	}
	if _, _, ok := SNSOutboxKey("r/us-east-1/sns/topic/111111111111/conn"); ok {
		t.Fatal("a topic key taken for an outbox key")
	}
	err = c.view(snsOther, func(tx *Tx) error {
		for a, want := range map[string]bool{arn: true, "arn:aws:sns:us-east-1:111111111111:gone": false, "junk": false} {
			if ok, err := tx.topicExists(a); err != nil || ok != want {
				t.Errorf("topicExists(%s) = %v, %v", a, ok, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Nobody is subscribed: the plan has no targets.
	d, err := c.SNSDeliveryPlan("us-east-1", m.ID)
	if err != nil || d == nil || len(d.Targets) != 0 {
		t.Fatalf("plan = %+v, %v", d, err)
	}
	if err := c.SNSOutboxDone("us-east-1", m.ID); err != nil {
		t.Fatal(err)
	}
	if d, err := c.SNSDeliveryPlan("us-east-1", m.ID); d != nil || err != nil {
		t.Fatalf("plan of a done record = %+v, %v", d, err)
	}
}

func TestSNSSubscriptionHandshake(t *testing.T) {
	c, clk := newSNSTestCloud(t)
	must := snsMust[string](t)
	arn := must(c.CreateTopic(snsOwner, CreateTopicInput{Name: "t"}))
	if got := must(c.Subscribe(snsOwner, SubscribeInput{TopicARN: arn, Protocol: "http", Endpoint: "http://198.51.100.7/hook"})); got != SubscriptionPending {
		t.Fatalf("Subscribe = %q", got)
	}
	msgs := snsOutboxOf(t, c)
	if len(msgs) != 1 || msgs[0].Type != SNSSubscriptionConfirmation || len(msgs[0].Token) != 256 {
		t.Fatalf("outbox = %+v", msgs)
	}
	conf := msgs[0]
	if want := "You have chosen to subscribe to the topic " + arn + ".\nTo confirm the subscription, visit the SubscribeURL included in this message."; conf.Message != want {
		t.Fatalf("message %q", conf.Message)
	}
	plan, err := c.SNSDeliveryPlan("us-east-1", conf.ID)
	if err != nil || len(plan.Targets) != 1 || plan.Targets[0].SubscriptionARN != conf.SubscriptionARN ||
		plan.Targets[0].Retry != DefaultSNSRetryPolicy || plan.Targets[0].ContentType != DefaultSNSContentType {
		t.Fatalf("plan = %+v, %v", plan, err)
	}

	// Subscribing again resends the confirmation with a new token; the old
	// message then has nobody to go to.
	if got := must(c.Subscribe(snsOwner, SubscribeInput{TopicARN: arn, Protocol: "http", Endpoint: "http://198.51.100.7/hook", ReturnSubscriptionARN: true})); got != conf.SubscriptionARN {
		t.Fatalf("second Subscribe = %q, want %s", got, conf.SubscriptionARN)
	}
	msgs = snsOutboxOf(t, c)
	if len(msgs) != 2 || msgs[1].Token == conf.Token {
		t.Fatalf("outbox after resubscribe = %d records", len(msgs))
	}
	if plan, _ := c.SNSDeliveryPlan("us-east-1", conf.ID); len(plan.Targets) != 0 {
		t.Fatalf("stale confirmation still has targets: %+v", plan.Targets)
	}
	_, err = c.ConfirmSubscription(Caller{}, arn, conf.Token, false)
	snsErr(t, err, "InvalidParameter", 400, "Invalid parameter: Token")

	// A token expires after three days.
	clk.add(SNSTokenTTL + time.Minute)
	_, err = c.ConfirmSubscription(Caller{}, arn, msgs[1].Token, false)
	snsErr(t, err, "InvalidParameter", 400, "Invalid parameter: Token")
	must(c.Subscribe(snsOwner, SubscribeInput{TopicARN: arn, Protocol: "http", Endpoint: "http://198.51.100.7/hook"}))
	msgs = snsOutboxOf(t, c)
	token := msgs[len(msgs)-1].Token

	// Anonymous confirmation (the SubscribeURL): the region comes from the
	// ARN; confirming twice answers the same ARN.
	for i := 0; i < 2; i++ {
		got, err := c.ConfirmSubscription(Caller{}, arn, token, true)
		if err != nil || got != conf.SubscriptionARN {
			t.Fatalf("ConfirmSubscription #%d = %q, %v", i, got, err)
		}
	}
	attrs, err := c.GetSubscriptionAttributes(snsOwner, conf.SubscriptionARN)
	if err != nil {
		t.Fatal(err)
	}
	if attrs["PendingConfirmation"] != "false" || attrs["ConfirmationWasAuthenticated"] != "false" || attrs["Endpoint"] != "http://198.51.100.7/hook" {
		t.Fatalf("attributes %v", attrs)
	}
	tattrs, _ := c.GetTopicAttributes(snsOwner, arn)
	if tattrs["SubscriptionsConfirmed"] != "1" || tattrs["SubscriptionsPending"] != "0" {
		t.Fatalf("topic counts %v", tattrs)
	}

	// Publish reaches the confirmed subscription.
	id := must(c.Publish(snsOwner, PublishInput{TopicARN: arn, Message: "hello", Subject: ptrTo("Hi")}))
	msgs = snsOutboxOf(t, c)
	last := msgs[len(msgs)-1]
	if last.MessageID != id || last.Subject != "Hi" {
		t.Fatalf("published record %+v", last)
	}
	plan, _ = c.SNSDeliveryPlan("us-east-1", last.ID)
	if len(plan.Targets) != 1 {
		t.Fatalf("plan targets %+v", plan.Targets)
	}
	// Once recorded as delivered, a target is not planned again.
	if err := c.SNSDelivered("us-east-1", last.ID, conf.SubscriptionARN); err != nil {
		t.Fatal(err)
	}
	if plan, _ = c.SNSDeliveryPlan("us-east-1", last.ID); len(plan.Targets) != 0 {
		t.Fatalf("delivered target planned again")
	}

	// AuthenticateOnUnsubscribe counts only for a signed confirmation, so
	// this one (confirmed anonymously) may be unsubscribed anonymously.
	if err := c.Unsubscribe(Caller{}, conf.SubscriptionARN); err != nil {
		t.Fatal(err)
	}
	tattrs, _ = c.GetTopicAttributes(snsOwner, arn)
	if tattrs["SubscriptionsConfirmed"] != "0" || tattrs["SubscriptionsDeleted"] != "1" {
		t.Fatalf("topic counts after unsubscribe %v", tattrs)
	}
}

func ptrTo[T any](v T) *T { return &v }

func TestSNSAuthenticatedUnsubscribe(t *testing.T) {
	c, _ := newSNSTestCloud(t)
	must := snsMust[string](t)
	arn := must(c.CreateTopic(snsOwner, CreateTopicInput{Name: "t"}))
	sub := must(c.Subscribe(snsOwner, SubscribeInput{TopicARN: arn, Protocol: "https", Endpoint: "https://example.test/", ReturnSubscriptionARN: true}))
	msgs := snsOutboxOf(t, c)
	must(c.ConfirmSubscription(snsOwner, arn, msgs[0].Token, true))
	snsErr(t, c.Unsubscribe(Caller{}, sub), "AuthorizationError", 403, "User: anonymous is not authorized to perform: SNS:Unsubscribe")
	snsErr(t, c.Unsubscribe(snsOther, sub), "AuthorizationError", 403, "User: arn:aws:iam::222222222222:root is not authorized")
	if err := c.Unsubscribe(snsOwner, sub); err != nil {
		t.Fatal(err)
	}
}

func TestSNSTopicPolicy(t *testing.T) {
	c, _ := newSNSTestCloud(t)
	arn := snsMust[string](t)(c.CreateTopic(snsOwner, CreateTopicInput{Name: "shared"}))
	_, err := c.Publish(snsOther, PublishInput{TopicARN: arn, Message: "x"})
	snsErr(t, err, "AuthorizationError", 403, "User: arn:aws:iam::222222222222:root is not authorized to perform: SNS:Publish on resource: "+arn)

	policy := func(statements ...string) string {
		return `{"Version":"2012-10-17","Statement":[` + strings.Join(statements, ",") + `]}`
	}
	allowPublish := `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":"sns:Publish","Resource":"` + arn + `"}`
	for _, tc := range []struct {
		policy             string
		publish, subscribe bool
	}{
		{policy(allowPublish), true, false},
		{policy(`{"Effect":"Allow","Principal":"*","Action":["SNS:Subscribe","SNS:Publish"],"Resource":"*"}`), true, true},
		{policy(`{"Effect":"Allow","Principal":{"AWS":"222222222222"},"Action":"SNS:*"}`), true, true},
		{policy(`{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"SNS:*","Condition":{"StringEquals":{"aws:PrincipalAccount":"222222222222"}}}`), true, true},
		{policy(`{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"SNS:*","Condition":{"StringEquals":{"aws:PrincipalAccount":"333333333333"}}}`), false, false},
		{policy(`{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"SNS:*","Condition":{"StringEquals":{"AWS:SourceOwner":"222222222222"}}}`), false, false},
		{policy(allowPublish, `{"Effect":"Deny","Principal":"*","Action":"sns:Publish"}`), false, false},
		{policy(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::333333333333:root"},"Action":"sns:*"}`), false, false},
	} {
		if err := c.SetTopicAttributes(snsOwner, arn, "Policy", tc.policy); err != nil {
			t.Fatal(err)
		}
		_, err := c.Publish(snsOther, PublishInput{TopicARN: arn, Message: "x"})
		if (err == nil) != tc.publish {
			t.Errorf("policy %s: Publish err = %v, want allowed %v", tc.policy, err, tc.publish)
		}
		_, err = c.Subscribe(snsOther, SubscribeInput{TopicARN: arn, Protocol: "http", Endpoint: "http://example.test/"})
		if (err == nil) != tc.subscribe {
			t.Errorf("policy %s: Subscribe err = %v, want allowed %v", tc.policy, err, tc.subscribe)
		}
	}
	// The owner needs no statement, and tagging stays the owner's.
	if _, err := c.Publish(snsOwner, PublishInput{TopicARN: arn, Message: "x"}); err != nil {
		t.Fatal(err)
	}
	snsErr(t, c.TagResource(snsOther, arn, []Tag{{"k", "v"}}), "AuthorizationError", 403, "User: arn:aws:iam::222222222222:root")
}

func TestSNSPublishValidation(t *testing.T) {
	c, _ := newSNSTestCloud(t)
	arn := snsMust[string](t)(c.CreateTopic(snsOwner, CreateTopicInput{Name: "t"}))
	s := func(v string) *string { return &v }
	for _, tc := range []struct {
		in   PublishInput
		code string
		msg  string
	}{
		{PublishInput{Message: "x"}, "InvalidParameter", "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter"},
		{PublishInput{TopicARN: arn}, "InvalidParameter", "Invalid parameter: Empty message"},
		{PublishInput{TopicARN: arn, Message: strings.Repeat("m", SNSMaxMessageBytes+1)}, "InvalidParameter", "Invalid parameter: Message too long"},
		{PublishInput{TopicARN: arn, Message: "x", Subject: s("")}, "InvalidParameter", "Invalid parameter: Subject"},
		{PublishInput{TopicARN: arn, Message: "x", Subject: s(strings.Repeat("s", 101))}, "InvalidParameter", "Invalid parameter: Subject"},
		{PublishInput{TopicARN: arn, Message: "x", Subject: s("line\nbreak")}, "InvalidParameter", "Invalid parameter: Subject"},
		{PublishInput{TopicARN: arn, Message: "x", PhoneNumber: "+15555550100"}, "InvalidParameter", "Invalid parameter: PhoneNumber"},
		{PublishInput{TopicARN: arn, Message: "x", MessageStructure: "json"}, "InvalidParameter", "Invalid parameter: Message Structure - JSON message body failed to parse"},
		{PublishInput{TopicARN: arn, Message: `{"http":"h"}`, MessageStructure: "json"}, "InvalidParameter", "Invalid parameter: Message Structure - No default entry in JSON message body"},
		{PublishInput{TopicARN: arn, Message: "x", Attributes: map[string]MessageAttributeValue{"a": {DataType: "Date", StringValue: s("1")}}}, "ParameterValueInvalid", "The message attribute 'a' has an invalid message attribute type"},
		{PublishInput{TopicARN: arn, Message: "x", Attributes: map[string]MessageAttributeValue{"a": {DataType: "String"}}}, "ParameterValueInvalid", "The message attribute 'a' must contain non-empty message attribute value"},
		{PublishInput{TopicARN: arn, Message: "x", Attributes: map[string]MessageAttributeValue{"a": {DataType: "Number", StringValue: s("one")}}}, "ParameterValueInvalid", "Could not cast message attribute 'a' value to number."},
		{PublishInput{TopicARN: arn, Message: "x", Attributes: map[string]MessageAttributeValue{".a": {DataType: "String", StringValue: s("1")}}}, "ParameterValueInvalid", "Invalid message attribute name starting with character '.' was found."},
		{PublishInput{TopicARN: arn, Message: "x", Attributes: map[string]MessageAttributeValue{"a": {DataType: "Binary", StringValue: s("1")}}}, "ParameterValueInvalid", "The message attribute 'a' with type 'Binary' must use field 'Binary'."},
		{PublishInput{TopicARN: arn, Message: "x", DeduplicationID: "d"}, "InvalidParameter", "Invalid parameter: MessageDeduplicationId"},
		{PublishInput{TopicARN: "arn:aws:sns:us-east-1:111111111111:gone", Message: "x"}, "NotFound", "Topic does not exist"},
	} {
		_, err := c.Publish(snsOwner, tc.in)
		e, ok := awserr.As(err)
		if !ok || e.Code != tc.code || !strings.HasPrefix(e.Message, tc.msg) {
			t.Errorf("Publish(%+v) = %v, want %s %q", tc.in, err, tc.code, tc.msg)
		}
	}
	if n := len(snsOutboxOf(t, c)); n != 0 {
		t.Fatalf("refused publishes left %d records", n)
	}
	// A JSON-structured message keeps its per-protocol texts.
	_, err := c.Publish(snsOwner, PublishInput{TopicARN: arn, MessageStructure: "json", Message: `{"default":"d","https":"secure","email":7}`,
		Attributes: map[string]MessageAttributeValue{"bin": {DataType: "Binary", BinaryValue: []byte{1, 2}}, "n": {DataType: "Number.float", StringValue: s("1.5")}}})
	if err != nil {
		t.Fatal(err)
	}
	m := snsOutboxOf(t, c)[0]
	if m.Text("http") != "d" || m.Text("https") != "secure" || m.Attributes["bin"] != (SNSMessageAttribute{"Binary", "AQI="}) || m.Attributes["n"] != (SNSMessageAttribute{"Number.float", "1.5"}) {
		t.Fatalf("record %+v", m)
	}
}

func TestSNSSubscribeValidation(t *testing.T) {
	c, _ := newSNSTestCloud(t)
	arn := snsMust[string](t)(c.CreateTopic(snsOwner, CreateTopicInput{Name: "t"}))
	for _, tc := range []struct {
		in  SubscribeInput
		msg string
	}{
		{SubscribeInput{Protocol: "carrier-pigeon", Endpoint: "x"}, "Invalid parameter: Amazon SNS does not support this protocol string: carrier-pigeon"},
		{SubscribeInput{Protocol: "sqs", Endpoint: "arn:aws:sqs:us-east-1:111111111111:q"}, "Invalid parameter: Amazon SNS does not support this protocol string: sqs"},
		{SubscribeInput{Protocol: "http", Endpoint: "https://example.test/"}, "Invalid parameter: Endpoint must match the specified protocol"},
		{SubscribeInput{Protocol: "https", Endpoint: ""}, "Invalid parameter: Endpoint"},
		{SubscribeInput{Protocol: "http", Endpoint: "http://example.test/", Attributes: map[string]string{"RawMessageDelivery": "yes"}}, "Invalid parameter: Attributes Reason: RawMessageDelivery: Invalid value [yes]. Must be true or false."},
		{SubscribeInput{Protocol: "http", Endpoint: "http://example.test/", Attributes: map[string]string{"Color": "red"}}, "Invalid parameter: Attributes Reason: AttributeName"},
		{SubscribeInput{Protocol: "http", Endpoint: "http://example.test/", Attributes: map[string]string{"FilterPolicy": "{}"}}, "Invalid parameter: Attributes Reason: FilterPolicy is not supported"},
	} {
		tc.in.TopicARN = arn
		_, err := c.Subscribe(snsOwner, tc.in)
		snsErr(t, err, "InvalidParameter", 400, tc.msg)
	}
	if n := len(snsOutboxOf(t, c)); n != 0 {
		t.Fatalf("refused subscribes left %d records", n)
	}
	// A subscription's delivery policy overrides the topic's retry policy
	// and content type unless the topic disables overrides.
	sub := snsMust[string](t)(c.Subscribe(snsOwner, SubscribeInput{TopicARN: arn, Protocol: "http", Endpoint: "http://example.test/", ReturnSubscriptionARN: true,
		Attributes: map[string]string{"RawMessageDelivery": "True", "DeliveryPolicy": `{"healthyRetryPolicy":{"numRetries":2,"minDelayTarget":1,"maxDelayTarget":1},"requestPolicy":{"headerContentType":"application/json"}}`}}))
	attrs, err := c.GetSubscriptionAttributes(snsOwner, sub)
	if err != nil {
		t.Fatal(err)
	}
	var eff struct {
		Healthy SNSRetryPolicy `json:"healthyRetryPolicy"`
		Request struct {
			ContentType string `json:"headerContentType"`
		} `json:"requestPolicy"`
	}
	if err := json.Unmarshal([]byte(attrs["EffectiveDeliveryPolicy"]), &eff); err != nil {
		t.Fatal(err)
	}
	if attrs["RawMessageDelivery"] != "true" || eff.Healthy.NumRetries != 2 || eff.Healthy.MaxDelayTarget != 1 || eff.Request.ContentType != "application/json" {
		t.Fatalf("attributes %v", attrs)
	}
	if err := c.SetTopicAttributes(snsOwner, arn, "DeliveryPolicy", `{"http":{"defaultHealthyRetryPolicy":{"numRetries":7,"minDelayTarget":2,"maxDelayTarget":2},"disableSubscriptionOverrides":true}}`); err != nil {
		t.Fatal(err)
	}
	attrs, _ = c.GetSubscriptionAttributes(snsOwner, sub)
	json.Unmarshal([]byte(attrs["EffectiveDeliveryPolicy"]), &eff)
	if eff.Healthy.NumRetries != 7 || eff.Request.ContentType != "application/json" {
		t.Fatalf("with overrides disabled: %s", attrs["EffectiveDeliveryPolicy"])
	}
}

func TestSNSRetryDelays(t *testing.T) {
	if got := DefaultSNSRetryPolicy.Delays(); !reflect.DeepEqual(got, []float64{20, 20, 20}) {
		t.Fatalf("default delays %v", got)
	}
	p := SNSRetryPolicy{MinDelayTarget: 1, MaxDelayTarget: 9, NumRetries: 7, NumNoDelayRetries: 1, NumMinDelayRetries: 1, NumMaxDelayRetries: 1, BackoffFunction: "linear"}
	if got := p.Delays(); !reflect.DeepEqual(got, []float64{0, 1, 3, 5, 7, 9, 9}) {
		t.Fatalf("phased delays %v", got)
	}
	p.BackoffFunction = "exponential"
	got := p.Delays()
	for i := 3; i < 6; i++ {
		if got[i] <= got[i-1] || got[5] != 9 {
			t.Fatalf("exponential delays %v not increasing to the maximum", got)
		}
	}
}

func TestSNSListsAndTags(t *testing.T) {
	c, _ := newSNSTestCloud(t)
	for i := 0; i < 150; i++ {
		snsMust[string](t)(c.CreateTopic(snsOwner, CreateTopicInput{Name: "topic-" + strings.Repeat("x", i%3) + itoa(int32(i))}))
	}
	snsMust[string](t)(c.CreateTopic(snsOther, CreateTopicInput{Name: "theirs"}))
	page1, next, err := c.ListTopics(snsOwner, "")
	if err != nil || len(page1) != 100 || next == "" {
		t.Fatalf("page 1: %d, %q, %v", len(page1), next, err)
	}
	page2, next2, err := c.ListTopics(snsOwner, next)
	if err != nil || len(page2) != 50 || next2 != "" || page2[0] <= page1[99] {
		t.Fatalf("page 2: %d, %q, %v", len(page2), next2, err)
	}
	_, _, err = c.ListTopics(snsOwner, "!!!")
	snsErr(t, err, "InvalidParameter", 400, "Invalid parameter: NextToken")

	arn := page1[0]
	tags := []Tag{{"env", "prod"}, {"team", "net"}}
	if err := c.TagResource(snsOwner, arn, tags); err != nil {
		t.Fatal(err)
	}
	if err := c.UntagResource(snsOwner, arn, []string{"team"}); err != nil {
		t.Fatal(err)
	}
	got, err := c.ListTagsForResource(snsOwner, arn)
	if err != nil || !reflect.DeepEqual(got, []Tag{{"env", "prod"}}) {
		t.Fatalf("tags %v, %v", got, err)
	}
	snsErr(t, c.TagResource(snsOwner, arn, []Tag{{"a", "1"}, {"a", "2"}}), "InvalidParameter", 400, "Invalid parameter: Duplicated keys are not allowed.")
	_, err = c.ListTagsForResource(snsOwner, "arn:aws:sns:us-east-1:111111111111:gone")
	snsErr(t, err, "ResourceNotFound", 404, "Resource does not exist")
	many := make([]Tag, 50)
	for i := range many {
		many[i] = Tag{Key: "k" + itoa(int32(i))}
	}
	snsErr(t, c.TagResource(snsOwner, arn, many), "TagLimitExceeded", 400, "Could not complete request: tag quota of per resource exceeded")
}
