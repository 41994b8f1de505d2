package isthmustest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/isthmusnet/isthmus/api"
	"github.com/isthmusnet/isthmus/isthmustest"
)

func TestSigV4Accounts(t *testing.T) {
	env := isthmustest.New(t, isthmustest.Options{Auth: api.AuthSigV4})
	ctx := isthmustest.Ctx(t)
	alice, acct := env.NewAccount(t, "alice")
	id, err := alice.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(id.Account) != acct.ID || aws.ToString(id.Arn) != "arn:aws:iam::"+acct.ID+":root" {
		t.Fatalf("GetCallerIdentity = %s %s, want account %s", aws.ToString(id.Account), aws.ToString(id.Arn), acct.ID)
	}
	if _, err := alice.EC2.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.0.0.0/16")}); err != nil {
		t.Fatal(err)
	}

	keys, _ := env.Cloud.AccessKeys(acct.ID)
	keyID := keys[0].ID
	wrong := env.Client(keyID, "not-the-secret", isthmustest.Region)
	if _, err := wrong.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); errorCode(err) != "SignatureDoesNotMatch" {
		t.Errorf("STS with a wrong secret: %v, want SignatureDoesNotMatch", err)
	}
	if _, err := wrong.EC2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{}); errorCode(err) != "SignatureDoesNotMatch" {
		t.Errorf("EC2 with a wrong secret: %v, want SignatureDoesNotMatch", err)
	}
	unknown := env.Client("AKIAUNKNOWNUNKNOWN00", "x", isthmustest.Region)
	if _, err := unknown.EC2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{}); errorCode(err) != "AuthFailure" {
		t.Errorf("EC2 with an unknown key: %v, want AuthFailure", err)
	}
	if _, err := unknown.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); errorCode(err) != "InvalidClientTokenId" {
		t.Errorf("STS with an unknown key: %v, want InvalidClientTokenId", err)
	}
	other := env.Client(keyID, keys[0].Secret, "eu-north-1")
	if _, err := other.EC2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{}); errorCode(err) != "AuthFailure" {
		t.Errorf("a region not served: %v, want AuthFailure", err)
	}

	// Raw requests: tampered after signing, and signed 20 minutes ago.
	form := url.Values{"Action": {"DescribeVpcs"}, "Version": {"2016-11-15"}}
	body := form.Encode()
	creds := aws.Credentials{AccessKeyID: keyID, SecretAccessKey: keys[0].Secret}
	for _, tc := range []struct {
		name     string
		signAt   time.Time
		sendBody string
		code     string
		status   int
	}{
		{"valid", time.Now(), body, "", 200},
		{"tampered body", time.Now(), body + "&Filter.1.Name=vpc-id&Filter.1.Value.1=vpc-1", "SignatureDoesNotMatch", 403},
		{"signed 20 minutes ago", time.Now().Add(-20 * time.Minute), body, "RequestExpired", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, env.URL+"/", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
			sum := sha256.Sum256([]byte(body))
			if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "ec2", isthmustest.Region, tc.signAt); err != nil {
				t.Fatal(err)
			}
			req.Body = io.NopCloser(strings.NewReader(tc.sendBody))
			req.ContentLength = int64(len(tc.sendBody))
			status, b := do(t, req)
			if status != tc.status || (tc.code != "" && !bytes.Contains(b, []byte("<Code>"+tc.code+"</Code>"))) {
				t.Fatalf("status %d body %s; want %d %s", status, b, tc.status, tc.code)
			}
		})
	}

	req, _ := http.NewRequest(http.MethodPost, env.URL+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if status, b := do(t, req); status != 403 || !bytes.Contains(b, []byte("MissingAuthenticationToken")) {
		t.Fatalf("unsigned: %d %s", status, b)
	}
}

