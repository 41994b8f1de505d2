// Package notify delivers SNS messages: it follows the store's change feed
// for records of the core's SNS outbox and POSTs each one, in SNS's HTTP
// shape (x-amz-sns-* headers, the JSON envelope), to the HTTP/HTTPS
// subscriptions it is for, retrying by the delivery policy. A record is
// deleted once every recipient has it or was given up on, so delivery is
// at least once and survives restarts.
//
// Signatures: SNS signs with an Amazon key whose certificate lives under
// sns.<region>.amazonaws.com, which is out of reach. The worker signs
// every message for real (SHA1withRSA for SignatureVersion 1,
// SHA256withRSA for 2, over SNS's canonical string) with a key it
// generates at start, and SigningCertURL points at CertPath on the
// Isthmus endpoint, where CertHandler serves the self-signed certificate.
// A subscriber that verifies the signature against that certificate
// works; one that insists on an amazonaws.com certificate host does not.
package notify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/isthmusnet/isthmus/core"
	"github.com/isthmusnet/isthmus/store"
)

// CertPath is where the signing certificate is served on the Isthmus
// endpoint (see CertHandler).
const CertPath = "/SimpleNotificationService-isthmus.pem"

// UserAgent is the User-Agent of every delivery, as SNS sends it.
const UserAgent = "Amazon Simple Notification Service Agent"

// Options configure a Worker.
type Options struct {
	// Endpoint is the base URL of the Isthmus API as subscribers reach it,
	// e.g. http://192.0.2.1:8080. SubscribeURL, UnsubscribeURL and
	// SigningCertURL point there.
	Endpoint string
	// Client makes the deliveries. Default: 15 s per attempt (SNS's
	// timeout) and no redirects followed.
	Client *http.Client
	// DelayUnit is the length of one second of a delivery policy (SNS's
	// delays are in seconds). Default time.Second; tests shrink it.
	DelayUnit time.Duration
	// Parallel bounds the POSTs in flight. Default 32.
	Parallel int
}

// Worker delivers the outbox. Run it once; Close stops it.
type Worker struct {
	cloud *core.Cloud
	log   *slog.Logger
	opts  Options
	key   *rsa.PrivateKey
	cert  []byte // PEM
	sem   chan struct{}

	mu       sync.Mutex
	inflight map[string]bool // region/id being delivered
	cancel   context.CancelFunc
	closed   bool
	wg       sync.WaitGroup // deliveries
	done     chan struct{}  // closed when Run returns
	started  bool
}

// New returns a worker over cloud. log may be nil.
func New(cloud *core.Cloud, log *slog.Logger, opts Options) *Worker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Client == nil {
		opts.Client = &http.Client{
			Timeout:       15 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if opts.DelayUnit <= 0 {
		opts.DelayUnit = time.Second
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 32
	}
	opts.Endpoint = strings.TrimRight(opts.Endpoint, "/")
	if opts.Endpoint == "" {
		opts.Endpoint = "http://localhost"
		log.Warn("notify: no endpoint configured; SubscribeURL and UnsubscribeURL point at http://localhost")
	}
	w := &Worker{cloud: cloud, log: log, opts: opts, sem: make(chan struct{}, opts.Parallel),
		inflight: map[string]bool{}, done: make(chan struct{})}
	key, cert, err := newSigningCert()
	if err != nil {
		log.Error("notify: no signing key; messages go unsigned", "err", err)
	} else {
		w.key, w.cert = key, cert
	}
	return w
}

// newSigningCert generates the key messages are signed with and its
// self-signed certificate.
func newSigningCert() (*rsa.PrivateKey, []byte, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "sns.isthmus.local", Organization: []string{"Isthmus"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// CertificatePEM is the certificate that verifies the worker's signatures.
func (w *Worker) CertificatePEM() []byte { return w.cert }

// CertHandler serves the signing certificate (mount it at CertPath).
func (w *Worker) CertHandler() http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if w.cert == nil {
			http.NotFound(rw, r)
			return
		}
		rw.Header().Set("Content-Type", "application/x-x509-ca-cert")
		rw.Write(w.cert)
	})
}

