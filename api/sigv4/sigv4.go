package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	// Algorithm is the only signing algorithm accepted.
	Algorithm = "AWS4-HMAC-SHA256"

	// UnsignedPayload is the payload hash a presigned URL may be signed
	// with instead of the body's SHA-256.
	UnsignedPayload = "UNSIGNED-PAYLOAD"

	// MaxSkew is how far a request's signing time may be from now, in
	// either direction.
	MaxSkew = 15 * time.Minute

	// MaxExpires is the longest X-Amz-Expires a presigned URL may ask for.
	MaxExpires = 7 * 24 * time.Hour

	// timeFormat is X-Amz-Date's ISO 8601 basic format; dateFormat is the
	// credential scope's date.
	timeFormat = "20060102T150405Z"
	dateFormat = "20060102"

	scopeTerminator = "aws4_request"
)

// Query parameters of a presigned URL.
const (
	paramAlgorithm     = "X-Amz-Algorithm"
	paramCredential    = "X-Amz-Credential"
	paramDate          = "X-Amz-Date"
	paramExpires       = "X-Amz-Expires"
	paramSignedHeaders = "X-Amz-SignedHeaders"
	paramSignature     = "X-Amz-Signature"
	paramSecurityToken = "X-Amz-Security-Token"
)

// Auth is what a request claims before verification.
type Auth struct {
	AccessKeyID string
	// Date is the request's signing time (UTC), from X-Amz-Date (or the
	// Date header); its day always equals the credential scope's date.
	Date time.Time
	// Region and Service are from the credential scope. Checking them
	// against what is served is the caller's job.
	Region, Service string
	// SignedHeaders are the header names as listed by the client, always
	// including "host".
	SignedHeaders []string
	// Signature is the hex signature the client sent.
	Signature string
	// Presigned is set when the credentials came in the query string
	// rather than the Authorization header.
	Presigned bool
	// Expires is a presigned URL's X-Amz-Expires, zero if it gave none
	// (then the MaxSkew window applies as for header-signed requests).
	Expires time.Duration
	// SecurityToken is X-Amz-Security-Token (header or query), empty when
	// the client used long-term credentials. Validating it is the
	// caller's job.
	SecurityToken string
}

// Parse reads the claimed credentials from r without checking the signature.
// It does not consume the body, and it does not look at a form body: SigV4
// parameters are read from the Authorization header or the URL's query only.
//
// It returns MissingAuthenticationToken (403) when r carries neither form,
// and IncompleteSignature (400) when what it carries is malformed: a missing
// part, a credential scope that is not AKID/yyyymmdd/region/service/
// aws4_request or whose date is not the request's, no usable date, "host"
// not signed, an unsupported algorithm, or both forms at once. Of repeated
// Authorization headers or presigning parameters the first is used; the
// signature check then covers the rest.
func Parse(r *http.Request) (*Auth, error) {
	authz := r.Header.Values("Authorization")
	query := parseQuery(r.URL.RawQuery)
	_, hasAlg := lookup(query, paramAlgorithm)
	_, hasCred := lookup(query, paramCredential)
	_, hasSig := lookup(query, paramSignature)
	presigned := hasAlg || hasCred || hasSig

	switch {
	case len(authz) == 0 && !presigned:
		return nil, errMissingAuth()
	case len(authz) > 0 && presigned:
		return nil, errIncomplete("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, " +
			"Signature query string parameter or the Authorization header should be specified")
	case presigned:
		return parsePresigned(query)
	default:
		return parseHeader(r, authz[0])
	}
}

