package awsquery

import (
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/isthmusnet/isthmus/awserr"
)

// Shapes in the form tools/awsgen writes them.
type filter struct {
	Name   *string  `query:"Name" xml:"name,omitempty"`
	Values []string `query:"Value" xml:"valueSet>item,omitempty"`
}

type ec2Input struct {
	DryRun     *bool      `query:"DryRun" xml:"dryRun,omitempty"`
	Filters    []filter   `query:"Filter" xml:"Filter>Filter,omitempty"`
	MaxResults *int32     `query:"MaxResults" xml:"MaxResults,omitempty"`
	VpcIds     []string   `query:"VpcId" xml:"VpcId>VpcId,omitempty"`
	CidrBlock  *string    `query:"CidrBlock,required" xml:"cidrBlock,omitempty"`
	Nested     *nested    `query:"Nested" xml:"nested,omitempty"`
	When       *time.Time `query:"When" xml:"when,omitempty"`
	Blob       []byte     `query:"Blob" xml:"blob,omitempty"`
}

type nested struct {
	Value *int64 `query:"Value" xml:"value,omitempty"`
}

type queryInput struct {
	Names      []string          `query:"Names.member" xml:"Names>member,omitempty"`
	Attributes map[string]string `query:"Attributes.entry;key;value" xml:"-"`
	PageSize   *int32            `query:"PageSize" xml:"PageSize,omitempty"`
}

func s(v string) *string { return &v }

func TestDecodeEC2(t *testing.T) {
	form, _ := url.ParseQuery("Action=DescribeVpcs&Version=2016-11-15&DryRun=true&CidrBlock=10.0.0.0/16" +
		"&Filter.2.Name=tag:Name&Filter.2.Value.1=b&Filter.1.Name=vpc-id&Filter.1.Value.2=y&Filter.1.Value.1=x" +
		"&VpcId.10=vpc-10&VpcId.2=vpc-2&MaxResults=5&Nested.Value=7&When=2026-11-26T06:00:00Z&Blob=aGk=")
	var in ec2Input
	if err := Decode(form, &in, true); err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)
	seven := int64(7)
	tr, five := true, int32(5)
	want := ec2Input{
		DryRun:     &tr,
		Filters:    []filter{{Name: s("vpc-id"), Values: []string{"x", "y"}}, {Name: s("tag:Name"), Values: []string{"b"}}},
		MaxResults: &five,
		VpcIds:     []string{"vpc-2", "vpc-10"},
		CidrBlock:  s("10.0.0.0/16"),
		Nested:     &nested{Value: &seven},
		When:       &when,
		Blob:       []byte("hi"),
	}
	if !reflect.DeepEqual(in, want) {
		t.Fatalf("got %+v\nwant %+v", in, want)
	}
}

func TestDecodeQuery(t *testing.T) {
	form, _ := url.ParseQuery("Names.member.1=a&Names.member.2=b&Attributes.entry.1.key=k1&Attributes.entry.1.value=v1&PageSize=3")
	var in queryInput
	if err := Decode(form, &in, false); err != nil {
		t.Fatal(err)
	}
	three := int32(3)
	want := queryInput{Names: []string{"a", "b"}, Attributes: map[string]string{"k1": "v1"}, PageSize: &three}
	if !reflect.DeepEqual(in, want) {
		t.Fatalf("got %+v, want %+v", in, want)
	}
	// botocore sends an empty list as "Names=": present and empty.
	form, _ = url.ParseQuery("Names=")
	in = queryInput{}
	if err := Decode(form, &in, false); err != nil || in.Names == nil || len(in.Names) != 0 {
		t.Fatalf("empty list: %#v, %v", in.Names, err)
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		form, code string
	}{
		{"", "MissingParameter"},
		{"CidrBlock=x&MaxResults=abc", "InvalidParameterValue"},
		{"CidrBlock=x&DryRun=yes", "InvalidParameterValue"},
		{"CidrBlock=x&When=yesterday", "InvalidParameterValue"},
		{"CidrBlock=x&Blob=!!", "InvalidParameterValue"},
		{"CidrBlock=x&Nested.Value=99999999999999999999", "InvalidParameterValue"},
		{"CidrBlock=x&Colour=red", "UnknownParameter"},
		{"CidrBlock=x&VpcId.0=vpc-1", "UnknownParameter"},
		{"CidrBlock=x&VpcId.99999=vpc-1", "UnknownParameter"},
		{"CidrBlock=x&Filter.1.Bogus=1", "UnknownParameter"},
	} {
		form, _ := url.ParseQuery(tc.form)
		var in ec2Input
		err := Decode(form, &in, true)
		if e, ok := awserr.As(err); !ok || e.Code != tc.code {
			t.Errorf("Decode(%q) = %v, want %s", tc.form, err, tc.code)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("Filter.1.Name=a&Filter.1.Value.1=b&VpcId.1=x&CidrBlock=c&Nested.Value=1")
	f.Add("Names.member.1=a&Attributes.entry.1.key=k")
	f.Fuzz(func(t *testing.T, q string) {
		form, err := url.ParseQuery(q)
		if err != nil {
			return
		}
		var a ec2Input
		if err := Decode(form, &a, true); err != nil {
			if _, ok := awserr.As(err); !ok {
				t.Fatalf("non-AWS error %v", err)
			}
		}
		var b queryInput
		if err := Decode(form, &b, false); err != nil {
			if _, ok := awserr.As(err); !ok {
				t.Fatalf("non-AWS error %v", err)
			}
		}
	})
}
