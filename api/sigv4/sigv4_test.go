package sigv4_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/isthmusnet/isthmus/api/sigv4"
	"github.com/isthmusnet/isthmus/awserr"
)

var (
	longTerm = aws.Credentials{AccessKeyID: "AKIAISTHMUSTEST00001", SecretAccessKey: "s3cr3t/with+Special=Chars"}
	session  = aws.Credentials{AccessKeyID: "ASIAISTHMUSTEST00002", SecretAccessKey: "another/secret", SessionToken: "FwoGZXIvYXdzE/token+with=chars"}

	// signedAt is when the tests sign; most checks verify at this instant.
	signedAt = time.Date(2026, 3, 14, 23, 55, 0, 0, time.UTC)
)

var (
	services = []string{"ec2", "elasticloadbalancing", "sts"}
	regions  = []string{"us-east-1", "eu-west-1", "ap-southeast-2", "us-gov-west-1"}
)

// awkwardParams holds values that exercise encoding: spaces, unreserved and
// reserved punctuation, unicode, a repeated key and empty values.
func awkwardParams(action string) url.Values {
	return url.Values{
		"Action":           {action},
		"Version":          {"2016-11-15"},
		"Filter.1.Name":    {"tag:Name"},
		"Filter.1.Value.1": {"a b  c "},
		"Filter.1.Value.2": {"~tilde*star-dash_under.dot"},
		"Filter.1.Value.3": {"ünïcødé ✓ 日本語"},
		"Filter.1.Value.4": {""},
		"Odd":              {"+&=%/?#;!'()$,@:[]"},
		"Repeated":         {"zeta", "alpha", "Alpha", ""},
		"Empty":            {""},
	}
}

func endpoint(service, region string) string {
	return "https://" + service + "." + region + ".isthmus.test:8443/"
}

func payloadHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// signForm signs a Query-protocol POST whose parameters are a form body, as
// the SDKs and CLI send it.
func signForm(t testing.TB, service, region string, params url.Values, creds aws.Credentials, at time.Time) *http.Request {
	t.Helper()
	body := params.Encode()
	r, err := http.NewRequest(http.MethodPost, endpoint(service, region), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	r.Header.Set("User-Agent", "aws-sdk-go-v2 (not signed)")
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, payloadHash([]byte(body)), service, region, at); err != nil {
		t.Fatal(err)
	}
	return r
}

// signGet signs a GET whose parameters are in the query string.
func signGet(t testing.TB, service, region string, params url.Values, creds aws.Credentials, at time.Time) *http.Request {
	t.Helper()
	r, err := http.NewRequest(http.MethodGet, endpoint(service, region)+"?"+params.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, payloadHash(nil), service, region, at); err != nil {
		t.Fatal(err)
	}
	return r
}

// presign builds a presigned URL for params, with X-Amz-Expires when expires
// is non-zero, and returns the request a holder of the URL would send.
func presign(t testing.TB, method, service, region string, params url.Values, body []byte, hash string, expires time.Duration, creds aws.Credentials, at time.Time) *http.Request {
	t.Helper()
	q := url.Values{}
	for k, v := range params {
		q[k] = v
	}
	if expires != 0 {
		q.Set("X-Amz-Expires", strconv.Itoa(int(expires/time.Second)))
	}
	r, err := http.NewRequest(method, endpoint(service, region)+"?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/octet-stream")
	}
	signedURL, signedHeaders, err := v4.NewSigner().PresignHTTP(context.Background(), creds, r, hash, service, region, at)
	if err != nil {
		t.Fatal(err)
	}
	out, err := http.NewRequest(method, signedURL, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range signedHeaders {
		if k != "Host" {
			out.Header[k] = v
		}
	}
	return out
}

// overTheWire sends r through the HTTP/1.1 wire format and reads it back as
// Go's server does, so checks see exactly what a handler sees. It returns the
// server-side request and the body the handler would have read.
func overTheWire(t testing.TB, r *http.Request) (*http.Request, []byte) {
	t.Helper()
	var wire bytes.Buffer
	if err := r.Write(&wire); err != nil {
		t.Fatal(err)
	}
	sr, err := http.ReadRequest(bufio.NewReader(&wire))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(sr.Body)
	if err != nil {
		t.Fatal(err)
	}
	// Like a handler that parsed the form itself, leave the body consumed.
	sr.Body = errReader{}
	return sr, body
}