// parseHeader reads the Authorization header form:
//
//	AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=hex
func parseHeader(r *http.Request, header string) (*Auth, error) {
	alg, rest, _ := strings.Cut(strings.TrimSpace(header), " ")
	if alg != Algorithm {
		return nil, errIncomplete("Unsupported AWS 'algorithm': '%s'. Authorization=%s", alg, header)
	}

	var cred, signed, sig string
	var haveCred, haveSigned bool
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		// The first occurrence wins; unknown components are ignored.
		switch {
		case k == "Credential" && !haveCred:
			cred, haveCred = v, true
		case k == "SignedHeaders" && !haveSigned:
			signed, haveSigned = v, true
		case k == "Signature" && sig == "":
			sig = v
		}
	}

	// AWS lists everything that is missing in one message.
	var missing []string
	if !haveCred {
		missing = append(missing, "Authorization header requires 'Credential' parameter.")
	}
	if sig == "" {
		missing = append(missing, "Authorization header requires 'Signature' parameter.")
	}
	if !haveSigned {
		missing = append(missing, "Authorization header requires 'SignedHeaders' parameter.")
	}
	amzDate, httpDate := r.Header.Get("X-Amz-Date"), r.Header.Get("Date")
	if amzDate == "" && httpDate == "" {
		missing = append(missing, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	if len(missing) > 0 {
		return nil, errIncomplete("%s Authorization=%s", strings.Join(missing, " "), header)
	}

	var date time.Time
	if amzDate != "" {
		d, err := parseAmzDate(amzDate)
		if err != nil {
			return nil, err
		}
		date = d
	} else {
		d, err := http.ParseTime(httpDate)
		if err != nil {
			return nil, errIncomplete("Date must be in ISO-8601 'basic format' or RFC 1123. Got '%s'.", httpDate)
		}
		date = d.UTC()
	}

	a := &Auth{
		Date:          date,
		Signature:     sig,
		SecurityToken: r.Header.Get("X-Amz-Security-Token"),
	}
	if err := a.setCredential(cred); err != nil {
		return nil, err
	}
	if err := a.setSignedHeaders(signed); err != nil {
		return nil, err
	}
	return a, nil
}

// parsePresigned reads the presigned query-string form.
func parsePresigned(query []param) (*Auth, error) {
	get := func(key string) (string, error) {
		v, ok := lookup(query, key)
		if !ok || v == "" {
			return "", errIncomplete("AWS query-string parameters must include '%s'. Re-examine the query-string parameters.", key)
		}
		return v, nil
	}
	// Checked in the order AWS reports them.
	alg, err := get(paramAlgorithm)
	if err != nil {
		return nil, err
	}
	if alg != Algorithm {
		return nil, errIncomplete("X-Amz-Algorithm only supports \"%s\"", Algorithm)
	}
	cred, err := get(paramCredential)
	if err != nil {
		return nil, err
	}
	sig, err := get(paramSignature)
	if err != nil {
		return nil, err
	}
	rawDate, err := get(paramDate)
	if err != nil {
		return nil, err
	}
	signed, err := get(paramSignedHeaders)
	if err != nil {
		return nil, err
	}
	date, err := parseAmzDate(rawDate)
	if err != nil {
		return nil, err
	}

	a := &Auth{Date: date, Signature: sig, Presigned: true}
	a.SecurityToken, _ = lookup(query, paramSecurityToken)
	if v, ok := lookup(query, paramExpires); ok {
		secs, err := strconv.ParseInt(v, 10, 64)
		switch {
		case err != nil:
			return nil, errIncomplete("X-Amz-Expires should be a number")
		case secs <= 0:
			return nil, errIncomplete("X-Amz-Expires must be a positive number of seconds")
		case secs > int64(MaxExpires/time.Second):
			return nil, errIncomplete("X-Amz-Expires must be less than a week (in seconds) that is %d", int64(MaxExpires/time.Second))
		}
		a.Expires = time.Duration(secs) * time.Second
	}
	if err := a.setCredential(cred); err != nil {
		return nil, err
	}
	if err := a.setSignedHeaders(signed); err != nil {
		return nil, err
	}
	return a, nil
}

func parseAmzDate(s string) (time.Time, error) {
	t, err := time.Parse(timeFormat, s)
	if err != nil {
		return time.Time{}, errIncomplete("Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", s)
	}
	return t, nil
}

// setCredential fills the access key and scope from
// AKID/yyyymmdd/region/service/aws4_request, whose date must be a.Date's.
func (a *Auth) setCredential(cred string) error {
	parts := strings.SplitN(cred, "/", 6)
	if len(parts) != 5 || parts[0] == "" {
		return errIncomplete("Credential should be scoped to 'AKID/yyyymmdd/region/service/aws4_request', not '%s'.", cred)
	}
	akid, day, region, service, term := parts[0], parts[1], parts[2], parts[3], parts[4]
	switch {
	case term != scopeTerminator:
		return errIncomplete("Credential should be scoped with a valid terminator: '%s', not '%s'.", scopeTerminator, term)
	case region == "":
		return errIncomplete("Credential should be scoped to a valid region, not '%s'.", region)
	case service == "":
		return errIncomplete("Credential should be scoped to a valid service, not '%s'.", service)
	case day != a.Date.Format(dateFormat):
		return errIncomplete("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			day, a.Date.Format(dateFormat), a.Date.Format(timeFormat))
	}
	a.AccessKeyID, a.Region, a.Service = akid, region, service
	return nil
}

// setSignedHeaders splits the ';'-separated list, which must name "host".
func (a *Auth) setSignedHeaders(list string) error {
	names := strings.Split(list, ";")
	hasHost := false
	for _, n := range names {
		if n == "" {
			return errIncomplete("SignedHeaders must be a ';'-separated list of header names, not '%s'.", list)
		}
		if strings.EqualFold(n, "host") {
			hasHost = true
		}
	}
	if !hasHost {
		return errIncomplete("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	a.SignedHeaders = names
	return nil
}

// Verify checks a's signature over r with secret, and the request time
// against now. body is the request body, which the caller has already read:
// Verify never reads r.Body. For a form POST the canonical query string is
// still the URL's query; the form is covered by the payload hash.
//
// The payload hash is X-Amz-Content-Sha256 when present (it must then match
// body, or be UNSIGNED-PAYLOAD on a presigned URL), else the SHA-256 of body;
// a presigned URL may also have been signed with UNSIGNED-PAYLOAD.
//
// It returns RequestExpired (400) for a request outside the time window,
// IncompleteSignature (400) for UNSIGNED-PAYLOAD on a header-signed request,
// and SignatureDoesNotMatch (403) otherwise. It is safe for concurrent use.
func (a *Auth) Verify(r *http.Request, body []byte, secret string, now time.Time) error {
	if err := a.checkTime(now.UTC()); err != nil {
		return err
	}
	want, err := hex.DecodeString(a.Signature)
	if err != nil || len(want) != sha256.Size {
		return errMismatch()
	}
	hashes, err := a.payloadHashes(r, body)
	if err != nil {
		return err
	}

	date := a.Date.UTC()
	key := signingKey(secret, date, a.Region, a.Service)
	scope := date.Format(dateFormat) + "/" + a.Region + "/" + a.Service + "/" + scopeTerminator
	prefix := canonicalPrefix(r, a.SignedHeaders, a.Presigned)
	for _, h := range hashes {
		got := sign(key, stringToSign(date, scope, prefix, h))
		if hmac.Equal(got, want) {
			return nil
		}
	}
	return errMismatch()
}

// checkTime applies the MaxSkew window, or for a presigned URL with
// X-Amz-Expires, Date+Expires as the end of its validity.
func (a *Auth) checkTime(now time.Time) error {
	date := a.Date.UTC()
	if date.After(now.Add(MaxSkew)) {
		return errTooNew(date, now)
	}
	if a.Presigned && a.Expires > 0 {
		if now.After(date.Add(a.Expires)) {
			return errExpired("Request has expired.")
		}
		return nil
	}
	if now.After(date.Add(MaxSkew)) {
		return errTooOld(date, now)
	}
	return nil
}

// payloadHashes returns the payload hashes the client may have signed, most
// likely first.
func (a *Auth) payloadHashes(r *http.Request, body []byte) ([]string, error) {
	sum := sha256.Sum256(body)
	bodyHash := hex.EncodeToString(sum[:])
	claimed := r.Header.Get("X-Amz-Content-Sha256")
	switch {
	case claimed == "" && a.Presigned:
		return []string{bodyHash, UnsignedPayload}, nil
	case claimed == "":
		return []string{bodyHash}, nil
	case claimed == UnsignedPayload && a.Presigned:
		return []string{UnsignedPayload}, nil
	case claimed == UnsignedPayload:
		return nil, errIncomplete("x-amz-content-sha256 '%s' is only accepted on presigned URLs; sign the request body.", UnsignedPayload)
	case strings.EqualFold(claimed, bodyHash):
		// Signed as the client spelled it.
		return []string{claimed}, nil
	default:
		return nil, errPayloadHash()
	}
}
