package isthmustest_test

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/isthmusnet/isthmus/api"
	"github.com/isthmusnet/isthmus/core"
	"github.com/isthmusnet/isthmus/daemon"
	"github.com/isthmusnet/isthmus/isthmustest"
	"github.com/isthmusnet/isthmus/notify"
	"github.com/isthmusnet/isthmus/store/bolt"
)

// snsEnv is a server with the SNS API and a delivery worker, wired as the
// daemon wires them: the worker's certificate is served beside the API.
type snsEnv struct {
	URL    string
	Cloud  *core.Cloud
	worker *notify.Worker
	stop   func()
}

func newSNSEnv(t *testing.T, auth string, run bool) *snsEnv {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), daemon.DBFile), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cloud := core.New(st, core.Options{Regions: []core.Region{core.NewRegion("us-east-1", 3), core.NewRegion("us-west-2", 3)}})
	srv, err := api.NewServer(api.Options{Cloud: cloud, Auth: auth, Services: daemon.Services(cloud)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", srv)
	hs := httptest.NewServer(mux)
	e := &snsEnv{URL: hs.URL, Cloud: cloud}
	e.worker = notify.New(cloud, slog.New(slog.DiscardHandler), notify.Options{Endpoint: hs.URL, DelayUnit: time.Millisecond})
	mux.Handle(notify.CertPath, e.worker.CertHandler())
	if run {
		e.start(t)
	}
	t.Cleanup(func() {
		if e.stop != nil {
			e.stop()
		}
		hs.Close()
		st.Close()
	})
	return e
}

// start runs the worker until the test ends.
func (e *snsEnv) start(t *testing.T) {
	errc := make(chan error, 1)
	go func() { errc <- e.worker.Run(context.Background()) }()
	e.stop = func() {
		e.worker.Close()
		if err := <-errc; err != nil {
			t.Errorf("worker Run: %v", err)
		}
	}
}

func (e *snsEnv) client(account string) *sns.Client {
	return sns.NewFromConfig(aws.Config{
		Region:       isthmustest.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(account, "secret", ""),
		BaseEndpoint: aws.String(e.URL),
		Retryer:      func() aws.Retryer { return aws.NopRetryer{} },
	})
}

// drained waits until the outbox is empty: every message served.
func (e *snsEnv) drained(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, msgs, err := e.Cloud.SNSOutbox()
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox still holds %d records", len(msgs))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// delivery is one POST an HTTP subscriber received.
type delivery struct {
	header http.Header
	body   []byte
	env    map[string]any
}

func (d delivery) str(name string) string { s, _ := d.env[name].(string); return s }

// subscriber is an HTTP endpoint that records what SNS POSTs to it and
// can fail the first notifications with 500.
type subscriber struct {
	srv  *httptest.Server
	ch   chan delivery
	mu   sync.Mutex
	fail int // notifications still to refuse
	all  []delivery
}

func newSubscriber(t *testing.T) *subscriber {
	s := &subscriber{ch: make(chan delivery, 100)}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		d := delivery{header: r.Header.Clone(), body: body}
		json.Unmarshal(body, &d.env)
		s.mu.Lock()
		s.all = append(s.all, d)
		refuse := r.Header.Get("x-amz-sns-message-type") == "Notification" && s.fail > 0
		if refuse {
			s.fail--
		}
		s.mu.Unlock()
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
		} else if refuse {
			w.WriteHeader(http.StatusInternalServerError)
		}
		s.ch <- d
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *subscriber) next(t *testing.T, typ string) delivery {
	t.Helper()
	select {
	case d := <-s.ch:
		if got := d.header.Get("x-amz-sns-message-type"); got != typ {
			t.Fatalf("received a %s (%s), want a %s", got, d.body, typ)
		}
		return d
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s received", typ)
	}
	return delivery{}
}

func (s *subscriber) none(t *testing.T, wait time.Duration) {
	t.Helper()
	select {
	case d := <-s.ch:
		t.Fatalf("unexpected delivery: %s %s", d.header.Get("x-amz-sns-message-type"), d.body)
	case <-time.After(wait):
	}
}

func httpStatus(err error) int {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func TestSNSTopicsAcrossAccounts(t *testing.T) {
	env := newSNSEnv(t, api.AuthOpen, false)
	ctx := isthmustest.Ctx(t)
	a, b := env.client("111111111111"), env.client("222222222222")

	out, err := a.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("vpce-events"),
		Attributes: map[string]string{"DisplayName": "VPC endpoint events"},
		Tags:       []types.Tag{{Key: aws.String("team"), Value: aws.String("net")}}})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(out.TopicArn)
	if arn != "arn:aws:sns:us-east-1:111111111111:vpce-events" {
		t.Fatalf("TopicArn = %s", arn)
	}
	again, err := a.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("vpce-events")})
	if err != nil || aws.ToString(again.TopicArn) != arn {
		t.Fatalf("CreateTopic again = %v, %v", again, err)
	}
	_, err = a.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("bad name")})
	var ip *types.InvalidParameterException
	if !errors.As(err, &ip) || aws.ToString(ip.Message) != "Invalid parameter: Topic Name" || httpStatus(err) != 400 {
		t.Fatalf("bad name: %v", err)
	}

	lt, err := a.ListTopics(ctx, &sns.ListTopicsInput{})
	if err != nil || len(lt.Topics) != 1 || aws.ToString(lt.Topics[0].TopicArn) != arn || lt.NextToken != nil {
		t.Fatalf("A ListTopics = %+v, %v", lt, err)
	}
	if lt, err := b.ListTopics(ctx, &sns.ListTopicsInput{}); err != nil || len(lt.Topics) != 0 {
		t.Fatalf("B ListTopics = %+v, %v", lt, err)
	}

	ga, err := a.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if ga.Attributes["DisplayName"] != "VPC endpoint events" || ga.Attributes["Owner"] != "111111111111" || ga.Attributes["TopicArn"] != arn ||
		!strings.Contains(ga.Attributes["Policy"], `"AWS:SourceOwner":"111111111111"`) ||
		!strings.Contains(ga.Attributes["EffectiveDeliveryPolicy"], `"numRetries":3`) || ga.Attributes["SubscriptionsPending"] != "0" {
		t.Fatalf("attributes %v", ga.Attributes)
	}
	tags, err := a.ListTagsForResource(ctx, &sns.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Key) != "team" {
		t.Fatalf("tags %+v, %v", tags, err)
	}

	// B is refused by the default policy, with SNS's code and status.
	_, err = b.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(arn)})
	var ae *types.AuthorizationErrorException
	if !errors.As(err, &ae) || httpStatus(err) != 403 {
		t.Fatalf("B GetTopicAttributes: %v", err)
	}
	_, err = b.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(arn), Message: aws.String("hi")})
	if errorCode(err) != "AuthorizationError" {
		t.Fatalf("B Publish: %v", err)
	}
	_, err = b.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(arn), Protocol: aws.String("http"), Endpoint: aws.String("http://192.0.2.1/")})
	if errorCode(err) != "AuthorizationError" {
		t.Fatalf("B Subscribe: %v", err)
	}
	if _, err := b.TagResource(ctx, &sns.TagResourceInput{ResourceArn: aws.String(arn), Tags: []types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}}); errorCode(err) != "AuthorizationError" {
		t.Fatalf("B TagResource: %v", err)
	}

	// A lets B publish and subscribe.
	policy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":["SNS:Publish","SNS:Subscribe"],"Resource":"` + arn + `"}]}`
	if _, err := a.SetTopicAttributes(ctx, &sns.SetTopicAttributesInput{TopicArn: aws.String(arn), AttributeName: aws.String("Policy"), AttributeValue: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
	pub, err := b.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(arn), Message: aws.String("hi"),
		MessageAttributes: map[string]types.MessageAttributeValue{"kind": {DataType: aws.String("String"), StringValue: aws.String("test")}}})
	if err != nil || len(aws.ToString(pub.MessageId)) != 36 {
		t.Fatalf("B Publish after the policy: %+v, %v", pub, err)
	}
	sub, err := b.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(arn), Protocol: aws.String("http"), Endpoint: aws.String("http://192.0.2.1/hook")})
	if err != nil || aws.ToString(sub.SubscriptionArn) != "pending confirmation" {
		t.Fatalf("B Subscribe after the policy: %+v, %v", sub, err)
	}
	_, err = b.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(arn)})
	if errorCode(err) != "AuthorizationError" {
		t.Fatalf("B GetTopicAttributes (not granted): %v", err)
	}

	// B's subscription is B's: it lists it, pending; A sees it by topic.
	ls, err := b.ListSubscriptions(ctx, &sns.ListSubscriptionsInput{})
	if err != nil || len(ls.Subscriptions) != 1 {
		t.Fatalf("B ListSubscriptions = %+v, %v", ls, err)
	}
	s0 := ls.Subscriptions[0]
	if aws.ToString(s0.SubscriptionArn) != "PendingConfirmation" || aws.ToString(s0.Owner) != "222222222222" ||
		aws.ToString(s0.Protocol) != "http" || aws.ToString(s0.Endpoint) != "http://192.0.2.1/hook" || aws.ToString(s0.TopicArn) != arn {
		t.Fatalf("subscription %+v", s0)
	}
	if ls, _ := a.ListSubscriptions(ctx, &sns.ListSubscriptionsInput{}); len(ls.Subscriptions) != 0 {
		t.Fatalf("A ListSubscriptions = %+v", ls.Subscriptions)
	}
	if lbt, err := a.ListSubscriptionsByTopic(ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(arn)}); err != nil || len(lbt.Subscriptions) != 1 {
		t.Fatalf("A ListSubscriptionsByTopic = %+v, %v", lbt, err)
	}
	ga, _ = a.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(arn)})
	if ga.Attributes["SubscriptionsPending"] != "1" {
		t.Fatalf("SubscriptionsPending = %s", ga.Attributes["SubscriptionsPending"])
	}

	// Protocols other than http/https are refused with SNS's message.
	_, err = a.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(arn), Protocol: aws.String("smoke-signal"), Endpoint: aws.String("x")})
	if !errors.As(err, &ip) || aws.ToString(ip.Message) != "Invalid parameter: Amazon SNS does not support this protocol string: smoke-signal" {
		t.Fatalf("Subscribe smoke-signal: %v", err)
	}
	_, err = a.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(arn), Protocol: aws.String("email"), Endpoint: aws.String("ops@example.com")})
	if errorCode(err) != "InvalidParameter" {
		t.Fatalf("Subscribe email: %v", err)
	}
	_, err = a.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(arn), Message: aws.String("x"),
		MessageAttributes: map[string]types.MessageAttributeValue{"n": {DataType: aws.String("Number"), StringValue: aws.String("NaNa")}}})
	if errorCode(err) != "ParameterValueInvalid" {
		t.Fatalf("Publish with a bad Number attribute: %v", err)
	}

	// Deleting the topic deletes its subscriptions; the topic is then
	// NotFound (404), and deleting it again is fine.
	if _, err := a.DeleteTopic(ctx, &sns.DeleteTopicInput{TopicArn: aws.String(arn)}); err != nil {
		t.Fatal(err)
	}
	_, err = a.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(arn)})
	var nf *types.NotFoundException
	if !errors.As(err, &nf) || httpStatus(err) != 404 || aws.ToString(nf.Message) != "Topic does not exist" {
		t.Fatalf("GetTopicAttributes after delete: %v", err)
	}
	if _, err := a.DeleteTopic(ctx, &sns.DeleteTopicInput{TopicArn: aws.String(arn)}); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
	if ls, _ := b.ListSubscriptions(ctx, &sns.ListSubscriptionsInput{}); len(ls.Subscriptions) != 0 {
		t.Fatalf("subscriptions left after DeleteTopic: %+v", ls.Subscriptions)
	}
}

