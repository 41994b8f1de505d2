package sigv4

import (
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Known answers from AWS's documentation, independent of any signer.
func TestKnownAnswers(t *testing.T) {
	const secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	date := time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)

	t.Run("signing key", func(t *testing.T) {
		got := hex.EncodeToString(signingKey(secret, date, "us-east-1", "iam"))
		const want = "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
		if got != want {
			t.Errorf("signing key = %s, want %s", got, want)
		}
	})

	t.Run("iam ListUsers", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08", nil)
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		r.Header.Set("X-Amz-Date", "20150830T123600Z")
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "+
			"SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")

		const wantCanonical = "GET\n/\nAction=ListUsers&Version=2010-05-08\n" +
			"content-type:application/x-www-form-urlencoded; charset=utf-8\nhost:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n" +
			"content-type;host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
		got := string(canonicalPrefix(r, []string{"content-type", "host", "x-amz-date"}, false)) +
			"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
		if got != wantCanonical {
			t.Errorf("canonical request:\n%s\nwant:\n%s", got, wantCanonical)
		}

		a, err := Parse(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Verify(r, nil, secret, date); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("get-vanilla", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, "http://example.amazonaws.com/", nil)
		r.Header.Set("X-Amz-Date", "20150830T123600Z")
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "+
			"SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
		a, err := Parse(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Verify(r, nil, secret, date); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCanonicalQuery(t *testing.T) {
	for _, tc := range []struct {
		raw       string
		presigned bool
		want      string
	}{
		{"", false, ""},
		{"b=2&a=1", false, "a=1&b=2"},
		{"a=2&a=1&a=10", false, "a=1&a=10&a=2"},
		{"a+b=c+d&x=%7E%2A", false, "a%20b=c%20d&x=~%2A"},
		{"k&e=&&", false, "e=&k="},
		{"u=%C3%A9", false, "u=%C3%A9"},
		{"u=é", false, "u=%C3%A9"},
		{"bad=%zz", false, "bad=%25zz"},
		{"semi=a;b", false, "semi=a%3Bb"},
		// Sorted after encoding: '%' (0x25) sorts before '-' (0x2D).
		{"v=a-b&v=a/b", false, "v=a%2Fb&v=a-b"},
		{"X-Amz-Signature=abc&A=1", true, "A=1"},
		{"X-Amz-Signature=abc&A=1", false, "A=1&X-Amz-Signature=abc"},
	} {
		got := string(appendCanonicalQuery(nil, tc.raw, tc.presigned))
		if got != tc.want {
			t.Errorf("canonical query of %q (presigned %v) = %q, want %q", tc.raw, tc.presigned, got, tc.want)
		}
	}
}

func TestCanonicalHeaderValues(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "http://h.example:8080/a%2Fb/c%20d", nil)
	r.Header.Add("X-Multi", "  one   two  ")
	r.Header.Add("X-Multi", "three")
	r.Header["x-lower"] = []string{"v"}
	got := string(canonicalPrefix(r, []string{"host", "x-lower", "x-missing", "x-multi"}, false))
	const want = "POST\n/a%252Fb/c%2520d\n\nhost:h.example:8080\nx-lower:v\nx-missing:\nx-multi:one two,three\n\n" +
		"host;x-lower;x-missing;x-multi\n"
	if got != want {
		t.Errorf("canonical prefix:\n%q\nwant:\n%q", got, want)
	}
}
