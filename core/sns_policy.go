package core

// SNS policies: the topic access policy (who besides the owner may use a
// topic) and the HTTP/S delivery policy (how deliveries are retried).

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"strings"
)

// defaultTopicPolicy is the access policy SNS gives a new topic: every
// topic action for principals of the owner's account only.
func defaultTopicPolicy(arn, owner string) string {
	return `{"Version":"2008-10-17","Id":"__default_policy_ID","Statement":[{"Sid":"__default_statement_ID","Effect":"Allow","Principal":{"AWS":"*"},` +
		`"Action":["SNS:GetTopicAttributes","SNS:SetTopicAttributes","SNS:AddPermission","SNS:RemovePermission","SNS:DeleteTopic","SNS:Subscribe","SNS:ListSubscriptionsByTopic","SNS:Publish"],` +
		`"Resource":"` + arn + `","Condition":{"StringEquals":{"AWS:SourceOwner":"` + owner + `"}}}]}`
}

// stringList is an IAM policy value that is a string or a list of them.
type stringList []string

func (l *stringList) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*l = stringList{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return errors.New("expected a string or a list of strings")
	}
	*l = list
	return nil
}

type policyStatement struct {
	Sid       string                           `json:"Sid"`
	Effect    string                           `json:"Effect"`
	Principal json.RawMessage                  `json:"Principal"`
	Action    stringList                       `json:"Action"`
	NotAction stringList                       `json:"NotAction"`
	Resource  stringList                       `json:"Resource"`
	Condition map[string]map[string]stringList `json:"Condition"`
}

type accessPolicy struct {
	Version   string
	Statement []policyStatement
}