// confirmSubscription subscribes sub's URL and confirms it through the
// SubscribeURL of the confirmation message, fetched without credentials.
func confirmViaURL(t *testing.T, ctx context.Context, c *sns.Client, topic string, s *subscriber) string {
	t.Helper()
	out, err := c.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("http"), Endpoint: aws.String(s.srv.URL + "/sns")})
	if err != nil || aws.ToString(out.SubscriptionArn) != "pending confirmation" {
		t.Fatalf("Subscribe = %+v, %v", out, err)
	}
	conf := s.next(t, "SubscriptionConfirmation")
	resp, err := http.Get(conf.str("SubscribeURL"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Arn string `xml:"ConfirmSubscriptionResult>SubscriptionArn"`
	}
	if err := xml.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != 200 || !strings.HasPrefix(r.Arn, topic+":") {
		t.Fatalf("GET SubscribeURL: %d %+v %v", resp.StatusCode, r, err)
	}
	return r.Arn
}

func TestSNSDeliveryHandshakeAndNotification(t *testing.T) {
	// SigV4 mode: the SubscribeURL and UnsubscribeURL work unsigned all
	// the same.
	env := newSNSEnv(t, api.AuthSigV4, true)
	ctx := isthmustest.Ctx(t)
	acct, key, err := env.Cloud.CreateAccount("provider", false)
	if err != nil {
		t.Fatal(err)
	}
	a := sns.NewFromConfig(aws.Config{Region: isthmustest.Region, Credentials: credentials.NewStaticCredentialsProvider(key.ID, key.Secret, ""),
		BaseEndpoint: aws.String(env.URL), Retryer: func() aws.Retryer { return aws.NopRetryer{} }})
	topicOut, err := a.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("conn")})
	if err != nil {
		t.Fatal(err)
	}
	topic := aws.ToString(topicOut.TopicArn)
	s := newSubscriber(t)

	out, err := a.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("http"), Endpoint: aws.String(s.srv.URL + "/sns"), ReturnSubscriptionArn: true})
	if err != nil {
		t.Fatal(err)
	}
	subARN := aws.ToString(out.SubscriptionArn)
	if !strings.HasPrefix(subARN, topic+":") || len(subARN) != len(topic)+1+36 {
		t.Fatalf("SubscriptionArn = %s", subARN)
	}
	conf := s.next(t, "SubscriptionConfirmation")
	h := conf.header
	if h.Get("x-amz-sns-topic-arn") != topic || h.Get("x-amz-sns-message-id") != conf.str("MessageId") ||
		h.Get("Content-Type") != "text/plain; charset=UTF-8" || h.Get("User-Agent") != "Amazon Simple Notification Service Agent" {
		t.Fatalf("confirmation headers %v", h)
	}
	token := conf.str("Token")
	if conf.str("Type") != "SubscriptionConfirmation" || conf.str("TopicArn") != topic || len(token) != 256 ||
		conf.str("Message") != "You have chosen to subscribe to the topic "+topic+".\nTo confirm the subscription, visit the SubscribeURL included in this message." ||
		conf.str("SubscribeURL") != env.URL+"/?Action=ConfirmSubscription&TopicArn="+topic+"&Token="+token+"&Version=2010-03-31" ||
		conf.str("SignatureVersion") != "1" || conf.str("SigningCertURL") != env.URL+notify.CertPath {
		t.Fatalf("confirmation body %s", conf.body)
	}
	if !strings.HasPrefix(string(conf.body), "{\n  \"Type\" : \"SubscriptionConfirmation\",\n  \"MessageId\" : ") {
		t.Fatalf("confirmation not laid out as SNS lays it out: %s", conf.body)
	}
	cert := fetchCert(t, conf.str("SigningCertURL"))
	verify(t, cert, conf, "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")

	// Pending: nothing is delivered to it.
	if _, err := a.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("too early")}); err != nil {
		t.Fatal(err)
	}
	env.drained(t)
	s.none(t, 50*time.Millisecond)

	// Confirm through the SubscribeURL, unsigned, as a subscriber does.
	resp, err := http.Get(conf.str("SubscribeURL"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<SubscriptionArn>"+subARN+"</SubscriptionArn>") {
		t.Fatalf("GET SubscribeURL = %d %s", resp.StatusCode, body)
	}
	ga, err := a.GetSubscriptionAttributes(ctx, &sns.GetSubscriptionAttributesInput{SubscriptionArn: aws.String(subARN)})
	if err != nil || ga.Attributes["PendingConfirmation"] != "false" || ga.Attributes["Owner"] != acct.ID {
		t.Fatalf("subscription attributes %v, %v", ga.Attributes, err)
	}

	pub, err := a.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(topic), Subject: aws.String("VPC Endpoint Connection"),
		Message: aws.String(`{"event":"Connect","note":"<&>"}`),
		MessageAttributes: map[string]types.MessageAttributeValue{
			"event": {DataType: aws.String("String"), StringValue: aws.String("Connect")},
			"blob":  {DataType: aws.String("Binary"), BinaryValue: []byte("\x00\x01")},
		}})
	if err != nil {
		t.Fatal(err)
	}
	n := s.next(t, "Notification")
	h = n.header
	if h.Get("x-amz-sns-message-id") != aws.ToString(pub.MessageId) || h.Get("x-amz-sns-topic-arn") != topic ||
		h.Get("x-amz-sns-subscription-arn") != subARN || h.Get("Content-Type") != "text/plain; charset=UTF-8" {
		t.Fatalf("notification headers %v", h)
	}
	if n.str("Type") != "Notification" || n.str("MessageId") != aws.ToString(pub.MessageId) || n.str("TopicArn") != topic ||
		n.str("Subject") != "VPC Endpoint Connection" || n.str("Message") != `{"event":"Connect","note":"<&>"}` ||
		n.str("UnsubscribeURL") != env.URL+"/?Action=Unsubscribe&SubscriptionArn="+subARN+"&Version=2010-03-31" {
		t.Fatalf("notification body %s", n.body)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z", n.str("Timestamp")); err != nil {
		t.Fatalf("Timestamp %q: %v", n.str("Timestamp"), err)
	}
	if !strings.Contains(string(n.body), `"Message" : "{\"event\":\"Connect\",\"note\":\"<&>\"}"`) {
		t.Fatalf("message escaped differently from SNS: %s", n.body)
	}
	attrs, _ := n.env["MessageAttributes"].(map[string]any)
	if ev, _ := attrs["event"].(map[string]any); ev["Type"] != "String" || ev["Value"] != "Connect" {
		t.Fatalf("MessageAttributes %v", n.env["MessageAttributes"])
	}
	if bl, _ := attrs["blob"].(map[string]any); bl["Type"] != "Binary" || bl["Value"] != "AAE=" {
		t.Fatalf("MessageAttributes %v", n.env["MessageAttributes"])
	}
	verify(t, cert, n, "Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
	env.drained(t)

	// The UnsubscribeURL works without credentials, and then nothing more
	// arrives.
	resp, err = http.Get(n.str("UnsubscribeURL"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET UnsubscribeURL = %d", resp.StatusCode)
	}
	if _, err := a.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("after")}); err != nil {
		t.Fatal(err)
	}
	env.drained(t)
	s.none(t, 50*time.Millisecond)
	_, err = a.GetSubscriptionAttributes(ctx, &sns.GetSubscriptionAttributesInput{SubscriptionArn: aws.String(subARN)})
	if errorCode(err) != "NotFound" {
		t.Fatalf("after unsubscribe: %v", err)
	}
	// An unsigned call to anything else is still refused.
	resp, err = http.Get(env.URL + "/?Action=ListTopics&Version=2010-03-31")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 {
		t.Fatalf("unsigned ListTopics = %d", resp.StatusCode)
	}
}

