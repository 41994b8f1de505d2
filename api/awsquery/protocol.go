package awsquery

import (
	"bytes"
	"context"
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"

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
		var b bytes.Buffer
		if err := xml.NewEncoder(&b).EncodeElement(out, xml.StartElement{Name: xml.Name{Local: "R"}}); err != nil {
			return nil, err
		}
		// Strip the <R> wrapper: what is left are the output's members.
		inner = b.Bytes()[len("<R>") : b.Len()-len("</R>")]
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

// WriteError writes e in the flavor's error envelope.
func WriteError(w http.ResponseWriter, flavor Flavor, requestID string, e *awserr.Error) {
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
		buf.WriteString("<ErrorResponse><Error><Type>" + typ + "</Type><Code>")
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