func (p *accessPolicy) UnmarshalJSON(b []byte) error {
	var raw struct {
		Version   string          `json:"Version"`
		Statement json.RawMessage `json:"Statement"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	p.Version = raw.Version
	if len(raw.Statement) == 0 {
		return errors.New("Statement is required")
	}
	if raw.Statement[0] == '{' {
		var st policyStatement
		if err := json.Unmarshal(raw.Statement, &st); err != nil {
			return err
		}
		p.Statement = []policyStatement{st}
		return nil
	}
	return json.Unmarshal(raw.Statement, &p.Statement)
}

// validateTopicPolicy checks an access policy's shape.
func validateTopicPolicy(doc string) error {
	if len(doc) > snsMaxPolicyLen {
		return fmt.Errorf("Policy is longer than %d characters", snsMaxPolicyLen)
	}
	var p accessPolicy
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return errors.New("null")
	}
	if len(p.Statement) == 0 {
		return errors.New("Statement is required")
	}
	for _, st := range p.Statement {
		if st.Effect != "Allow" && st.Effect != "Deny" {
			return fmt.Errorf("Invalid effect: %s", st.Effect)
		}
		if len(st.Principal) == 0 {
			return errors.New("Statement must have a Principal")
		}
		if len(st.Action) == 0 && len(st.NotAction) == 0 {
			return errors.New("Statement must have an Action")
		}
	}
	return nil
}

// topicAllows reports whether the caller may do action (Publish,
// Subscribe, ...) on t: its owner always may; anyone else needs a
// statement of the topic policy that allows it and none that denies it.
// Only the condition keys a direct call carries are evaluated; the
// AWS:SourceOwner of the default policy is absent for a direct call, so
// the default policy admits the owner's account only, as in SNS.
func topicAllows(t *Topic, who Caller, action string) bool {
	if who.Account != "" && who.Account == t.Owner {
		return true
	}
	if who.Account == "" {
		return false
	}
	var p accessPolicy
	if err := json.Unmarshal([]byte(t.Policy), &p); err != nil {
		return false
	}
	allowed := false
	for _, st := range p.Statement {
		if !principalMatches(st.Principal, who.Account) || !actionMatches(st, "sns:"+strings.ToLower(action)) || !resourceMatches(st.Resource, t.ARN()) {
			continue
		}
		holds, known := conditionHolds(st.Condition, who)
		switch st.Effect {
		case "Deny":
			if holds || !known {
				return false
			}
		case "Allow":
			if holds && known {
				allowed = true
			}
		}
	}
	return allowed
}

func principalMatches(raw json.RawMessage, account string) bool {
	var star string
	if json.Unmarshal(raw, &star) == nil {
		return star == "*"
	}
	var m map[string]stringList
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	for _, p := range m["AWS"] {
		if p == "*" || p == account || p == RootARN(account) || strings.HasPrefix(p, "arn:aws:iam::"+account+":") {
			return true
		}
	}
	return false
}

func actionMatches(st policyStatement, action string) bool {
	if len(st.NotAction) > 0 {
		for _, a := range st.NotAction {
			if wildcardMatch(strings.ToLower(a), action) {
				return false
			}
		}
		return true
	}
	for _, a := range st.Action {
		if wildcardMatch(strings.ToLower(a), action) {
			return true
		}
	}
	return false
}

func resourceMatches(resources stringList, arn string) bool {
	if len(resources) == 0 {
		return true
	}
	for _, r := range resources {
		if wildcardMatch(r, arn) {
			return true
		}
	}
	return false
}

// conditionHolds evaluates a statement's conditions for a direct call by
// who. known is false when an operator or key is not understood.
func conditionHolds(cond map[string]map[string]stringList, who Caller) (holds, known bool) {
	holds, known = true, true
	for op, keys := range cond {
		base := strings.TrimSuffix(op, "IfExists")
		for key, want := range keys {
			var have string
			present := true
			switch strings.ToLower(key) {
			case "aws:principalaccount":
				have = who.Account
			case "aws:principalarn":
				have = who.ARN
				if have == "" {
					have = RootARN(who.Account)
				}
			case "aws:sourceowner", "aws:sourceaccount", "aws:sourcearn", "aws:sourcevpce", "aws:sourcevpc":
				present = false // not carried by a direct API call
			default:
				known = false
				continue
			}
			if !present {
				if base == op { // without IfExists a missing key fails
					holds = false
				}
				continue
			}
			matched := false
			for _, w := range want {
				switch base {
				case "StringEquals", "ArnEquals", "StringNotEquals", "ArnNotEquals":
					matched = matched || have == w
				case "StringEqualsIgnoreCase":
					matched = matched || strings.EqualFold(have, w)
				case "StringLike", "ArnLike":
					matched = matched || wildcardMatch(w, have)
				}
			}
			switch base {
			case "StringEquals", "ArnEquals", "StringEqualsIgnoreCase", "StringLike", "ArnLike":
				holds = holds && matched
			case "StringNotEquals", "ArnNotEquals":
				holds = holds && !matched
			default:
				known = false
			}
		}
	}
	return holds, known
}

// SNSRetryPolicy is an HTTP/S delivery retry policy, in SNS's terms
// (delays in seconds).
type SNSRetryPolicy struct {
	MinDelayTarget     int    `json:"minDelayTarget"`
	MaxDelayTarget     int    `json:"maxDelayTarget"`
	NumRetries         int    `json:"numRetries"`
	NumMaxDelayRetries int    `json:"numMaxDelayRetries"`
	NumNoDelayRetries  int    `json:"numNoDelayRetries"`
	NumMinDelayRetries int    `json:"numMinDelayRetries"`
	BackoffFunction    string `json:"backoffFunction"`
}

// DefaultSNSRetryPolicy is SNS's default for HTTP/S: three retries, 20
// seconds apart.
var DefaultSNSRetryPolicy = SNSRetryPolicy{MinDelayTarget: 20, MaxDelayTarget: 20, NumRetries: 3, BackoffFunction: "linear"}

// DefaultSNSContentType is the Content-Type of HTTP/S deliveries unless a
// delivery policy's request policy says otherwise.
const DefaultSNSContentType = "text/plain; charset=UTF-8"

// Delays returns the wait, in seconds, before each retry: the immediate
// phase, the pre-backoff phase at the minimum delay, the backoff phase
// from the minimum to the maximum delay, then the post-backoff phase at
// the maximum. SNS documents its backoff curves only as graphs; linear is
// exact, exponential, geometric and arithmetic are close approximations.
func (p SNSRetryPolicy) Delays() []float64 {
	var out []float64
	for i := 0; i < p.NumNoDelayRetries; i++ {
		out = append(out, 0)
	}
	for i := 0; i < p.NumMinDelayRetries; i++ {
		out = append(out, float64(p.MinDelayTarget))
	}
	n := p.NumRetries - p.NumNoDelayRetries - p.NumMinDelayRetries - p.NumMaxDelayRetries
	lo, hi := float64(p.MinDelayTarget), float64(p.MaxDelayTarget)
	for i := 1; i <= n; i++ {
		f := float64(i) / float64(n)
		var d float64
		switch p.BackoffFunction {
		case "exponential":
			d = lo + (hi-lo)*(math.Exp2(float64(i))-1)/(math.Exp2(float64(n))-1)
		case "geometric":
			d = lo * math.Pow(hi/lo, f)
		case "arithmetic":
			d = lo + (hi-lo)*f*f
		default: // linear
			d = lo + (hi-lo)*f
		}
		out = append(out, d)
	}
	for i := 0; i < p.NumMaxDelayRetries; i++ {
		out = append(out, hi)
	}
	return out
}

// retryPolicyInput is a retry policy as a user writes it: every member
// optional.
type retryPolicyInput struct {
	MinDelayTarget     *int    `json:"minDelayTarget"`
	MaxDelayTarget     *int    `json:"maxDelayTarget"`
	NumRetries         *int    `json:"numRetries"`
	NumMaxDelayRetries *int    `json:"numMaxDelayRetries"`
	NumNoDelayRetries  *int    `json:"numNoDelayRetries"`
	NumMinDelayRetries *int    `json:"numMinDelayRetries"`
	BackoffFunction    *string `json:"backoffFunction"`
}

func (in *retryPolicyInput) apply(p SNSRetryPolicy) SNSRetryPolicy {
	if in == nil {
		return p
	}
	set := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	set(&p.MinDelayTarget, in.MinDelayTarget)
	set(&p.MaxDelayTarget, in.MaxDelayTarget)
	set(&p.NumRetries, in.NumRetries)
	set(&p.NumMaxDelayRetries, in.NumMaxDelayRetries)
	set(&p.NumNoDelayRetries, in.NumNoDelayRetries)
	set(&p.NumMinDelayRetries, in.NumMinDelayRetries)
	if in.BackoffFunction != nil {
		p.BackoffFunction = *in.BackoffFunction
	}
	return p
}

type requestPolicy struct {
	HeaderContentType string `json:"headerContentType,omitempty"`
}

type throttlePolicy struct {
	MaxReceivesPerSecond int `json:"maxReceivesPerSecond,omitempty"`
}

// topicDeliveryPolicy is a topic's DeliveryPolicy attribute.
type topicDeliveryPolicy struct {
	HTTP *struct {
		DefaultHealthyRetryPolicy    *retryPolicyInput `json:"defaultHealthyRetryPolicy"`
		DisableSubscriptionOverrides bool              `json:"disableSubscriptionOverrides"`
		DefaultThrottlePolicy        *throttlePolicy   `json:"defaultThrottlePolicy"`
		DefaultRequestPolicy         *requestPolicy    `json:"defaultRequestPolicy"`
	} `json:"http"`
}

// subscriptionDeliveryPolicy is a subscription's DeliveryPolicy attribute.
type subscriptionDeliveryPolicy struct {
	HealthyRetryPolicy *retryPolicyInput `json:"healthyRetryPolicy"`
	ThrottlePolicy     *throttlePolicy   `json:"throttlePolicy"`
	RequestPolicy      *requestPolicy    `json:"requestPolicy"`
}

func checkRetryPolicy(in *retryPolicyInput) error {
	if in == nil {
		return nil
	}
	p := in.apply(DefaultSNSRetryPolicy)
	switch {
	case p.MinDelayTarget < 1:
		return errors.New("minDelayTarget must be at least 1")
	case p.MaxDelayTarget < p.MinDelayTarget:
		return errors.New("maxDelayTarget must be greater than or equal to minDelayTarget")
	case p.MaxDelayTarget > 3600:
		return errors.New("maxDelayTarget must be at most 3600")
	case p.NumRetries < 0 || p.NumRetries > 100:
		return errors.New("numRetries must be between 0 and 100")
	case p.NumNoDelayRetries < 0 || p.NumMinDelayRetries < 0 || p.NumMaxDelayRetries < 0:
		return errors.New("retry counts must not be negative")
	case p.NumNoDelayRetries+p.NumMinDelayRetries+p.NumMaxDelayRetries > p.NumRetries:
		return errors.New("numRetries must be at least the sum of numNoDelayRetries, numMinDelayRetries and numMaxDelayRetries")
	}
	switch p.BackoffFunction {
	case "linear", "arithmetic", "geometric", "exponential":
	default:
		return fmt.Errorf("backoffFunction %s is not one of linear, arithmetic, geometric, exponential", p.BackoffFunction)
	}
	total := 0.0
	for _, d := range p.Delays() {
		total += d
	}
	if total > 3600 {
		return errors.New("the total retry time must not exceed 3600 seconds")
	}
	return nil
}

func checkRequestPolicy(rp *requestPolicy) error {
	if rp == nil || rp.HeaderContentType == "" {
		return nil
	}
	if _, _, err := mime.ParseMediaType(rp.HeaderContentType); err != nil {
		return fmt.Errorf("headerContentType %s is not a valid content type", rp.HeaderContentType)
	}
	return nil
}

func parseTopicDeliveryPolicy(doc string) (topicDeliveryPolicy, error) {
	var p topicDeliveryPolicy
	if doc == "" {
		return p, nil
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return p, errors.New("failed to parse JSON")
	}
	return p, nil
}

func validateTopicDeliveryPolicy(doc string) error {
	p, err := parseTopicDeliveryPolicy(doc)
	if err != nil {
		return err
	}
	if p.HTTP == nil {
		return nil
	}
	if err := checkRetryPolicy(p.HTTP.DefaultHealthyRetryPolicy); err != nil {
		return err
	}
	return checkRequestPolicy(p.HTTP.DefaultRequestPolicy)
}

func parseSubscriptionDeliveryPolicy(doc string) (subscriptionDeliveryPolicy, error) {
	var p subscriptionDeliveryPolicy
	if doc == "" {
		return p, nil
	}
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return p, errors.New("failed to parse JSON")
	}
	return p, nil
}

func validateSubscriptionDeliveryPolicy(doc string) error {
	p, err := parseSubscriptionDeliveryPolicy(doc)
	if err != nil {
		return err
	}
	if err := checkRetryPolicy(p.HealthyRetryPolicy); err != nil {
		return err
	}
	return checkRequestPolicy(p.RequestPolicy)
}

// effectiveTopicDeliveryPolicy is the EffectiveDeliveryPolicy attribute of
// a topic: SNS's defaults with the topic's own policy applied.
func effectiveTopicDeliveryPolicy(doc string) string {
	p, _ := parseTopicDeliveryPolicy(doc)
	type httpPolicy struct {
		DefaultHealthyRetryPolicy    SNSRetryPolicy  `json:"defaultHealthyRetryPolicy"`
		DisableSubscriptionOverrides bool            `json:"disableSubscriptionOverrides"`
		DefaultThrottlePolicy        *throttlePolicy `json:"defaultThrottlePolicy,omitempty"`
		DefaultRequestPolicy         requestPolicy   `json:"defaultRequestPolicy"`
	}
	out := httpPolicy{DefaultHealthyRetryPolicy: DefaultSNSRetryPolicy, DefaultRequestPolicy: requestPolicy{HeaderContentType: DefaultSNSContentType}}
	if p.HTTP != nil {
		out.DefaultHealthyRetryPolicy = p.HTTP.DefaultHealthyRetryPolicy.apply(out.DefaultHealthyRetryPolicy)
		out.DisableSubscriptionOverrides = p.HTTP.DisableSubscriptionOverrides
		out.DefaultThrottlePolicy = p.HTTP.DefaultThrottlePolicy
		if rp := p.HTTP.DefaultRequestPolicy; rp != nil && rp.HeaderContentType != "" {
			out.DefaultRequestPolicy = *rp
		}
	}
	b, _ := json.Marshal(map[string]httpPolicy{"http": out})
	return string(b)
}

// subscriptionDelivery is how one subscription's deliveries are made:
// the retry policy and Content-Type that apply, from the topic's and the
// subscription's delivery policies.
func subscriptionDelivery(topicDoc, subDoc string) (SNSRetryPolicy, string) {
	retry, contentType := DefaultSNSRetryPolicy, DefaultSNSContentType
	tp, _ := parseTopicDeliveryPolicy(topicDoc)
	overrides := true
	if tp.HTTP != nil {
		retry = tp.HTTP.DefaultHealthyRetryPolicy.apply(retry)
		if rp := tp.HTTP.DefaultRequestPolicy; rp != nil && rp.HeaderContentType != "" {
			contentType = rp.HeaderContentType
		}
		overrides = !tp.HTTP.DisableSubscriptionOverrides
	}
	sp, _ := parseSubscriptionDeliveryPolicy(subDoc)
	if overrides {
		retry = sp.HealthyRetryPolicy.apply(retry)
	}
	if rp := sp.RequestPolicy; rp != nil && rp.HeaderContentType != "" {
		contentType = rp.HeaderContentType
	}
	return retry, contentType
}

// effectiveSubscriptionDeliveryPolicy is the EffectiveDeliveryPolicy
// attribute of an HTTP/S subscription, in SNS's shape.
func effectiveSubscriptionDeliveryPolicy(topicDoc, subDoc string) string {
	retry, contentType := subscriptionDelivery(topicDoc, subDoc)
	out := struct {
		HealthyRetryPolicy SNSRetryPolicy  `json:"healthyRetryPolicy"`
		SicklyRetryPolicy  *struct{}       `json:"sicklyRetryPolicy"`
		ThrottlePolicy     *throttlePolicy `json:"throttlePolicy"`
		RequestPolicy      *requestPolicy  `json:"requestPolicy,omitempty"`
		Guaranteed         bool            `json:"guaranteed"`
	}{HealthyRetryPolicy: retry}
	if contentType != DefaultSNSContentType {
		out.RequestPolicy = &requestPolicy{HeaderContentType: contentType}
	}
	if sp, _ := parseSubscriptionDeliveryPolicy(subDoc); sp.ThrottlePolicy != nil {
		out.ThrottlePolicy = sp.ThrottlePolicy
	}
	b, _ := json.Marshal(out)
	return string(b)
}