// Run delivers what the outbox holds, then every record as it is
// written, until ctx is done or Close is called. It returns nil then, or
// the store's error if the store closes under it.
func (w *Worker) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	w.mu.Lock()
	if w.started || w.closed {
		w.mu.Unlock()
		cancel()
		return errors.New("notify: Run called twice or after Close")
	}
	w.started, w.cancel = true, cancel
	w.mu.Unlock()
	defer close(w.done)
	defer w.wg.Wait()
	defer cancel()

	for ctx.Err() == nil {
		rev, msgs, err := w.cloud.SNSOutbox()
		if err != nil {
			if errors.Is(err, store.ErrClosed) {
				return err
			}
			w.log.Warn("notify: reading the outbox", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		for _, m := range msgs {
			w.start(ctx, m.Region, m.ID)
		}
		err = w.follow(ctx, rev)
		if errors.Is(err, store.ErrClosed) {
			return err
		}
	}
	return nil
}

// follow starts a delivery for every outbox record written after rev. It
// returns when ctx is done or the feed cannot go on (ErrCompacted: the
// caller resyncs).
func (w *Worker) follow(ctx context.Context, rev int64) error {
	for ctx.Err() == nil {
		ch, err := w.cloud.Store().Watch(ctx, rev)
		if err != nil {
			if !errors.Is(err, store.ErrCompacted) && !errors.Is(err, store.ErrClosed) {
				w.log.Warn("notify: watching the store", "err", err)
				sleep(ctx, time.Second)
			}
			return err
		}
		for c := range ch {
			rev = c.Rev
			for _, ev := range c.Events {
				if ev.Deleted {
					continue
				}
				if region, id, ok := core.SNSOutboxKey(ev.Key); ok {
					w.start(ctx, region, id)
				}
			}
		}
	}
	return ctx.Err()
}

// Close stops the worker and waits for Run to return. Deliveries under
// way are abandoned; their records stay and are delivered by the next
// worker.
func (w *Worker) Close() error {
	w.mu.Lock()
	w.closed = true
	cancel, started := w.cancel, w.started
	w.mu.Unlock()
	if !started {
		return nil
	}
	cancel()
	<-w.done
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// start delivers the record region/id unless it is already under way.
func (w *Worker) start(ctx context.Context, region, id string) {
	key := region + "/" + id
	w.mu.Lock()
	if w.inflight[key] {
		w.mu.Unlock()
		return
	}
	w.inflight[key] = true
	w.wg.Add(1)
	w.mu.Unlock()
	go func() {
		defer w.wg.Done()
		w.deliver(ctx, region, id)
		w.mu.Lock()
		delete(w.inflight, key)
		w.mu.Unlock()
	}()
}

// deliver serves one record: every recipient, then the record is deleted.
func (w *Worker) deliver(ctx context.Context, region, id string) {
	var d *core.SNSDelivery
	for {
		var err error
		d, err = w.cloud.SNSDeliveryPlan(region, id)
		if err == nil {
			break
		}
		w.log.Warn("notify: reading an outbox record", "region", region, "id", id, "err", err)
		if errors.Is(err, store.ErrClosed) {
			return
		}
		sleep(ctx, time.Second)
		if ctx.Err() != nil {
			return
		}
	}
	if d == nil {
		return // already served
	}
	var wg sync.WaitGroup
	for _, t := range d.Targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !w.deliverTo(ctx, d, t) && ctx.Err() != nil {
				return // stopped: the next worker takes over
			}
			if err := w.cloud.SNSDelivered(region, id, t.SubscriptionARN); err != nil {
				w.log.Warn("notify: recording a delivery", "subscription", t.SubscriptionARN, "err", err)
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return
	}
	if err := w.cloud.SNSOutboxDone(region, id); err != nil {
		w.log.Warn("notify: deleting a served outbox record", "region", region, "id", id, "err", err)
	}
}

// deliverTo POSTs the message to one endpoint, retrying by the policy.
// It reports whether the endpoint took it.
func (w *Worker) deliverTo(ctx context.Context, d *core.SNSDelivery, t core.SNSTarget) bool {
	body, header := w.request(d, t)
	delays := t.Retry.Delays()
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			sleep(ctx, time.Duration(delays[attempt-1]*float64(w.opts.DelayUnit)))
		}
		if ctx.Err() != nil {
			return false
		}
		status, err := w.post(ctx, t.Endpoint, header, body)
		if err == nil && status >= 200 && status < 500 {
			// SNS counts any status from 200 to 4xx as delivered.
			w.log.Debug("notify: delivered", "type", d.Message.Type, "message_id", d.Message.MessageID,
				"subscription", t.SubscriptionARN, "status", status, "attempt", attempt+1)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if attempt >= len(delays) {
			w.log.Warn("notify: giving up on a delivery", "type", d.Message.Type, "message_id", d.Message.MessageID,
				"subscription", t.SubscriptionARN, "endpoint", t.Endpoint, "attempts", attempt+1, "status", status, "err", err)
			return false
		}
		w.log.Debug("notify: delivery failed; will retry", "subscription", t.SubscriptionARN, "status", status, "err", err)
	}
}

func (w *Worker) post(ctx context.Context, endpoint string, header http.Header, body []byte) (int, error) {
	select {
	case w.sem <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	defer func() { <-w.sem }()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := w.opts.Client.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// request builds the headers and body of one delivery.
func (w *Worker) request(d *core.SNSDelivery, t core.SNSTarget) ([]byte, http.Header) {
	m := d.Message
	h := http.Header{}
	h.Set("x-amz-sns-message-type", m.Type)
	h.Set("x-amz-sns-message-id", m.MessageID)
	h.Set("x-amz-sns-topic-arn", m.TopicARN)
	h.Set("User-Agent", UserAgent)
	h.Set("Content-Type", core.DefaultSNSContentType)
	if m.Type == core.SNSNotification {
		// SNS names the subscription on notifications (its confirmation
		// messages go without it).
		h.Set("x-amz-sns-subscription-arn", t.SubscriptionARN)
		h.Set("Content-Type", t.ContentType)
		if t.Raw {
			h.Set("x-amz-sns-rawdelivery", "true")
			return []byte(m.Text(t.Protocol)), h
		}
	}
	return w.envelope(d, t), h
}

// field is one name/value of the JSON envelope, which SNS writes in a
// fixed order.
type field struct {
	name  string
	value any
}

// envelope is the JSON document SNS POSTs, laid out as SNS lays it out.
func (w *Worker) envelope(d *core.SNSDelivery, t core.SNSTarget) []byte {
	m := d.Message
	ts := m.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z")
	text := m.Text(t.Protocol)
	var fields []field
	var canonical []field // SNS's string to sign, by name
	switch m.Type {
	case core.SNSSubscriptionConfirmation:
		subscribeURL := w.opts.Endpoint + "/?Action=ConfirmSubscription&TopicArn=" + m.TopicARN + "&Token=" + m.Token + "&Version=2010-03-31"
		fields = []field{{"Type", m.Type}, {"MessageId", m.MessageID}, {"Token", m.Token}, {"TopicArn", m.TopicARN},
			{"Message", text}, {"SubscribeURL", subscribeURL}, {"Timestamp", ts}}
		canonical = []field{{"Message", text}, {"MessageId", m.MessageID}, {"SubscribeURL", subscribeURL},
			{"Timestamp", ts}, {"Token", m.Token}, {"TopicArn", m.TopicARN}, {"Type", m.Type}}
	default:
		fields = []field{{"Type", m.Type}, {"MessageId", m.MessageID}, {"TopicArn", m.TopicARN}}
		canonical = []field{{"Message", text}, {"MessageId", m.MessageID}}
		if m.Subject != "" {
			fields = append(fields, field{"Subject", m.Subject})
			canonical = append(canonical, field{"Subject", m.Subject})
		}
		fields = append(fields, field{"Message", text}, field{"Timestamp", ts})
		canonical = append(canonical, field{"Timestamp", ts}, field{"TopicArn", m.TopicARN}, field{"Type", m.Type})
	}
	fields = append(fields,
		field{"SignatureVersion", d.SignatureVersion},
		field{"Signature", w.sign(canonical, d.SignatureVersion)},
		field{"SigningCertURL", w.opts.Endpoint + CertPath})
	if m.Type == core.SNSNotification {
		fields = append(fields, field{"UnsubscribeURL", w.opts.Endpoint + "/?Action=Unsubscribe&SubscriptionArn=" + t.SubscriptionARN + "&Version=2010-03-31"})
		if len(m.Attributes) > 0 {
			attrs := map[string]struct {
				Type  string `json:"Type"`
				Value string `json:"Value"`
			}{}
			for k, a := range m.Attributes {
				attrs[k] = struct {
					Type  string `json:"Type"`
					Value string `json:"Value"`
				}{a.Type, a.Value}
			}
			fields = append(fields, field{"MessageAttributes", attrs})
		}
	}
	var b bytes.Buffer
	b.WriteString("{\n")
	for i, f := range fields {
		if i > 0 {
			b.WriteString(",\n")
		}
		b.WriteString("  ")
		b.Write(jsonValue(f.name))
		b.WriteString(" : ")
		b.Write(jsonValue(f.value))
	}
	b.WriteString("\n}")
	return b.Bytes()
}

// jsonValue encodes v without escaping <, > and & (SNS does not).
func jsonValue(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
	return bytes.TrimRight(b.Bytes(), "\n")
}

// sign returns the base64 signature of SNS's canonical string: each
// field's name and value on their own lines, in the order given.
func (w *Worker) sign(fields []field, version string) string {
	if w.key == nil {
		return ""
	}
	var s strings.Builder
	for _, f := range fields {
		s.WriteString(f.name + "\n" + f.value.(string) + "\n")
	}
	var sig []byte
	var err error
	if version == "2" {
		sum := sha256.Sum256([]byte(s.String()))
		sig, err = rsa.SignPKCS1v15(rand.Reader, w.key, crypto.SHA256, sum[:])
	} else {
		sum := sha1.Sum([]byte(s.String()))
		sig, err = rsa.SignPKCS1v15(rand.Reader, w.key, crypto.SHA1, sum[:])
	}
	if err != nil {
		w.log.Warn("notify: signing a message", "err", err)
		return ""
	}
	return base64.StdEncoding.EncodeToString(sig)
}