func fetchCert(t *testing.T, url string) *x509.Certificate {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("SigningCertURL served %q", b)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// verify checks a message's SignatureVersion 1 signature as SNS's
// documentation tells subscribers to.
func verify(t *testing.T, cert *x509.Certificate, d delivery, fields ...string) {
	t.Helper()
	var s strings.Builder
	for _, f := range fields {
		s.WriteString(f + "\n" + d.str(f) + "\n")
	}
	sig, err := base64.StdEncoding.DecodeString(d.str("Signature"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum([]byte(s.String()))
	if err := rsa.VerifyPKCS1v15(cert.PublicKey.(*rsa.PublicKey), crypto.SHA1, sum[:], sig); err != nil {
		t.Fatalf("signature of %s: %v", d.str("Type"), err)
	}
}

func TestSNSConfirmWithTokenAndRetries(t *testing.T) {
	env := newSNSEnv(t, api.AuthOpen, true)
	ctx := isthmustest.Ctx(t)
	a, b := env.client("111111111111"), env.client("222222222222")
	topicOut, err := a.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("retries"),
		Attributes: map[string]string{"DeliveryPolicy": `{"http":{"defaultHealthyRetryPolicy":{"numRetries":3,"minDelayTarget":5,"maxDelayTarget":5}}}`}})
	if err != nil {
		t.Fatal(err)
	}
	topic := aws.ToString(topicOut.TopicArn)
	s := newSubscriber(t)
	if _, err := a.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("http"), Endpoint: aws.String(s.srv.URL)}); err != nil {
		t.Fatal(err)
	}
	conf := s.next(t, "SubscriptionConfirmation")

	// ConfirmSubscription with the token, by another account (anyone with
	// the token may), and a wrong token is refused.
	_, err = b.ConfirmSubscription(ctx, &sns.ConfirmSubscriptionInput{TopicArn: aws.String(topic), Token: aws.String(strings.Repeat("0", 256))})
	if errorCode(err) != "InvalidParameter" {
		t.Fatalf("wrong token: %v", err)
	}
	cs, err := b.ConfirmSubscription(ctx, &sns.ConfirmSubscriptionInput{TopicArn: aws.String(topic), Token: aws.String(conf.str("Token"))})
	if err != nil {
		t.Fatal(err)
	}
	subARN := aws.ToString(cs.SubscriptionArn)
	lbt, err := a.ListSubscriptionsByTopic(ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(topic)})
	if err != nil || len(lbt.Subscriptions) != 1 || aws.ToString(lbt.Subscriptions[0].SubscriptionArn) != subARN {
		t.Fatalf("ListSubscriptionsByTopic = %+v, %v", lbt, err)
	}

	// The subscriber fails twice, then takes it: three POSTs of the same
	// message, the policy's delay apart, and no fourth.
	s.mu.Lock()
	s.fail = 2
	s.mu.Unlock()
	start := time.Now()
	pub, err := a.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("persist")})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		d := s.next(t, "Notification")
		if d.str("MessageId") != aws.ToString(pub.MessageId) || d.header.Get("x-amz-sns-message-id") != aws.ToString(pub.MessageId) {
			t.Fatalf("attempt %d carries message %s", i+1, d.str("MessageId"))
		}
	}
	if el := time.Since(start); el < 10*time.Millisecond {
		t.Fatalf("three attempts in %v: the 5 ms retry delays were not kept", el)
	}
	env.drained(t)
	s.none(t, 50*time.Millisecond)

	// A subscriber that always fails gets 1 + numRetries attempts, then
	// the message is dropped.
	s.mu.Lock()
	s.fail = 100
	s.mu.Unlock()
	if _, err := a.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("doomed")}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		s.next(t, "Notification")
	}
	env.drained(t)
	s.none(t, 50*time.Millisecond)

	// After Unsubscribe nothing is delivered.
	s.mu.Lock()
	s.fail = 0
	s.mu.Unlock()
	if _, err := a.Unsubscribe(ctx, &sns.UnsubscribeInput{SubscriptionArn: aws.String(subARN)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String("nobody")}); err != nil {
		t.Fatal(err)
	}
	env.drained(t)
	s.none(t, 50*time.Millisecond)
	ga, _ := a.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(topic)})
	if ga.Attributes["SubscriptionsConfirmed"] != "0" || ga.Attributes["SubscriptionsDeleted"] != "1" {
		t.Fatalf("topic counts %v", ga.Attributes)
	}
}