func do(t *testing.T, req *http.Request) (int, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// post sends an unsigned form to an open-mode server.
func post(t *testing.T, env *isthmustest.Env, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	status, b := do(t, req)
	return status, string(b)
}

func TestBadInput(t *testing.T) {
	env := isthmustest.New(t)
	for _, tc := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"unknown action", "Action=LaunchRockets&Version=2016-11-15", 400, "<Code>InvalidAction</Code>"},
		{"missing action", "Version=2016-11-15", 400, "<Code>MissingAction</Code>"},
		{"missing parameter", "Action=CreateVpc&Version=2016-11-15", 400, "<Code>MissingParameter</Code>"},
		{"unknown parameter", "Action=DescribeVpcs&Version=2016-11-15&Colour=blue", 400, "<Code>UnknownParameter</Code>"},
		{"bad integer", "Action=DescribeVpcs&Version=2016-11-15&MaxResults=many", 400, "<Code>InvalidParameterValue</Code>"},
		{"bad boolean", "Action=DescribeVpcs&Version=2016-11-15&DryRun=maybe", 400, "<Code>InvalidParameterValue</Code>"},
		{"bad cidr", "Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.300/16", 400, "<Code>InvalidParameterValue</Code>"},
		{"too many parameters", "Action=DescribeVpcs&Version=2016-11-15" + strings.Repeat("&VpcId.1=vpc-1", 20001), 400, "<Code>InvalidParameterValue</Code>"},
		{"body too large", "Action=DescribeVpcs&Version=2016-11-15&X=" + strings.Repeat("a", 2<<20), 413, "<Code>RequestEntityTooLarge</Code>"},
		{"malformed form", "Action=DescribeVpcs&Version=2016-11-15&%zz", 400, "<Code>MalformedQueryString</Code>"},
		{"ec2 envelope", "Action=DescribeVpcs&Version=2016-11-15&VpcId.1=vpc-123", 400, "<Response><Errors><Error><Code>InvalidVpcID.NotFound</Code>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(t, env, tc.body)
			if status != tc.status || !strings.Contains(body, tc.want) {
				if len(body) > 300 {
					body = body[:300]
				}
				t.Fatalf("status %d, body %s; want %d with %s", status, body, tc.status, tc.want)
			}
		})
	}
	// None of it created anything.
	vpcs, _, err := env.Cloud.DescribeVpcs(callerOf("000000000000"), nil, nil, page0)
	if err != nil || len(vpcs) != 0 {
		t.Fatalf("bad input left %d VPCs (%v)", len(vpcs), err)
	}
}

func TestClientTokenIdempotency(t *testing.T) {
	env := isthmustest.New(t)
	base := "Action=CreateRouteTable&Version=2016-11-15&ClientToken=tok-1&VpcId="
	status, body := post(t, env, "Action=CreateVpc&Version=2016-11-15&CidrBlock=10.0.0.0/16")
	if status != 200 {
		t.Fatal(body)
	}
	vpc := between(body, "<vpcId>", "</vpcId>")
	s1, b1 := post(t, env, base+vpc)
	s2, b2 := post(t, env, base+vpc)
	if s1 != 200 || s2 != 200 {
		t.Fatalf("CreateRouteTable: %d %s / %d %s", s1, b1, s2, b2)
	}
	if id1, id2 := between(b1, "<routeTableId>", "</routeTableId>"), between(b2, "<routeTableId>", "</routeTableId>"); id1 == "" || id1 != id2 {
		t.Fatalf("retry with the same token made %q and %q", id1, id2)
	}
	if between(b1, "<requestId>", "</requestId>") == between(b2, "<requestId>", "</requestId>") {
		t.Error("the replayed answer kept the first request id")
	}
	_, b3 := post(t, env, base+vpc+"&TagSpecification.1.ResourceType=route-table&TagSpecification.1.Tag.1.Key=k&TagSpecification.1.Tag.1.Value=v")
	if !strings.Contains(b3, "IdempotentParameterMismatch") {
		t.Fatalf("same token, other parameters: %s", b3)
	}
}

func between(s, a, b string) string {
	i := strings.Index(s, a)
	if i < 0 {
		return ""
	}
	s = s[i+len(a):]
	j := strings.Index(s, b)
	if j < 0 {
		return ""
	}
	return s[:j]
}
