package sigv4_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/isthmusnet/isthmus/api/sigv4"
	"github.com/isthmusnet/isthmus/awserr"
)

// FuzzParse proves Parse never panics on arbitrary Authorization headers,
// dates and query strings, that every refusal is an *awserr.Error, and that
// whatever it accepts is well-formed and safe to Verify.
func FuzzParse(f *testing.F) {
	const sig = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20260314/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature="+sig,
		"20260314T235500Z", "")
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20260314/us-east-1/ec2/aws4_request,SignedHeaders=host,Signature=zz,Signature=",
		"20260314T235500Z", "Action=Describe&a=%zz&&=&;")
	f.Add("AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=;;, Signature==", "", "")
	f.Add("AWS4-HMAC-SHA256", "99999999T999999Z", "")
	f.Add("AWS AKID:c2ln", "", "")
	f.Add("", "", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20260314%2Fus-east-1%2Fsts%2Faws4_request"+
		"&X-Amz-Date=20260314T235500Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature="+sig)
	f.Add("", "", "X-Amz-Signature=&X-Amz-Expires=99999999999999999999")

	f.Fuzz(func(t *testing.T, authz, amzDate, rawQuery string) {
		r := &http.Request{
			Method: http.MethodPost,
			URL:    &url.URL{Path: "/", RawQuery: rawQuery},
			Host:   "ec2.isthmus.test",
			Header: http.Header{},
		}
		if authz != "" {
			r.Header["Authorization"] = []string{authz}
		}
		if amzDate != "" {
			r.Header["X-Amz-Date"] = []string{amzDate}
		}
		a, err := sigv4.Parse(r)
		if err != nil {
			if _, ok := awserr.As(err); !ok {
				t.Fatalf("Parse returned %T %v", err, err)
			}
			return
		}
		if a.AccessKeyID == "" || a.Region == "" || a.Service == "" || a.Signature == "" ||
			a.Date.Location() != time.UTC || a.Expires < 0 || a.Expires > sigv4.MaxExpires ||
			!slices.ContainsFunc(a.SignedHeaders, func(h string) bool { return strings.EqualFold(h, "host") }) {
			t.Fatalf("Parse accepted a malformed claim: %+v", a)
		}
		for _, now := range []time.Time{a.Date, time.Time{}} {
			if err := a.Verify(r, []byte(rawQuery), "secret", now); err == nil {
				t.Fatalf("Verify accepted a fuzzed signature: %+v", a)
			} else if _, ok := awserr.As(err); !ok {
				t.Fatalf("Verify returned %T %v", err, err)
			}
		}
	})
}
