package awsquery

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/isthmusnet/isthmus/awserr"
)

// Limits on what one request may carry. They are far above anything the AWS
// SDKs send and keep a hostile request from costing more than it is worth.
const (
	MaxParams    = 10000 // form values in one request (net/url's own cap)
	MaxListIndex = 10000 // the N of Name.N
)

// protocolKeys are form keys that belong to the protocol, not to an
// operation's input.
var protocolKeys = map[string]bool{
	"Action": true, "Version": true,
	"X-Amz-Algorithm": true, "X-Amz-Credential": true, "X-Amz-Date": true,
	"X-Amz-Expires": true, "X-Amz-SignedHeaders": true, "X-Amz-Signature": true,
	"X-Amz-Security-Token": true, "AWSAccessKeyId": true, "SignatureVersion": true,
	"SignatureMethod": true, "Timestamp": true, "Signature": true,
}

// Decode fills in (a pointer to a generated input struct) from form, following
// the struct's `query` tags. It fails with MissingParameter for a required
// member that is absent, InvalidParameterValue for a value of the wrong type,
// and, when strict, UnknownParameter for a key no member claims (as EC2 does).
func Decode(form url.Values, in any, strict bool) error {
	n := 0
	for _, vs := range form {
		n += len(vs)
	}
	if n > MaxParams {
		return awserr.InvalidParameterValue("The request has %d parameters; at most %d are accepted.", n, MaxParams)
	}
	d := &decoder{form: form, used: make(map[string]bool, len(form))}
	d.keys = make([]string, 0, len(form))
	for k := range form {
		d.keys = append(d.keys, k)
	}
	sort.Strings(d.keys)
	if err := d.structure("", reflect.ValueOf(in).Elem()); err != nil {
		return err
	}
	if strict {
		for _, k := range d.keys {
			if !d.used[k] && !protocolKeys[k] {
				return awserr.New("UnknownParameter", "The parameter %s is not recognized", k)
			}
		}
	}
	return nil
}

type decoder struct {
	form url.Values
	keys []string // sorted
	used map[string]bool
}

// hasPrefix reports whether any key equals p or starts with p+".".
func (d *decoder) hasPrefix(p string) bool {
	i := sort.SearchStrings(d.keys, p)
	for ; i < len(d.keys) && strings.HasPrefix(d.keys[i], p); i++ {
		k := d.keys[i]
		if k == p || k[len(p)] == '.' {
			return true
		}
	}
	return false
}

