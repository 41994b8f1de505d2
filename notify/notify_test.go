package notify

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/isthmusnet/isthmus/core"
	"github.com/isthmusnet/isthmus/store/bolt"
)

var owner = core.Caller{Account: "111111111111", ARN: core.RootARN("111111111111"), Region: "us-east-1"}

func newCloud(t *testing.T) *core.Cloud {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "n.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return core.New(st, core.Options{Regions: []core.Region{core.NewRegion("us-east-1", 1)}})
}

// confirmedTopic makes a topic with one confirmed subscription to url.
func confirmedTopic(t *testing.T, c *core.Cloud, url string) string {
	arn, err := c.CreateTopic(owner, core.CreateTopicInput{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Subscribe(owner, core.SubscribeInput{TopicARN: arn, Protocol: "http", Endpoint: url}); err != nil {
		t.Fatal(err)
	}
	_, msgs, err := c.SNSOutbox()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("outbox %v, %v", msgs, err)
	}
	if _, err := c.ConfirmSubscription(owner, arn, msgs[0].Token, false); err != nil {
		t.Fatal(err)
	}
	if err := c.SNSOutboxDone("us-east-1", msgs[0].ID); err != nil {
		t.Fatal(err)
	}
	return arn
}

// Close abandons a delivery waiting between retries without losing it:
// the record stays, and the next worker delivers it.
func TestCloseKeepsUndeliveredMessages(t *testing.T) {
	c := newCloud(t)
	var posts, ok atomic.Int32
	sub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if posts.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		ok.Add(1)
	}))
	defer sub.Close()
	arn := confirmedTopic(t, c, sub.URL)
	if _, err := c.Publish(owner, core.PublishInput{TopicARN: arn, Message: "m"}); err != nil {
		t.Fatal(err)
	}

	w := New(c, nil, Options{Endpoint: "http://isthmus.test", DelayUnit: time.Hour}) // the first retry waits 20 hours
	done := make(chan error, 1)
	go func() { done <- w.Run(context.Background()) }()
	for posts.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("Close waited for the retry delay")
	}
	if _, msgs, _ := c.SNSOutbox(); len(msgs) != 1 {
		t.Fatalf("outbox after Close: %d records, want the undelivered one", len(msgs))
	}

	w2 := New(c, nil, Options{Endpoint: "http://isthmus.test", DelayUnit: time.Millisecond})
	go w2.Run(context.Background())
	defer w2.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, msgs, _ := c.SNSOutbox()
		if len(msgs) == 0 && ok.Load() == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not delivered by the second worker: %d records, %d successful posts", len(msgs), ok.Load())
		}
		time.Sleep(time.Millisecond)
	}
	if err := w.Run(context.Background()); err == nil {
		t.Fatal("Run after Close succeeded")
	}
}

func TestEnvelopeLayout(t *testing.T) {
	w := New(newCloud(t), nil, Options{Endpoint: "http://isthmus.test/"})
	m := &core.SNSMessage{Type: core.SNSNotification, MessageID: "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
		TopicARN: "arn:aws:sns:us-east-1:111111111111:t", Message: "a<b", Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)}
	d := &core.SNSDelivery{Message: m, SignatureVersion: "2"}
	body := string(w.envelope(d, core.SNSTarget{SubscriptionARN: "arn:aws:sns:us-east-1:111111111111:t:x", Protocol: "http"}))
	want := "{\n" +
		`  "Type" : "Notification",` + "\n" +
		`  "MessageId" : "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",` + "\n" +
		`  "TopicArn" : "arn:aws:sns:us-east-1:111111111111:t",` + "\n" +
		`  "Message" : "a<b",` + "\n" +
		`  "Timestamp" : "2026-01-02T03:04:05.006Z",` + "\n" +
		`  "SignatureVersion" : "2",` + "\n"
	if len(body) < len(want) || body[:len(want)] != want {
		t.Fatalf("envelope:\n%s\nwant it to start with:\n%s", body, want)
	}
	wantTail := `  "SigningCertURL" : "http://isthmus.test` + CertPath + `",` + "\n" +
		`  "UnsubscribeURL" : "http://isthmus.test/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:111111111111:t:x&Version=2010-03-31"` + "\n}"
	if len(body) < len(wantTail) || body[len(body)-len(wantTail):] != wantTail {
		t.Fatalf("envelope:\n%s\nwant it to end with:\n%s", body, wantTail)
	}
}
