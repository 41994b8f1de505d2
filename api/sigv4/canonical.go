package sigv4

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// A param is one decoded key=value pair of a query string.
type param struct{ key, value string }

// parseQuery splits a raw query string into decoded pairs, in order. Unlike
// url.ParseQuery it keeps every pair: a piece that does not unescape is kept
// as sent (it then simply fails to match), and ';' is an ordinary byte.
func parseQuery(raw string) []param {
	var ps []param
	for raw != "" {
		var piece string
		piece, raw, _ = strings.Cut(raw, "&")
		if piece == "" {
			continue
		}
		k, v, _ := strings.Cut(piece, "=")
		ps = append(ps, param{unescape(k), unescape(v)})
	}
	return ps
}

func unescape(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// lookup returns the first value of key.
func lookup(ps []param, key string) (string, bool) {
	for _, p := range ps {
		if p.key == key {
			return p.value, true
		}
	}
	return "", false
}

// canonicalPrefix is the canonical request up to and including the newline
// before the payload hash:
//
//	METHOD \n URI \n QUERY \n name:value \n ... \n \n signed;headers \n
//
// The URI is the path as sent, escaped once more (the double encoding of
// non-S3 services, without normalization). The query is the URL's pairs,
// RFC 3986 encoded and sorted by key then value, less X-Amz-Signature when
// presigned.
func canonicalPrefix(r *http.Request, signed []string, presigned bool) []byte {
	b := make([]byte, 0, 512)

	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	b = append(b, method...)
	b = append(b, '\n')

	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	b = appendEscaped(b, path, true)
	b = append(b, '\n')

	b = appendCanonicalQuery(b, r.URL.RawQuery, presigned)
	b = append(b, '\n')

	for _, name := range signed {
		b = append(b, name...)
		b = append(b, ':')
		for i, v := range headerValues(r, strings.ToLower(name)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendTrimmed(b, v)
		}
		b = append(b, '\n')
	}
	b = append(b, '\n')

	for i, name := range signed {
		if i > 0 {
			b = append(b, ';')
		}
		b = append(b, name...)
	}
	b = append(b, '\n')
	return b
}

func appendCanonicalQuery(b []byte, raw string, presigned bool) []byte {
	ps := parseQuery(raw)
	enc := make([]param, 0, len(ps))
	for _, p := range ps {
		if presigned && p.key == paramSignature {
			continue
		}
		enc = append(enc, param{escape(p.key), escape(p.value)})
	}
	// Sorting happens after encoding, as the spec says.
	slices.SortFunc(enc, func(x, y param) int {
		return cmp.Or(strings.Compare(x.key, y.key), strings.Compare(x.value, y.value))
	})
	for i, p := range enc {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, p.key...)
		b = append(b, '=')
		b = append(b, p.value...)
	}
	return b
}

// headerValues returns the values of the lowercase header name as the client
// sent them. Go's server moves Host and Transfer-Encoding out of r.Header,
// and a client-side request keeps its length in r.ContentLength; those are
// read from where they went.
func headerValues(r *http.Request, name string) []string {
	if name == "host" {
		if r.Host != "" {
			return []string{r.Host}
		}
		return []string{r.URL.Host}
	}
	vs := r.Header[textproto.CanonicalMIMEHeaderKey(name)]
	if len(vs) == 0 {
		// A hand-built header map may hold non-canonical keys.
		for k, v := range r.Header {
			if strings.EqualFold(k, name) {
				vs = append(vs, v...)
			}
		}
	}
	if len(vs) > 0 {
		return vs
	}
	switch {
	case name == "content-length" && r.ContentLength > 0:
		return []string{strconv.FormatInt(r.ContentLength, 10)}
	case name == "transfer-encoding" && len(r.TransferEncoding) > 0:
		return []string{strings.Join(r.TransferEncoding, ",")}
	}
	return nil
}

// appendTrimmed appends a header value with leading and trailing space
// trimmed and each run of spaces collapsed to one.
func appendTrimmed(b []byte, v string) []byte {
	v = strings.TrimSpace(v)
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b = append(b, c)
	}
	return b
}

func escape(s string) string {
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) {
			return string(appendEscaped(make([]byte, 0, len(s)+16), s, false))
		}
	}
	return s
}

// appendEscaped percent-encodes, with uppercase hex, every byte of s outside
// RFC 3986's unreserved set (A-Z a-z 0-9 - . _ ~), and '/' unless keepSlash.
func appendEscaped(b []byte, s string, keepSlash bool) []byte {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || (keepSlash && c == '/') {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexDigits[c>>4], hexDigits[c&0xf])
	}
	return b
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}

// stringToSign completes the canonical request prefix with the payload hash
// and wraps its hash in the string to sign.
func stringToSign(date time.Time, scope string, prefix []byte, payloadHash string) []byte {
	h := sha256.New()
	h.Write(prefix)
	h.Write([]byte(payloadHash))
	var sum [sha256.Size]byte

	b := make([]byte, 0, len(Algorithm)+len(timeFormat)+len(scope)+2*sha256.Size+3)
	b = append(b, Algorithm...)
	b = append(b, '\n')
	b = date.UTC().AppendFormat(b, timeFormat)
	b = append(b, '\n')
	b = append(b, scope...)
	b = append(b, '\n')
	return hex.AppendEncode(b, h.Sum(sum[:0]))
}

// signingKey derives the key for the credential scope from the secret.
func signingKey(secret string, date time.Time, region, service string) []byte {
	k := sign([]byte("AWS4"+secret), []byte(date.UTC().Format(dateFormat)))
	k = sign(k, []byte(region))
	k = sign(k, []byte(service))
	return sign(k, []byte(scopeTerminator))
}

func sign(key, data []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(data)
	return m.Sum(nil)
}
