package sigv4_test

import (
	"github.com/isthmusnet/isthmus/testenv"

	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/isthmusnet/isthmus/api/sigv4"
	"github.com/isthmusnet/isthmus/awserr"
)

// verifyingServer is a stand-in API edge: it verifies every request with
// sigv4 against the known secrets and records the outcome, answering with a
// fixed Query-protocol response or error envelope.
type verifyingServer struct {
	*httptest.Server
	secrets   map[string]string // access key ID → secret
	responses map[string]string // service → body of a successful answer

	mu    sync.Mutex
	auths []*sigv4.Auth
	errs  []error
}

func newVerifyingServer(t *testing.T) *verifyingServer {
	s := &verifyingServer{
		secrets:   map[string]string{longTerm.AccessKeyID: longTerm.SecretAccessKey, session.AccessKeyID: session.SecretAccessKey},
		responses: map[string]string{"sts": callerIdentity, "ec2": noInstances},
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *verifyingServer) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	a, err := sigv4.Parse(r)
	if err == nil {
		err = a.Verify(r, body, s.secrets[a.AccessKeyID], time.Now())
	}
	s.mu.Lock()
	s.auths = append(s.auths, a)
	s.errs = append(s.errs, err)
	s.mu.Unlock()

	w.Header().Set("Content-Type", "text/xml")
	if e, ok := awserr.As(err); ok {
		w.WriteHeader(e.HTTPStatus())
		fmt.Fprintf(w, `<ErrorResponse><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>r-1</RequestId></ErrorResponse>`,
			e.Code, e.Message)
		return
	}
	io.WriteString(w, s.responses[a.Service])
}

// results returns what the server saw, and forgets it.
func (s *verifyingServer) results() ([]*sigv4.Auth, []error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, e := s.auths, s.errs
	s.auths, s.errs = nil, nil
	return a, e
}

const callerIdentity = `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
<GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/isthmus</Arn><UserId>AIDAISTHMUS</UserId><Account>123456789012</Account></GetCallerIdentityResult>
<ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></GetCallerIdentityResponse>`

const noInstances = `<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">` +
	`<requestId>r-1</requestId><reservationSet/></DescribeInstancesResponse>`

// The real SDK client's whole pipeline (not only its signer) verifies, in
// both the header and the presigned form.
func TestSDKClient(t *testing.T) {
	srv := newVerifyingServer(t)
	ctx := context.Background()
	newClient := func(c aws.Credentials) *sts.Client {
		return sts.New(sts.Options{
			Region:           "eu-central-1",
			BaseEndpoint:     aws.String(srv.URL),
			Credentials:      credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken),
			RetryMaxAttempts: 1,
		})
	}

	for _, c := range []aws.Credentials{longTerm, session} {
		out, err := newClient(c).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			t.Fatalf("%s: %v", c.AccessKeyID, err)
		}
		if aws.ToString(out.Account) != "123456789012" {
			t.Errorf("account %q", aws.ToString(out.Account))
		}
		auths, _ := srv.results()
		if a := auths[0]; a.Presigned || a.Service != "sts" || a.Region != "eu-central-1" || a.SecurityToken != c.SessionToken {
			t.Errorf("server saw %+v", a)
		}
	}

	// A wrong secret comes back to the SDK as the error code.
	_, err := newClient(aws.Credentials{AccessKeyID: longTerm.AccessKeyID, SecretAccessKey: "wrong"}).
		GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != sigv4.CodeSignatureDoesNotMatch {
		t.Errorf("wrong secret: %v", err)
	}
	srv.results()

	// The presigned GetCallerIdentity URL (as used for IAM-based login).
	req, err := sts.NewPresignClient(newClient(session)).PresignGetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	hr, err := http.NewRequest(req.Method, req.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range req.SignedHeader {
		if k != "Host" {
			hr.Header[k] = v
		}
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	auths, errs := srv.results()
	if errs[0] != nil || !auths[0].Presigned || auths[0].SecurityToken != session.SessionToken {
		t.Fatalf("presigned %s: %v (%+v)", req.Method, errs[0], auths[0])
	}
}

// The aws CLI (botocore, a second independent signer) verifies too. Skipped
// where the CLI is not installed.
func TestAWSCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the aws CLI")
	}
	cli := testenv.RequireProgram(t, "aws")
	srv := newVerifyingServer(t)
	run := func(c aws.Credentials, args ...string) {
		t.Helper()
		cmd := exec.Command(cli, append([]string{"--endpoint-url", srv.URL, "--output", "json"}, args...)...)
		cmd.Env = append(os.Environ(),
			"AWS_ACCESS_KEY_ID="+c.AccessKeyID,
			"AWS_SECRET_ACCESS_KEY="+c.SecretAccessKey,
			"AWS_SESSION_TOKEN="+c.SessionToken,
			"AWS_DEFAULT_REGION=ap-southeast-2",
			"AWS_CONFIG_FILE=/dev/null",
			"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
			"AWS_EC2_METADATA_DISABLED=true",
			"AWS_MAX_ATTEMPTS=1",
			"AWS_PAGER=",
		)
		out, err := cmd.CombinedOutput()
		auths, errs := srv.results()
		if len(errs) != 1 || errs[0] != nil {
			t.Fatalf("aws %s: server saw %v; cli: %v\n%s", strings.Join(args, " "), errs, err, out)
		}
		if err != nil {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if a := auths[0]; a.Region != "ap-southeast-2" || a.SecurityToken != c.SessionToken {
			t.Errorf("server saw %+v", a)
		}
	}
	run(longTerm, "ec2", "describe-instances",
		"--filters", `[{"Name":"tag:Name","Values":["a b  c","~tilde*star","ünïcødé ✓","+&=%/?#;",""]},`+
			`{"Name":"instance-state-name","Values":["running"]}]`,
		"--instance-ids", "i-0123456789abcdef0", "i-00000000000000001")
	run(session, "sts", "get-caller-identity")
}