// The outbox survives a worker that is not running: what was published
// meanwhile is delivered when it starts, and internal notifications from
// the core's hook go the same way.
func TestSNSDeliversBacklogOnStart(t *testing.T) {
	env := newSNSEnv(t, api.AuthOpen, false)
	ctx := isthmustest.Ctx(t)
	a := env.client("111111111111")
	topicOut, err := a.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("backlog")})
	if err != nil {
		t.Fatal(err)
	}
	topic := aws.ToString(topicOut.TopicArn)
	s := newSubscriber(t)
	if _, err := a.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("http"), Endpoint: aws.String(s.srv.URL),
		Attributes: map[string]string{"RawMessageDelivery": "true"}}); err != nil {
		t.Fatal(err)
	}
	_, msgs, _ := env.Cloud.SNSOutbox()
	if len(msgs) != 1 {
		t.Fatalf("outbox = %d records", len(msgs))
	}
	if _, err := a.ConfirmSubscription(ctx, &sns.ConfirmSubscriptionInput{TopicArn: aws.String(topic), Token: aws.String(msgs[0].Token)}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"one", "two", "three"} {
		if _, err := a.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(topic), Message: aws.String(m)}); err != nil {
			t.Fatal(err)
		}
	}
	s.none(t, 20*time.Millisecond)

	env.start(t)
	// The stale confirmation is skipped (already confirmed); the three
	// notifications arrive, raw as the subscription asked.
	got := map[string]bool{}
	for i := 0; i < 3; i++ {
		d := s.next(t, "Notification")
		if d.header.Get("x-amz-sns-rawdelivery") != "true" {
			t.Fatalf("raw delivery header missing: %v", d.header)
		}
		got[string(d.body)] = true
	}
	if !got["one"] || !got["two"] || !got["three"] {
		t.Fatalf("received %v", got)
	}
	env.drained(t)
	s.none(t, 50*time.Millisecond)
}