// errReader fails every read, proving Parse and Verify leave r.Body alone.
type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("sigv4 must not read r.Body") }
func (errReader) Close() error             { return nil }

// check parses and verifies r as the API edge does.
func check(r *http.Request, body []byte, secret string, now time.Time) error {
	a, err := sigv4.Parse(r)
	if err != nil {
		return err
	}
	return a.Verify(r, body, secret, now)
}

func wantCode(t testing.TB, err error, code string, status int) *awserr.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	e, ok := awserr.As(err)
	if !ok {
		t.Fatalf("got %T %v, want *awserr.Error %s", err, err, code)
	}
	if e.Code != code || e.HTTPStatus() != status {
		t.Fatalf("got %s %d (%q), want %s %d", e.Code, e.HTTPStatus(), e.Message, code, status)
	}
	return e
}

func TestSignedRequestsVerify(t *testing.T) {
	for _, service := range services {
		for _, region := range regions {
			for _, creds := range []aws.Credentials{longTerm, session} {
				for _, form := range []struct {
					name string
					sign func(testing.TB, string, string, url.Values, aws.Credentials, time.Time) *http.Request
				}{{"POST", signForm}, {"GET", signGet}} {
					name := strings.Join([]string{service, region, form.name, creds.AccessKeyID[:4]}, "/")
					t.Run(name, func(t *testing.T) {
						r, body := overTheWire(t, form.sign(t, service, region, awkwardParams("DescribeThings"), creds, signedAt))
						a, err := sigv4.Parse(r)
						if err != nil {
							t.Fatal(err)
						}
						if a.AccessKeyID != creds.AccessKeyID || a.Region != region || a.Service != service ||
							!a.Date.Equal(signedAt) || a.Presigned || a.SecurityToken != creds.SessionToken {
							t.Fatalf("parsed %+v", a)
						}
						if !slices.Contains(a.SignedHeaders, "host") || !slices.Contains(a.SignedHeaders, "x-amz-date") {
							t.Fatalf("signed headers %v", a.SignedHeaders)
						}
						if err := a.Verify(r, body, creds.SecretAccessKey, signedAt); err != nil {
							t.Fatal(err)
						}
					})
				}
			}
		}
	}
}

func TestPresignedRequestsVerify(t *testing.T) {
	params := awkwardParams("GetCallerIdentity")
	body := []byte("opaque body\x00\xff")
	for _, service := range services {
		for _, region := range regions {
			for _, tc := range []struct {
				name    string
				method  string
				body    []byte
				hash    string
				expires time.Duration
				creds   aws.Credentials
			}{
				{"GET empty-hash", http.MethodGet, nil, payloadHash(nil), 0, longTerm},
				{"GET unsigned", http.MethodGet, nil, sigv4.UnsignedPayload, 900 * time.Second, session},
				{"POST body-hash", http.MethodPost, body, payloadHash(body), 60 * time.Second, longTerm},
				{"POST unsigned", http.MethodPost, body, sigv4.UnsignedPayload, sigv4.MaxExpires, session},
			} {
				t.Run(service+"/"+region+"/"+tc.name, func(t *testing.T) {
					r, got := overTheWire(t, presign(t, tc.method, service, region, params, tc.body, tc.hash, tc.expires, tc.creds, signedAt))
					a, err := sigv4.Parse(r)
					if err != nil {
						t.Fatal(err)
					}
					if !a.Presigned || a.AccessKeyID != tc.creds.AccessKeyID || a.Region != region || a.Service != service ||
						!a.Date.Equal(signedAt) || a.Expires != tc.expires || a.SecurityToken != tc.creds.SessionToken {
						t.Fatalf("parsed %+v", a)
					}
					if err := a.Verify(r, got, tc.creds.SecretAccessKey, signedAt.Add(30*time.Second)); err != nil {
						t.Fatal(err)
					}
					if tc.hash != sigv4.UnsignedPayload && tc.body != nil {
						// The body is covered: changing it must fail.
						err := a.Verify(r, []byte("other"), tc.creds.SecretAccessKey, signedAt)
						wantCode(t, err, sigv4.CodeSignatureDoesNotMatch, http.StatusForbidden)
					}
				})
			}
		}
	}
}

