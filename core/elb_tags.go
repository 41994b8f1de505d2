package core

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/isthmusnet/isthmus/awserr"
)

// Tags of ELB resources (load balancers, target groups, listeners), named
// by ARN. ELB's limits: 50 tags per resource, keys of 1 to 128 and values
// of up to 256 characters from its model's pattern, "aws:" reserved.

const maxELBTags = 50

var elbTagRE = regexp.MustCompile(`^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`)

const elbTagPattern = `^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$`

// checkELBTags validates the tags of one request: AWS's field constraints
// and no key given twice.
func checkELBTags(tags []Tag) error {
	seen := map[string]bool{}
	for i, t := range tags {
		field := "tags." + itoa(int32(i+1)) + ".member"
		switch n := utf8.RuneCountInString(t.Key); {
		case n < 1:
			return elbValidation("1 validation error detected: Value '' at '%s.key' failed to satisfy constraint: Member must have length greater than or equal to 1", field)
		case n > 128:
			return elbValidation("1 validation error detected: Value '%s' at '%s.key' failed to satisfy constraint: Member must have length less than or equal to 128", t.Key, field)
		case !elbTagRE.MatchString(t.Key):
			return elbValidation("1 validation error detected: Value '%s' at '%s.key' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", t.Key, field, elbTagPattern)
		case strings.HasPrefix(strings.ToLower(t.Key), "aws:"):
			return elbValidation("Tag keys starting with 'aws:' are reserved for internal use: '%s'", t.Key)
		}
		switch {
		case utf8.RuneCountInString(t.Value) > 256:
			return elbValidation("1 validation error detected: Value '%s' at '%s.value' failed to satisfy constraint: Member must have length less than or equal to 256", t.Value, field)
		case !elbTagRE.MatchString(t.Value):
			return elbValidation("1 validation error detected: Value '%s' at '%s.value' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", t.Value, field, elbTagPattern)
		}
		if seen[t.Key] {
			return awserr.New("DuplicateTagKeys", "Tag key was specified more than once: %s", t.Key)
		}
		seen[t.Key] = true
	}
	if len(tags) > maxELBTags {
		return tooManyTags()
	}
	return nil
}

func tooManyTags() error {
	return awserr.New("TooManyTags", "The quota for the number of tags that can be assigned to a resource has been reached (%d)", maxELBTags)
}

// taggedELB is one ELB resource loaded by ARN for a tag call.
type taggedELB struct {
	k   *kind
	obj Object
}

// loadTaggedELB loads the caller's resource named by arn: a load balancer,
// target group or listener, with the NotFound code of its type.
func (tx *Tx) loadTaggedELB(arn string) (taggedELB, error) {
	res, path, ok := parseELBARN(arn)
	if !ok {
		return taggedELB{}, elbValidation("'%s' is not a valid resource ARN", arn)
	}
	switch res {
	case "loadbalancer":
		lb, err := tx.loadLoadBalancer(arn)
		if err != nil {
			return taggedELB{}, err
		}
		return taggedELB{kindLoadBalancer, lb}, nil
	case "targetgroup":
		tg, err := tx.loadTargetGroup(arn)
		if err != nil {
			return taggedELB{}, err
		}
		return taggedELB{kindTargetGroup, tg}, nil
	case "listener":
		l, err := tx.loadListener(arn)
		if err != nil {
			return taggedELB{}, err
		}
		return taggedELB{kindListener, l}, nil
	case "listener-rule":
		// Network and gateway load balancers have no rules besides
		// their listeners' defaults, which have no ARNs here.
		if len(path) != 6 || !isLBTypeSegment(path[0]) {
			return taggedELB{}, elbValidation("'%s' is not a valid listener rule ARN", arn)
		}
		return taggedELB{}, awserr.New("RuleNotFound", "One or more rules not found")
	case "truststore":
		return taggedELB{}, awserr.New("TrustStoreNotFound", "One or more trust stores not found")
	}
	return taggedELB{}, elbValidation("'%s' is not a valid resource ARN", arn)
}

func checkResourceARNs(arns []string) error {
	switch {
	case len(arns) == 0:
		return elbValidation("At least one resource ARN must be specified")
	case len(arns) > maxDescribeARNs:
		return elbValidation("1 validation error detected: Value at 'resourceArns' failed to satisfy constraint: Member must have length less than or equal to %d", maxDescribeARNs)
	}
	return nil
}

// AddTags adds or overwrites tags on ELB resources. Every resource must
// exist and be the caller's; otherwise nothing changes.
func (c *Cloud) AddTags(who Caller, arns []string, tags []Tag) error {
	if err := checkResourceARNs(arns); err != nil {
		return err
	}
	if len(tags) == 0 {
		return elbValidation("At least one tag must be specified")
	}
	if err := checkELBTags(tags); err != nil {
		return err
	}
	return c.update(who, func(tx *Tx) error {
		for _, arn := range arns {
			r, err := tx.loadTaggedELB(arn)
			if err != nil {
				return err
			}
			m := r.obj.meta()
			m.Tags = mergeTags(m.Tags, tags)
			if len(m.Tags) > maxELBTags {
				return tooManyTags()
			}
			if err := tx.save(r.k, r.obj); err != nil {
				return err
			}
		}
		return nil
	})
}

// RemoveTags removes tag keys from ELB resources; keys a resource does not
// have are ignored.
func (c *Cloud) RemoveTags(who Caller, arns []string, keys []string) error {
	if err := checkResourceARNs(arns); err != nil {
		return err
	}
	if len(keys) == 0 {
		return elbValidation("At least one tag key must be specified")
	}
	return c.update(who, func(tx *Tx) error {
		for _, arn := range arns {
			r, err := tx.loadTaggedELB(arn)
			if err != nil {
				return err
			}
			m := r.obj.meta()
			var kept []Tag
			for _, t := range m.Tags {
				if !containsString(keys, t.Key) {
					kept = append(kept, t)
				}
			}
			m.Tags = kept
			if err := tx.save(r.k, r.obj); err != nil {
				return err
			}
		}
		return nil
	})
}

// ResourceTags are the tags of one ELB resource.
type ResourceTags struct {
	ARN  string
	Tags []Tag
}

// DescribeELBTags returns the tags of each resource, in the order asked.
func (c *Cloud) DescribeELBTags(who Caller, arns []string) ([]ResourceTags, error) {
	if err := checkResourceARNs(arns); err != nil {
		return nil, err
	}
	var out []ResourceTags
	err := c.view(who, func(tx *Tx) error {
		for _, arn := range arns {
			r, err := tx.loadTaggedELB(arn)
			if err != nil {
				return err
			}
			out = append(out, ResourceTags{ARN: arn, Tags: r.obj.meta().Tags})
		}
		return nil
	})
	return out, err
}
