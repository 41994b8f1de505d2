package awsquery

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"

	"github.com/isthmusnet/isthmus/awserr"
)

// Flavor is the wire dialect of a service.
type Flavor int

const (
	// EC2 is the "ec2" protocol: flat lists (Name.N), <ActionResponse> with
	// a <requestId>, and errors in <Response><Errors><Error>.
	EC2 Flavor = iota
	// Query is the "query" protocol of ELBv2, STS and SNS: Name.member.N
	// lists, <ActionResponse><ActionResult>, and <ErrorResponse> errors.
	Query
)

// Request is one authenticated API call.
type Request struct {
	Ctx       context.Context
	ID        string // request id
	Action    string
	Service   string // signing name: ec2, elasticloadbalancing, sts
	Region    string
	Account   string // the caller's 12-digit account id
	Principal string // the caller's ARN
	Form      url.Values
	Flavor    Flavor
}

// Action serves one operation: it decodes its input from r.Form and
// returns the output struct to write (nil for operations without output).
type Action func(r *Request) (any, error)

// Op adapts a typed handler to an Action.
func Op[I, O any](f func(r *Request, in *I) (*O, error)) Action {
	return func(r *Request) (any, error) {
		in := new(I)
		if err := Decode(r.Form, in, r.Flavor == EC2); err != nil {
			if e, ok := awserr.As(err); ok && e.Code == "MissingParameter" && r.Flavor == Query {
				// The Query services answer a missing member as a
				// validation failure, naming it in lowerCamel.
				return nil, awserr.New("ValidationError", "1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", lowerFirst(e.Param))
			}
			return nil, err
		}
		out, err := f(r, in)
		if err != nil || out == nil {
			return nil, err
		}
		return out, nil
	}
}

// Service is one API service: its names and its action table.
type Service struct {
	SigningName string // credential-scope service: "ec2"
	APIVersion  string
	Namespace   string // XML namespace of responses
	Flavor      Flavor
	Actions     map[string]Action
	// Anonymous names the actions that may be called without credentials
	// (as SNS's ConfirmSubscription may); they run with an empty Account.
	Anonymous map[string]bool
}

// MarshalResponse returns the HTTP body answering action with out.
func MarshalResponse(svc *Service, action, requestID string, out any) ([]byte, error) {
	var inner []byte
	if out != nil {
		v := reflect.ValueOf(out)
		for v.Kind() == reflect.Pointer {
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			return nil, fmt.Errorf("awsquery: output of %s is a %s, not a struct", action, v.Kind())
		}
		var b bytes.Buffer
		if err := encodeOutput(&b, v); err != nil {
			return nil, err
		}
		inner = b.Bytes()
	}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	switch svc.Flavor {
	case EC2:
		buf.WriteString("<" + action + "Response xmlns=\"" + svc.Namespace + "/\">")
		buf.WriteString("<requestId>" + requestID + "</requestId>")
		if out == nil {
			buf.WriteString("<return>true</return>")
		} else {
			buf.Write(inner)
		}
		buf.WriteString("</" + action + "Response>")
	case Query:
		buf.WriteString("<" + action + "Response xmlns=\"" + svc.Namespace + "\">")
		if out != nil {
			buf.WriteString("<" + action + "Result>")
			buf.Write(inner)
			buf.WriteString("</" + action + "Result>")
		}
		buf.WriteString("<ResponseMetadata><RequestId>" + requestID + "</RequestId></ResponseMetadata>")
		buf.WriteString("</" + action + "Response>")
	}
	return buf.Bytes(), nil
}

// WriteBody writes a successful response body.
func WriteBody(w http.ResponseWriter, requestID string, body []byte) error {
	h := w.Header()
	h.Set("Content-Type", "text/xml;charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("x-amzn-RequestId", requestID)
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(body)
	return err
}

// WriteError writes e in the flavor's error envelope; namespace is the
// service's XML namespace, which the Query flavour's <ErrorResponse>
// carries ("" when the service is not known yet).
func WriteError(w http.ResponseWriter, flavor Flavor, namespace, requestID string, e *awserr.Error) {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	switch flavor {
	case EC2:
		buf.WriteString("<Response><Errors><Error><Code>")
		xml.EscapeText(&buf, []byte(e.Code))
		buf.WriteString("</Code><Message>")
		xml.EscapeText(&buf, []byte(e.Message))
		buf.WriteString("</Message></Error></Errors><RequestID>" + requestID + "</RequestID></Response>")
	case Query:
		typ := "Sender"
		if e.Server {
			typ = "Receiver"
		}
		if namespace != "" {
			buf.WriteString("<ErrorResponse xmlns=\"" + namespace + "\"><Error><Type>" + typ + "</Type><Code>")
		} else {
			buf.WriteString("<ErrorResponse><Error><Type>" + typ + "</Type><Code>")
		}
		xml.EscapeText(&buf, []byte(e.Code))
		buf.WriteString("</Code><Message>")
		xml.EscapeText(&buf, []byte(e.Message))
		buf.WriteString("</Message></Error><RequestId>" + requestID + "</RequestId></ErrorResponse>")
	}
	h := w.Header()
	h.Set("Content-Type", "text/xml;charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("x-amzn-RequestId", requestID)
	w.WriteHeader(e.HTTPStatus())
	w.Write(buf.Bytes())
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}