// The canonical query is built from decoded pairs, so any equivalent
// encoding and order of the query string verifies.
func TestEquivalentQueryEncodings(t *testing.T) {
	params := awkwardParams("DescribeThings")
	r := signGet(t, "ec2", "eu-west-1", params, longTerm, signedAt)
	signedQuery := r.URL.RawQuery

	// Go's encoding: '+' for spaces, sorted by key, original value order.
	goEncoded := params.Encode()
	// Reversed order, hand-escaped with lowercase hex and literal '*' and '~'.
	pieces := strings.Split(goEncoded, "&")
	slices.Reverse(pieces)
	reversed := strings.NewReplacer("%2A", "*", "%7E", "~", "%C3%BC", "%c3%bc").Replace(strings.Join(pieces, "&"))

	for _, raw := range []string{signedQuery, goEncoded, reversed} {
		r.URL.RawQuery = raw
		sr, body := overTheWire(t, r)
		if err := check(sr, body, longTerm.SecretAccessKey, signedAt); err != nil {
			t.Errorf("query %q: %v", raw, err)
		}
	}
}

func TestTamperingIsRejected(t *testing.T) {
	params := awkwardParams("DescribeInstances")
	for _, tc := range []struct {
		name   string
		sign   func(testing.TB, string, string, url.Values, aws.Credentials, time.Time) *http.Request
		secret string
		tamper func(r *http.Request, body []byte) []byte
		code   string
		status int
	}{
		{name: "wrong secret", sign: signForm, secret: "not-the-secret"},
		{name: "secret of another key", sign: signForm, secret: session.SecretAccessKey},
		{name: "body", sign: signForm, tamper: func(_ *http.Request, body []byte) []byte {
			return bytes.Replace(body, []byte("DescribeInstances"), []byte("TerminateInstances"), 1)
		}},
		{name: "body appended", sign: signForm, tamper: func(_ *http.Request, body []byte) []byte {
			return append(body, "&DryRun=false"...)
		}},
		{name: "empty body", sign: signForm, tamper: func(*http.Request, []byte) []byte { return nil }},
		{name: "query value", sign: signGet, tamper: func(r *http.Request, body []byte) []byte {
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "Action=DescribeInstances", "Action=TerminateInstances", 1)
			return body
		}},
		{name: "query param added", sign: signGet, tamper: func(r *http.Request, body []byte) []byte {
			r.URL.RawQuery += "&InstanceId.1=i-0123"
			return body
		}},
		{name: "query param dropped", sign: signGet, tamper: func(r *http.Request, body []byte) []byte {
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "Empty=&", "", 1)
			return body
		}},
		{name: "query added to form POST", sign: signForm, tamper: func(r *http.Request, body []byte) []byte {
			r.URL.RawQuery = "Action=TerminateInstances"
			return body
		}},
		{name: "signed header", sign: signForm, tamper: func(r *http.Request, body []byte) []byte {
			r.Header.Set("Content-Type", "text/plain")
			return body
		}},
		{name: "host", sign: signForm, tamper: func(r *http.Request, body []byte) []byte {
			r.Host = "ec2.us-east-1.isthmus.test:8444"
			return body
		}},
		{name: "path", sign: signGet, tamper: func(r *http.Request, body []byte) []byte {
			r.URL.Path = "/other"
			return body
		}},
		{name: "method", sign: signGet, tamper: func(r *http.Request, body []byte) []byte {
			r.Method = http.MethodPost
			return body
		}},
		{name: "scope region", sign: signForm, tamper: func(r *http.Request, body []byte) []byte {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "/eu-west-1/", "/us-east-1/", 1))
			return body
		}},
		{name: "signature", sign: signForm, tamper: func(r *http.Request, body []byte) []byte {
			h := r.Header.Get("Authorization")
			r.Header.Set("Authorization", h[:len(h)-1]+string("10"[h[len(h)-1]&1]))
			return body
		}},
		{name: "signature not hex", sign: signForm, tamper: func(r *http.Request, body []byte) []byte {
			h := r.Header.Get("Authorization")
			r.Header.Set("Authorization", h[:len(h)-1]+"z")
			return body
		}},
		{name: "security token swapped", sign: signForm, tamper: func(r *http.Request, body []byte) []byte {
			r.Header.Set("X-Amz-Security-Token", "stolen")
			return body
		}},
		{name: "content-sha256 not the body", sign: signForm, tamper: func(r *http.Request, body []byte) []byte {
			r.Header.Set("X-Amz-Content-Sha256", payloadHash(nil))
			return body
		}},
		{name: "unsigned payload outside presign", sign: signForm, tamper: func(r *http.Request, body []byte) []byte {
			r.Header.Set("X-Amz-Content-Sha256", sigv4.UnsignedPayload)
			return body
		}, code: sigv4.CodeIncompleteSignature, status: http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			creds := longTerm
			if tc.name == "security token swapped" {
				creds = session
			}
			r, body := overTheWire(t, tc.sign(t, "ec2", "eu-west-1", params, creds, signedAt))
			if tc.tamper != nil {
				body = tc.tamper(r, body)
			}
			secret := creds.SecretAccessKey
			if tc.secret != "" {
				secret = tc.secret
			}
			code, status := tc.code, tc.status
			if code == "" {
				code, status = sigv4.CodeSignatureDoesNotMatch, http.StatusForbidden
			}
			e := wantCode(t, check(r, body, secret, signedAt), code, status)
			if code == sigv4.CodeSignatureDoesNotMatch && !strings.Contains(tc.name, "content-sha256") &&
				!strings.HasPrefix(e.Message, "The request signature we calculated does not match the signature you provided.") {
				t.Errorf("message %q", e.Message)
			}
		})
	}
}