// indexes returns the sorted distinct N of keys p.N[...].
func (d *decoder) indexes(p string) ([]int, error) {
	p += "."
	seen := map[int]bool{}
	var out []int
	for i := sort.SearchStrings(d.keys, p); i < len(d.keys) && strings.HasPrefix(d.keys[i], p); i++ {
		rest := d.keys[i][len(p):]
		if j := strings.IndexByte(rest, '.'); j >= 0 {
			rest = rest[:j]
		}
		n, err := strconv.Atoi(rest)
		if err != nil || n < 1 || n > MaxListIndex {
			// Not an index of this list: leave it for the unknown-parameter check.
			continue
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out, nil
}

type tag struct {
	name     string
	required bool
	mapKey   string
	mapValue string
}

func parseTag(s string) tag {
	var t tag
	name, opts, _ := strings.Cut(s, ",")
	t.required = opts == "required"
	parts := strings.Split(name, ";")
	t.name = parts[0]
	if len(parts) == 3 {
		t.mapKey, t.mapValue = parts[1], parts[2]
	}
	return t
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

func (d *decoder) structure(prefix string, v reflect.Value) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		raw, ok := f.Tag.Lookup("query")
		if !ok || raw == "-" {
			continue
		}
		tg := parseTag(raw)
		key := join(prefix, tg.name)
		present, err := d.value(key, tg, v.Field(i))
		if err != nil {
			return err
		}
		if !present && tg.required {
			return awserr.MissingParameter(firstSegment(tg.name))
		}
	}
	return nil
}

func firstSegment(s string) string {
	name, _, _ := strings.Cut(s, ".")
	return name
}

// value decodes the member at key into v and reports whether it was present.
func (d *decoder) value(key string, tg tag, v reflect.Value) (bool, error) {
	switch v.Kind() {
	case reflect.Pointer:
		elem := v.Type().Elem()
		if elem.Kind() == reflect.Struct && elem != timeType {
			if !d.hasPrefix(key) {
				return false, nil
			}
			nv := reflect.New(elem)
			if err := d.structure(key, nv.Elem()); err != nil {
				return false, err
			}
			v.Set(nv)
			return true, nil
		}
		s, ok := d.scalar(key)
		if !ok {
			return false, nil
		}
		nv := reflect.New(elem)
		if err := setScalar(key, s, nv.Elem()); err != nil {
			return false, err
		}
		v.Set(nv)
		return true, nil
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 { // blob
			s, ok := d.scalar(key)
			if !ok {
				return false, nil
			}
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return false, invalidValue(key, s, "Blob")
			}
			v.SetBytes(b)
			return true, nil
		}
		// An empty list is sent as "Name=" (botocore), without the
		// ".member" of a Query list, and is present.
		emptyKey := key
		if i := strings.LastIndexByte(tg.name, '.'); i >= 0 {
			emptyKey = key[:len(key)-(len(tg.name)-i)]
		}
		if vs, ok := d.form[emptyKey]; ok && len(vs) == 1 && vs[0] == "" {
			d.used[emptyKey] = true
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
			return true, nil
		}
		idx, err := d.indexes(key)
		if err != nil || len(idx) == 0 {
			return v.Len() > 0 || !v.IsNil(), err
		}
		s := reflect.MakeSlice(v.Type(), len(idx), len(idx))
		for j, n := range idx {
			ik := key + "." + strconv.Itoa(n)
			ev := s.Index(j)
			if ev.Kind() == reflect.Struct {
				if err := d.structure(ik, ev); err != nil {
					return false, err
				}
				continue
			}
			str, ok := d.scalar(ik)
			if !ok {
				continue
			}
			if err := setScalar(ik, str, ev); err != nil {
				return false, err
			}
		}
		v.Set(s)
		return true, nil
	case reflect.Map:
		idx, err := d.indexes(key)
		if err != nil || len(idx) == 0 {
			return false, err
		}
		m := reflect.MakeMapWithSize(v.Type(), len(idx))
		for _, n := range idx {
			ik := key + "." + strconv.Itoa(n)
			k, _ := d.scalar(ik + "." + tg.mapKey)
			val, _ := d.scalar(ik + "." + tg.mapValue)
			kv := reflect.New(v.Type().Key()).Elem()
			vv := reflect.New(v.Type().Elem()).Elem()
			if err := setScalar(ik, k, kv); err != nil {
				return false, err
			}
			if vv.Kind() == reflect.Struct && vv.Type() != timeType {
				// A structure value (SNS's MessageAttributes) is a nested member.
				if err := d.structure(ik+"."+tg.mapValue, vv); err != nil {
					return false, err
				}
			} else if err := setScalar(ik, val, vv); err != nil {
				return false, err
			}
			m.SetMapIndex(kv, vv)
		}
		v.Set(m)
		return true, nil
	}
	return false, fmt.Errorf("awsquery: cannot decode into %s", v.Type())
}

func (d *decoder) scalar(key string) (string, bool) {
	vs, ok := d.form[key]
	if !ok || len(vs) == 0 {
		return "", false
	}
	d.used[key] = true
	return vs[0], true
}

var timeType = reflect.TypeOf(time.Time{})

func setScalar(key, s string, v reflect.Value) error {
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		switch strings.ToLower(s) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			return invalidValue(key, s, "Boolean")
		}
	case reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if err != nil {
			return invalidValue(key, s, "Integer")
		}
		v.SetInt(n)
	case reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return invalidValue(key, s, "Double")
		}
		v.SetFloat(f)
	case reflect.Struct:
		if v.Type() == timeType {
			t, err := ParseTime(s)
			if err != nil {
				return invalidValue(key, s, "Timestamp")
			}
			v.Set(reflect.ValueOf(t))
			return nil
		}
		fallthrough
	default:
		return fmt.Errorf("awsquery: cannot decode %s into %s", key, v.Type())
	}
	return nil
}

// ParseTime accepts the timestamp forms the SDKs send (ISO 8601 with or
// without fractional seconds, or epoch seconds).
func ParseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("bad timestamp %q", s)
}

func invalidValue(key, s, want string) error {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return awserr.InvalidParameterValue("Value (%s) for parameter %s is invalid. Expected: '%s'.", s, key, want)
}
