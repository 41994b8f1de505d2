package sigv4

import (
	"net/http"
	"time"

	"github.com/isthmusnet/isthmus/awserr"
)

// The error codes Parse and Verify return, as the Query protocol spells them.
const (
	CodeMissingAuthenticationToken = "MissingAuthenticationToken"
	CodeIncompleteSignature        = "IncompleteSignature"
	CodeRequestExpired             = "RequestExpired"
	CodeSignatureDoesNotMatch      = "SignatureDoesNotMatch"
)

func errMissingAuth() *awserr.Error {
	return awserr.WithStatus(http.StatusForbidden, CodeMissingAuthenticationToken,
		"Request is missing Authentication Token")
}

func errIncomplete(format string, args ...any) *awserr.Error {
	return awserr.WithStatus(http.StatusBadRequest, CodeIncompleteSignature, format, args...)
}

func errExpired(format string, args ...any) *awserr.Error {
	return awserr.WithStatus(http.StatusBadRequest, CodeRequestExpired, format, args...)
}

func errMismatch() *awserr.Error {
	return awserr.WithStatus(http.StatusForbidden, CodeSignatureDoesNotMatch,
		"The request signature we calculated does not match the signature you provided. "+
			"Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
}

// errPayloadHash refuses an X-Amz-Content-Sha256 header that does not match
// the body: the signature covers the header, not the body, so accepting it
// would leave the body unsigned.
func errPayloadHash() *awserr.Error {
	return awserr.WithStatus(http.StatusForbidden, CodeSignatureDoesNotMatch,
		"The provided 'x-amz-content-sha256' header does not match what was computed.")
}

// errTooOld and errTooNew are AWS's wording for a request outside the
// MaxSkew window around now.
func errTooOld(date, now time.Time) *awserr.Error {
	return errExpired("Signature expired: %s is now earlier than %s (%s - 15 min.)",
		date.Format(timeFormat), now.Add(-MaxSkew).Format(timeFormat), now.Format(timeFormat))
}

func errTooNew(date, now time.Time) *awserr.Error {
	return errExpired("Signature not yet current: %s is still later than %s (%s + 15 min.)",
		date.Format(timeFormat), now.Add(MaxSkew).Format(timeFormat), now.Format(timeFormat))
}