// A client that sends X-Amz-Content-Sha256 (as S3-style signers do) is
// verified against it, and it must match the body.
func TestContentSHA256Header(t *testing.T) {
	body := []byte(awkwardParams("DescribeVpcs").Encode())
	r, err := http.NewRequest(http.MethodPost, endpoint("ec2", "us-east-1"), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("X-Amz-Content-Sha256", strings.ToUpper(payloadHash(body)))
	if err := v4.NewSigner().SignHTTP(context.Background(), longTerm, r, strings.ToUpper(payloadHash(body)), "ec2", "us-east-1", signedAt); err != nil {
		t.Fatal(err)
	}
	sr, got := overTheWire(t, r)
	if err := check(sr, got, longTerm.SecretAccessKey, signedAt); err != nil {
		t.Fatal(err)
	}
	got[0] ^= 1
	wantCode(t, check(sr, got, longTerm.SecretAccessKey, signedAt), sigv4.CodeSignatureDoesNotMatch, http.StatusForbidden)
}

func TestTimeWindow(t *testing.T) {
	for _, tc := range []struct {
		name    string
		skew    time.Duration // signing time minus now
		wantErr string        // message; empty for success
	}{
		{"now", 0, ""},
		{"14 minutes ago", -14 * time.Minute, ""},
		{"15 minutes ago", -15 * time.Minute, ""},
		{"14 minutes ahead", 14 * time.Minute, ""},
		{"15 minutes ahead", 15 * time.Minute, ""},
		{"20 minutes ago", -20 * time.Minute,
			"Signature expired: 20260314T235500Z is now earlier than 20260315T000000Z (20260315T001500Z - 15 min.)"},
		{"20 minutes ahead", 20 * time.Minute,
			"Signature not yet current: 20260314T235500Z is still later than 20260314T235000Z (20260314T233500Z + 15 min.)"},
		{"a day ago", -24 * time.Hour, "Signature expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := signedAt.Add(-tc.skew)
			for _, sign := range []func(testing.TB, string, string, url.Values, aws.Credentials, time.Time) *http.Request{signForm, signGet} {
				r, body := overTheWire(t, sign(t, "sts", "us-east-1", awkwardParams("GetCallerIdentity"), longTerm, signedAt))
				err := check(r, body, longTerm.SecretAccessKey, now)
				if tc.wantErr == "" {
					if err != nil {
						t.Fatal(err)
					}
					continue
				}
				e := wantCode(t, err, sigv4.CodeRequestExpired, http.StatusBadRequest)
				if !strings.HasPrefix(e.Message, tc.wantErr) {
					t.Errorf("message %q, want %q", e.Message, tc.wantErr)
				}
			}
		})
	}
}

