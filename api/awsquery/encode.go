package awsquery

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The response encoder. encoding/xml cannot leave out an empty list whose
// tag names a wrapper (`xml:"tagSet>item,omitempty"` always writes
// <tagSet></tagSet>), so responses are written by this small encoder over
// the same tags: nil pointers and empty lists are left out, lists go in
// their wrapper element with one element per item, timestamps are written
// as AWS writes them (ISO 8601, milliseconds, UTC). A field whose type
// implements xml.Marshaler is written by encoding/xml.

// TimeFormat is how AWS's Query APIs write timestamps.
const TimeFormat = "2006-01-02T15:04:05.000Z"

type fieldInfo struct {
	index   int
	name    string // element name
	item    string // list item element name, "" for flat lists
	flatten bool
}

var fieldCache sync.Map // reflect.Type → []fieldInfo

func fieldsOf(t reflect.Type) []fieldInfo {
	if v, ok := fieldCache.Load(t); ok {
		return v.([]fieldInfo)
	}
	var out []fieldInfo
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag, ok := f.Tag.Lookup("xml")
		if !ok {
			tag = f.Name
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || f.Name == "XMLName" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fi := fieldInfo{index: i, name: name, flatten: true}
		if outer, inner, ok := strings.Cut(name, ">"); ok {
			fi.name, fi.item, fi.flatten = outer, inner, false
		}
		out = append(out, fi)
	}
	fieldCache.Store(t, out)
	return out
}

var (
	timeType2     = reflect.TypeOf(time.Time{})
	marshalerType = reflect.TypeOf((*xml.Marshaler)(nil)).Elem()
)

// encodeOutput writes the members of an operation's output. Unlike nested
// lists, an empty list member of the output itself is written as an empty
// wrapper element, as AWS answers an empty Describe (<vpcSet/>), so that
// clients see an empty list rather than none.
func encodeOutput(buf *bytes.Buffer, v reflect.Value) error {
	for _, f := range fieldsOf(v.Type()) {
		fv := v.Field(f.index)
		if fv.Kind() == reflect.Slice && fv.Len() == 0 && !f.flatten && fv.Type().Elem().Kind() != reflect.Uint8 {
			open(buf, f.name)
			closeTag(buf, f.name)
			continue
		}
		if err := encodeField(buf, f, fv); err != nil {
			return err
		}
	}
	return nil
}

// encodeMembers writes the members of the struct v (not v's own element).
func encodeMembers(buf *bytes.Buffer, v reflect.Value) error {
	for _, f := range fieldsOf(v.Type()) {
		if err := encodeField(buf, f, v.Field(f.index)); err != nil {
			return err
		}
	}
	return nil
}

func encodeField(buf *bytes.Buffer, f fieldInfo, v reflect.Value) error {
	if v.Kind() == reflect.Slice && v.Type().Elem().Kind() != reflect.Uint8 {
		if v.Len() == 0 {
			return nil
		}
		if !f.flatten {
			open(buf, f.name)
		}
		item := f.item
		if f.flatten {
			item = f.name
		}
		for i := 0; i < v.Len(); i++ {
			if err := encodeValue(buf, item, v.Index(i)); err != nil {
				return err
			}
		}
		if !f.flatten {
			closeTag(buf, f.name)
		}
		return nil
	}
	return encodeValue(buf, f.name, v)
}

// encodeValue writes v as the element name, or nothing for a nil pointer,
// nil map or nil interface.
func encodeValue(buf *bytes.Buffer, name string, v reflect.Value) error {
	if v.Type().Implements(marshalerType) || reflect.PointerTo(v.Type()).Implements(marshalerType) && v.CanAddr() {
		if (v.Kind() == reflect.Pointer || v.Kind() == reflect.Map || v.Kind() == reflect.Interface) && v.IsNil() {
			return nil
		}
		enc := xml.NewEncoder(buf)
		if err := enc.EncodeElement(v.Interface(), xml.StartElement{Name: xml.Name{Local: name}}); err != nil {
			return err
		}
		return enc.Flush()
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return encodeValue(buf, name, v.Elem())
	case reflect.Map:
		return nil // maps are not written in responses (their tag is "-")
	case reflect.Struct:
		if v.Type() == timeType2 {
			open(buf, name)
			buf.WriteString(v.Interface().(time.Time).UTC().Format(TimeFormat))
			closeTag(buf, name)
			return nil
		}
		open(buf, name)
		if err := encodeMembers(buf, v); err != nil {
			return err
		}
		closeTag(buf, name)
		return nil
	}
	open(buf, name)
	switch v.Kind() {
	case reflect.String:
		xml.EscapeText(buf, []byte(v.String()))
	case reflect.Bool:
		buf.WriteString(strconv.FormatBool(v.Bool()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		buf.WriteString(strconv.FormatInt(v.Int(), 10))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		buf.WriteString(strconv.FormatUint(v.Uint(), 10))
	case reflect.Float32, reflect.Float64:
		buf.WriteString(strconv.FormatFloat(v.Float(), 'g', -1, 64))
	case reflect.Slice: // []byte: a blob
		buf.WriteString(base64.StdEncoding.EncodeToString(v.Bytes()))
	default:
		return fmt.Errorf("awsquery: cannot encode %s", v.Type())
	}
	closeTag(buf, name)
	return nil
}

func open(buf *bytes.Buffer, name string) {
	buf.WriteByte('<')
	buf.WriteString(name)
	buf.WriteByte('>')
}

func closeTag(buf *bytes.Buffer, name string) {
	buf.WriteString("</")
	buf.WriteString(name)
	buf.WriteByte('>')
}
