// Package isthmustest runs a real Isthmus API server in a test — embedded
// store in a temporary directory, the core, every API service — and hands
// out AWS SDK clients (aws-sdk-go-v2) pointed at it, one per account.
package isthmustest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/isthmusnet/isthmus/api"
	"github.com/isthmusnet/isthmus/core"
	"github.com/isthmusnet/isthmus/daemon"
	"github.com/isthmusnet/isthmus/store/bolt"
)

// Region is the region tests run in unless they say otherwise.
const Region = "us-east-1"

// Env is a running server.
type Env struct {
	URL   string
	Cloud *core.Cloud
	Store *bolt.Store
	Auth  string
}

// Options tune New.
type Options struct {
	// Auth is api.AuthOpen (default) or api.AuthSigV4.
	Auth string
	// Regions served; default us-east-1 and us-west-2 with three zones.
	Regions []core.Region
}

// New starts a server for the test; it stops when the test ends.
func New(t testing.TB, opts ...Options) *Env {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Auth == "" {
		o.Auth = api.AuthOpen
	}
	if len(o.Regions) == 0 {
		o.Regions = []core.Region{core.NewRegion("us-east-1", 3), core.NewRegion("us-west-2", 3)}
	}
	st, err := bolt.Open(filepath.Join(t.TempDir(), daemon.DBFile), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cloud := core.New(st, core.Options{Regions: o.Regions})
	srv, err := api.NewServer(api.Options{
		Cloud:    cloud,
		Auth:     o.Auth,
		Services: daemon.Services(cloud),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		st.Close()
	})
	return &Env{URL: hs.URL, Cloud: cloud, Store: st, Auth: o.Auth}
}

// Config returns an SDK config for the given credentials. In open mode the
// access key id may simply be the account id.
func (e *Env) Config(keyID, secret, region string) aws.Config {
	return aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(keyID, secret, ""),
		BaseEndpoint: aws.String(e.URL),
		// No retries: a test must see every error the server gives.
		Retryer: func() aws.Retryer { return aws.NopRetryer{} },
		// A new connection per request: with keep-alive, net/http's client
		// occasionally reads a reused connection that its own write loop
		// has just closed (aws-sdk-go-v2#2737), failing a request the
		// server answered; without retries that would be a flaky test.
		HTTPClient: awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.DisableKeepAlives = true
		}),
	}
}

// Account returns a Client acting as account (open mode) in Region.
func (e *Env) Account(account string) *Client {
	return e.Client(account, "secret", Region)
}

// Client returns SDK clients for the given credentials and region.
func (e *Env) Client(keyID, secret, region string) *Client {
	cfg := e.Config(keyID, secret, region)
	return &Client{
		EC2:   ec2.NewFromConfig(cfg),
		ELBv2: elasticloadbalancingv2.NewFromConfig(cfg),
		STS:   sts.NewFromConfig(cfg),
	}
}

// NewAccount creates an account with a key (for sigv4 mode) and returns a
// client for it.
func (e *Env) NewAccount(t testing.TB, name string) (*Client, *core.Account) {
	t.Helper()
	a, k, err := e.Cloud.CreateAccount(name, false)
	if err != nil {
		t.Fatal(err)
	}
	return e.Client(k.ID, k.Secret, Region), a
}

// Client holds SDK clients for one set of credentials.
type Client struct {
	EC2   *ec2.Client
	ELBv2 *elasticloadbalancingv2.Client
	STS   *sts.Client
}

// Ctx returns a context that ends with the test (or after a minute).
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}