func TestPresignedExpiry(t *testing.T) {
	params := url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}}
	for _, tc := range []struct {
		name    string
		expires time.Duration
		age     time.Duration // now minus signing time
		wantErr string
	}{
		{"within expiry", 300 * time.Second, 299 * time.Second, ""},
		{"at expiry", 300 * time.Second, 300 * time.Second, ""},
		{"past expiry", 300 * time.Second, 301 * time.Second, "Request has expired."},
		{"expiry beyond skew", time.Hour, 59 * time.Minute, ""},
		{"a week", sigv4.MaxExpires, sigv4.MaxExpires - time.Second, ""},
		{"a week and a second", sigv4.MaxExpires, sigv4.MaxExpires + time.Second, "Request has expired."},
		{"no expiry, within skew", 0, 15 * time.Minute, ""},
		{"no expiry, past skew", 0, 16 * time.Minute, "Signature expired"},
		{"signed in the future", 300 * time.Second, -20 * time.Minute, "Signature not yet current"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, body := overTheWire(t, presign(t, http.MethodGet, "sts", "us-west-2", params, nil, payloadHash(nil), tc.expires, longTerm, signedAt))
			err := check(r, body, longTerm.SecretAccessKey, signedAt.Add(tc.age))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			e := wantCode(t, err, sigv4.CodeRequestExpired, http.StatusBadRequest)
			if !strings.HasPrefix(e.Message, tc.wantErr) {
				t.Errorf("message %q, want %q", e.Message, tc.wantErr)
			}
		})
	}
}

