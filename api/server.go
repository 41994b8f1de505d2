// Package api is Isthmus's HTTP front: it reads a Query-protocol request,
// authenticates it (SigV4, or the open mode of local test harnesses), picks
// the service from the credential scope and the region it is served in,
// and dispatches the action through that service's table. Cross-cutting
// concerns — body limits, request ids, the error envelope, ClientToken
// idempotency — are handled here once.
package api

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/isthmusnet/isthmus/api/awsquery"
	"github.com/isthmusnet/isthmus/api/sigv4"
	"github.com/isthmusnet/isthmus/awserr"
	"github.com/isthmusnet/isthmus/core"
)

// MaxBodyBytes is the largest request body accepted. AWS's largest Query
// parameters (policy documents, 20 KiB) fit with room to spare.
const MaxBodyBytes = 1 << 20

// Auth modes.
const (
	AuthSigV4 = "sigv4"
	AuthOpen  = "open"
)

// Options configure a Server.
type Options struct {
	Cloud *core.Cloud
	// Auth is AuthSigV4 (verify every signature) or AuthOpen (accept any
	// credentials: a 12-digit access key id selects that account, anything
	// else DefaultAccount).
	Auth           string
	DefaultAccount string
	// DefaultRegion serves unsigned requests in open mode.
	DefaultRegion string
	Services      []*awsquery.Service
	Logger        *slog.Logger
	Now           func() time.Time
}

// Server serves the AWS Query APIs over HTTP.
type Server struct {
	opts      Options
	log       *slog.Logger
	now       func() time.Time
	bySigning map[string]*awsquery.Service
	byVersion map[string]*awsquery.Service
	tokens    keyedMutex
}

// NewServer returns a Server.
func NewServer(opts Options) (*Server, error) {
	if opts.Auth != AuthSigV4 && opts.Auth != AuthOpen {
		return nil, fmt.Errorf("api: unknown auth mode %q (want %s or %s)", opts.Auth, AuthSigV4, AuthOpen)
	}
	if opts.DefaultAccount == "" {
		opts.DefaultAccount = "000000000000"
	}
	if !core.IsAccountID(opts.DefaultAccount) {
		return nil, fmt.Errorf("api: default account %q is not a 12-digit account id", opts.DefaultAccount)
	}
	if opts.DefaultRegion == "" {
		opts.DefaultRegion = "us-east-1"
	}
	s := &Server{opts: opts, log: opts.Logger, now: opts.Now, bySigning: map[string]*awsquery.Service{}, byVersion: map[string]*awsquery.Service{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	for _, svc := range opts.Services {
		s.bySigning[svc.SigningName] = svc
		s.byVersion[svc.APIVersion] = svc
	}
	return s, nil
}

// ServeHTTP serves one request. Every failure is answered in AWS's envelope
// with AWS's code; nothing here panics on bad input.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	flavor, namespace := awsquery.Query, ""
	fail := func(err error) {
		e, ok := awserr.As(err)
		if !ok {
			s.log.Error("internal error", "request_id", reqID, "err", err)
			e = awserr.Internal()
		}
		awsquery.WriteError(w, flavor, namespace, reqID, e)
	}
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic serving request", "request_id", reqID, "panic", p)
			fail(fmt.Errorf("panic: %v", p))
		}
	}()

	body, form, err := readForm(w, r)
	if err != nil {
		if form != nil && s.byVersion[form.Get("Version")] != nil {
			flavor = s.byVersion[form.Get("Version")].Flavor
		}
		fail(err)
		return
	}
	auth, authErr := sigv4.Parse(r)
	svc, region := s.route(auth, form, r)
	if svc == nil {
		fail(awserr.New("InvalidAction", "The action or operation requested is not valid for this endpoint."))
		return
	}
	flavor, namespace = svc.Flavor, svc.Namespace

	var account, principal string
	if auth != nil || !svc.Anonymous[form.Get("Action")] {
		account, principal, err = s.authenticate(r, body, auth, authErr, svc)
		if err != nil {
			fail(err)
			return
		}
	}
	if _, ok := s.opts.Cloud.Region(region); !ok {
		fail(awserr.WithStatus(http.StatusUnauthorized, "AuthFailure", "The region '%s' is not served by this endpoint.", region))
		return
	}

	action := form.Get("Action")
	if action == "" {
		fail(awserr.New("MissingAction", "The request must contain the parameter Action"))
		return
	}
	fn, ok := svc.Actions[action]
	if !ok {
		fail(awserr.New("InvalidAction", "The action %s is not valid for this web service.", action))
		return
	}
	req := &awsquery.Request{
		Ctx: r.Context(), ID: reqID, Action: action, Service: svc.SigningName, Region: region,
		Account: account, Principal: principal, Form: form, Flavor: svc.Flavor,
	}
	body, err = s.call(svc, fn, req)
	if err != nil {
		fail(err)
		return
	}
	if err := awsquery.WriteBody(w, reqID, body); err != nil {
		s.log.Debug("writing response", "request_id", reqID, "err", err)
	}
}

// call runs the action and marshals its answer, honouring ClientToken: a
// retry with the same token and parameters gets the first answer (with its
// own request id); other parameters are IdempotentParameterMismatch. Calls
// with one token are serialized so that two concurrent retries cannot both
// create.
func (s *Server) call(svc *awsquery.Service, fn awsquery.Action, req *awsquery.Request) ([]byte, error) {
	token := req.Form.Get("ClientToken")
	if token == "" || isDryRun(req.Form) {
		out, err := fn(req)
		if err != nil {
			return nil, err
		}
		return awsquery.MarshalResponse(svc, req.Action, req.ID, out)
	}
	if len(token) > 64 {
		return nil, awserr.InvalidParameterValue("Value (%s) for parameter clientToken is invalid. Length exceeds maximum of 64.", token)
	}
	unlock := s.tokens.lock(req.Region + "/" + req.Account + "/" + token)
	defer unlock()
	hash := paramsHash(req.Form)
	rec, ok, err := s.opts.Cloud.LookupClientToken(req.Region, req.Account, req.Action, token)
	if err != nil {
		return nil, err
	}
	if ok {
		if rec.ParamsHash != hash {
			return nil, awserr.New("IdempotentParameterMismatch", "The client token you have provided is associated with a resource that is already deleted or has different parameters. Please use a different client token.")
		}
		return bytes.ReplaceAll(rec.Response, []byte(rec.RequestID), []byte(req.ID)), nil
	}
	out, err := fn(req)
	if err != nil {
		return nil, err
	}
	body, err := awsquery.MarshalResponse(svc, req.Action, req.ID, out)
	if err != nil {
		return nil, err
	}
	if err := s.opts.Cloud.SaveClientToken(req.Region, req.Account, req.Action, token, &core.TokenRecord{ParamsHash: hash, Response: body, RequestID: req.ID}); err != nil {
		s.log.Warn("saving client token", "request_id", req.ID, "err", err)
	}
	return body, nil
}

func isDryRun(form url.Values) bool {
	return strings.EqualFold(form.Get("DryRun"), "true")
}

// paramsHash identifies a call's parameters, without the protocol's own.
func paramsHash(form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		if !strings.HasPrefix(k, "X-Amz-") && k != "Version" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%q=%q\n", k, form[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// keyedMutex serializes work per key.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*keyedEntry{}
	}
	e := k.locks[key]
	if e == nil {
		e = &keyedEntry{}
		k.locks[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}

// readForm reads the body (at most MaxBodyBytes) and merges a form-encoded
// body with the URL's query parameters.
func readForm(w http.ResponseWriter, r *http.Request) ([]byte, url.Values, error) {
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		return nil, nil, awserr.WithStatus(http.StatusMethodNotAllowed, "InvalidHttpRequest", "The HTTP method %s is not supported", r.Method)
	}
	form, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, nil, awserr.New("MalformedQueryString", "The query string is malformed")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, form, awserr.WithStatus(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "The request body exceeds %d bytes", MaxBodyBytes)
		}
		return nil, form, awserr.New("IncompleteBody", "The request body could not be read")
	}
	if len(body) > 0 {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if ct != "" && ct != "application/x-www-form-urlencoded" {
			return body, form, awserr.New("InvalidHttpRequest", "Unsupported Content-Type %q", ct)
		}
		if bytes.Count(body, []byte("&"))+len(form) >= awsquery.MaxParams {
			return body, form, awserr.InvalidParameterValue("The request has more than %d parameters.", awsquery.MaxParams)
		}
		bf, err := url.ParseQuery(string(body))
		if err != nil {
			return body, form, awserr.New("MalformedQueryString", "The request body is not a valid form")
		}
		for k, vs := range bf {
			form[k] = append(form[k], vs...)
		}
	}
	return body, form, nil
}

// route picks the service and region: from the credential scope when the
// request is signed, else (open mode's unsigned requests) from the API
// version.
func (s *Server) route(auth *sigv4.Auth, form url.Values, r *http.Request) (*awsquery.Service, string) {
	if auth != nil {
		svc := s.bySigning[auth.Service]
		if svc == nil {
			return nil, ""
		}
		return svc, auth.Region
	}
	return s.byVersion[form.Get("Version")], s.opts.DefaultRegion
}

// authenticate returns the caller's account and principal ARN.
func (s *Server) authenticate(r *http.Request, body []byte, auth *sigv4.Auth, parseErr error, svc *awsquery.Service) (string, string, error) {
	if s.opts.Auth == AuthOpen {
		acct := s.opts.DefaultAccount
		if auth != nil && core.IsAccountID(auth.AccessKeyID) {
			acct = auth.AccessKeyID
		}
		return acct, core.RootARN(acct), nil
	}
	if parseErr != nil {
		return "", "", parseErr
	}
	key, ok, err := s.opts.Cloud.LookupKey(auth.AccessKeyID)
	if err != nil {
		return "", "", err
	}
	if !ok {
		if svc.Flavor == awsquery.EC2 {
			return "", "", awserr.WithStatus(http.StatusUnauthorized, "AuthFailure", "AWS was not able to validate the provided access credentials")
		}
		return "", "", awserr.WithStatus(http.StatusForbidden, "InvalidClientTokenId", "The security token included in the request is invalid.")
	}
	if err := auth.Verify(r, body, key.Secret, s.now()); err != nil {
		return "", "", err
	}
	return key.Account, core.RootARN(key.Account), nil
}

// newRequestID returns a request id in AWS's UUID form.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return strings.Join([]string{h[0:8], h[8:12], h[12:16], h[16:20], h[20:32]}, "-")
}