func TestMissingAuthentication(t *testing.T) {
	for _, target := range []string{"/", "/?Action=DescribeInstances&Version=2016-11-15", "/?X-Amz-Date=20260314T235500Z"} {
		r, err := http.NewRequest(http.MethodGet, "http://ec2.isthmus.test"+target, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("X-Amz-Date", "20260314T235500Z")
		_, err = sigv4.Parse(r)
		e := wantCode(t, err, sigv4.CodeMissingAuthenticationToken, http.StatusForbidden)
		if e.Message != "Request is missing Authentication Token" {
			t.Errorf("message %q", e.Message)
		}
	}
}

func TestMalformedAuthorization(t *testing.T) {
	const (
		cred   = "Credential=AKIAISTHMUSTEST00001/20260314/us-east-1/ec2/aws4_request"
		signed = "SignedHeaders=content-type;host;x-amz-date"
		sig    = "Signature=" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	)
	join := func(parts ...string) string { return "AWS4-HMAC-SHA256 " + strings.Join(parts, ", ") }
	for _, tc := range []struct {
		name    string
		authz   string
		amzDate string // "-" for none
		query   string
		want    string // message prefix
	}{
		{"no Signature", join(cred, signed), "", "", "Authorization header requires 'Signature' parameter. Authorization="},
		{"empty Signature", join(cred, signed, "Signature="), "", "", "Authorization header requires 'Signature' parameter."},
		{"no Credential", join(signed, sig), "", "", "Authorization header requires 'Credential' parameter."},
		{"no SignedHeaders", join(cred, sig), "", "", "Authorization header requires 'SignedHeaders' parameter."},
		{"nothing", "AWS4-HMAC-SHA256", "-", "", "Authorization header requires 'Credential' parameter. " +
			"Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. " +
			"Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."},
		{"no date", join(cred, signed, sig), "-", "", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."},
		{"bad X-Amz-Date", join(cred, signed, sig), "2026-03-14T23:55:00Z", "", "Date must be in ISO-8601 'basic format'."},
		{"scope too short", join("Credential=AKIAISTHMUSTEST00001/20260314/us-east-1/ec2", signed, sig), "", "",
			"Credential should be scoped to 'AKID/yyyymmdd/region/service/aws4_request'"},
		{"scope too long", join(cred+"/extra", signed, sig), "", "", "Credential should be scoped to 'AKID/yyyymmdd/region/service/aws4_request'"},
		{"no access key", join("Credential=/20260314/us-east-1/ec2/aws4_request", signed, sig), "", "", "Credential should be scoped to"},
		{"bad terminator", join("Credential=AKIAISTHMUSTEST00001/20260314/us-east-1/ec2/aws5_request", signed, sig), "", "",
			"Credential should be scoped with a valid terminator: 'aws4_request', not 'aws5_request'."},
		{"empty region", join("Credential=AKIAISTHMUSTEST00001/20260314//ec2/aws4_request", signed, sig), "", "",
			"Credential should be scoped to a valid region"},
		{"empty service", join("Credential=AKIAISTHMUSTEST00001/20260314/us-east-1//aws4_request", signed, sig), "", "",
			"Credential should be scoped to a valid service"},
		{"scope date mismatch", join("Credential=AKIAISTHMUSTEST00001/20260315/us-east-1/ec2/aws4_request", signed, sig), "", "",
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20260315' != '20260314', from '20260314T235500Z'."},
		{"scope date not a date", join("Credential=AKIAISTHMUSTEST00001/2026-3-14/us-east-1/ec2/aws4_request", signed, sig), "", "",
			"Date in Credential scope does not match"},
		{"host not signed", join(cred, "SignedHeaders=content-type;x-amz-date", sig), "", "",
			"'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."},
		{"empty signed header", join(cred, "SignedHeaders=host;;x-amz-date", sig), "", "", "SignedHeaders must be"},
		{"SHA512", strings.Replace(join(cred, signed, sig), "SHA256", "SHA512", 1), "", "", "Unsupported AWS 'algorithm': 'AWS4-HMAC-SHA512'"},
		{"SigV2", "AWS AKIAISTHMUSTEST00001:frJIUN8DYpKDtOLCwo//yllqDzg=", "", "", "Unsupported AWS 'algorithm': 'AWS'"},
		{"empty", "", "", "", "Unsupported AWS 'algorithm': ''"},
		{"both forms", join(cred, signed, sig), "", "X-Amz-Signature=00", "Only one auth mechanism allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := http.NewRequest(http.MethodPost, "https://ec2.us-east-1.isthmus.test/?"+tc.query, nil)
			if err != nil {
				t.Fatal(err)
			}
			r.Header["Authorization"] = []string{tc.authz}
			if tc.amzDate != "-" {
				d := tc.amzDate
				if d == "" {
					d = "20260314T235500Z"
				}
				r.Header.Set("X-Amz-Date", d)
			}
			_, err = sigv4.Parse(r)
			e := wantCode(t, err, sigv4.CodeIncompleteSignature, http.StatusBadRequest)
			if !strings.HasPrefix(e.Message, tc.want) {
				t.Errorf("message %q, want prefix %q", e.Message, tc.want)
			}
		})
	}
}

func TestMalformedPresigned(t *testing.T) {
	valid := url.Values{
		"X-Amz-Algorithm":     {"AWS4-HMAC-SHA256"},
		"X-Amz-Credential":    {"AKIAISTHMUSTEST00001/20260314/us-east-1/sts/aws4_request"},
		"X-Amz-Date":          {"20260314T235500Z"},
		"X-Amz-Expires":       {"60"},
		"X-Amz-SignedHeaders": {"host"},
		"X-Amz-Signature":     {"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"},
	}
	for _, tc := range []struct {
		name  string
		key   string
		value string // "-" deletes the key
		want  string
	}{
		{"no algorithm", "X-Amz-Algorithm", "-", "AWS query-string parameters must include 'X-Amz-Algorithm'. Re-examine the query-string parameters."},
		{"bad algorithm", "X-Amz-Algorithm", "AWS4-HMAC-SHA1", `X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"`},
		{"no credential", "X-Amz-Credential", "-", "AWS query-string parameters must include 'X-Amz-Credential'."},
		{"no signature", "X-Amz-Signature", "-", "AWS query-string parameters must include 'X-Amz-Signature'."},
		{"empty signature", "X-Amz-Signature", "", "AWS query-string parameters must include 'X-Amz-Signature'."},
		{"no date", "X-Amz-Date", "-", "AWS query-string parameters must include 'X-Amz-Date'."},
		{"no signed headers", "X-Amz-SignedHeaders", "-", "AWS query-string parameters must include 'X-Amz-SignedHeaders'."},
		{"host not signed", "X-Amz-SignedHeaders", "x-amz-date", "'Host' or ':authority' must be a 'SignedHeader'"},
		{"bad date", "X-Amz-Date", "20260314", "Date must be in ISO-8601 'basic format'."},
		{"scope date mismatch", "X-Amz-Date", "20260315T000000Z", "Date in Credential scope does not match"},
		{"bad scope", "X-Amz-Credential", "AKIAISTHMUSTEST00001/20260314/us-east-1/sts", "Credential should be scoped to"},
		{"expires not a number", "X-Amz-Expires", "1h", "X-Amz-Expires should be a number"},
		{"expires zero", "X-Amz-Expires", "0", "X-Amz-Expires must be a positive number of seconds"},
		{"expires negative", "X-Amz-Expires", "-5", "X-Amz-Expires must be a positive number of seconds"},
		{"expires over a week", "X-Amz-Expires", "604801", "X-Amz-Expires must be less than a week (in seconds) that is 604800"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{}
			for k, v := range valid {
				q[k] = v
			}
			if tc.value == "-" {
				q.Del(tc.key)
			} else {
				q.Set(tc.key, tc.value)
			}
			r, err := http.NewRequest(http.MethodGet, "https://sts.isthmus.test/?"+q.Encode(), nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = sigv4.Parse(r)
			e := wantCode(t, err, sigv4.CodeIncompleteSignature, http.StatusBadRequest)
			if !strings.HasPrefix(e.Message, tc.want) {
				t.Errorf("message %q, want prefix %q", e.Message, tc.want)
			}
		})
	}
}

// Without X-Amz-Date, the Date header gives the signing time.
func TestDateHeader(t *testing.T) {
	r, err := http.NewRequest(http.MethodGet, "https://ec2.isthmus.test/", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Date", signedAt.Format(http.TimeFormat))
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260314/us-east-1/ec2/aws4_request, SignedHeaders=date;host, Signature=00")
	a, err := sigv4.Parse(r)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Date.Equal(signedAt) || a.Date.Location() != time.UTC {
		t.Errorf("date %v, want %v", a.Date, signedAt)
	}
}

// One Auth and request verified from many goroutines at once (run with
// -race).
func TestVerifyConcurrent(t *testing.T) {
	r, body := overTheWire(t, signForm(t, "elasticloadbalancing", "eu-west-1", awkwardParams("DescribeLoadBalancers"), session, signedAt))
	a, err := sigv4.Parse(r)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			secret := session.SecretAccessKey
			if i%2 == 1 {
				secret = "wrong"
			}
			for range 50 {
				err := a.Verify(r, body, secret, signedAt)
				if (err == nil) != (i%2 == 0) {
					t.Errorf("goroutine %d: %v", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkVerify(b *testing.B) {
	r, body := overTheWire(b, signForm(b, "ec2", "us-east-1", awkwardParams("DescribeInstances"), longTerm, signedAt))
	a, err := sigv4.Parse(r)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := a.Verify(r, body, longTerm.SecretAccessKey, signedAt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseVerifyPresigned(b *testing.B) {
	r, body := overTheWire(b, presign(b, http.MethodGet, "sts", "us-east-1", awkwardParams("GetCallerIdentity"), nil, payloadHash(nil), time.Minute, session, signedAt))
	b.ReportAllocs()
	for b.Loop() {
		if err := check(r, body, session.SecretAccessKey, signedAt); err != nil {
			b.Fatal(err)
		}
	}
}
