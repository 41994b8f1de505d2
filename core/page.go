package core

import (
	"encoding/base64"

	"github.com/isthmusnet/isthmus/awserr"
)

// Page asks for one page of a Describe call's results.
type Page struct {
	MaxResults int32  // 0: everything
	NextToken  string // from the previous page
}

// paginate cuts one page out of items sorted by key. Bounds are the
// operation's MaxResults range (e.g. 5 and 1000). The token is the key of
// the last item returned, opaque to clients.
func paginate[T any](items []T, key func(T) string, p Page, min, max int32) ([]T, string, error) {
	if p.MaxResults != 0 && (p.MaxResults < min || p.MaxResults > max) {
		return nil, "", awserr.InvalidParameterValue("Value ( %d ) for parameter maxResults is invalid. Parameter must be between %d and %d.", p.MaxResults, min, max)
	}
	start := 0
	if p.NextToken != "" {
		after, err := base64.RawURLEncoding.DecodeString(p.NextToken)
		if err != nil || len(after) == 0 {
			return nil, "", awserr.New("InvalidPaginationToken", "Invalid pagination token: %s", p.NextToken)
		}
		for start < len(items) && key(items[start]) <= string(after) {
			start++
		}
	}
	items = items[start:]
	if p.MaxResults == 0 || int(p.MaxResults) >= len(items) {
		return items, "", nil
	}
	items = items[:p.MaxResults]
	return items, base64.RawURLEncoding.EncodeToString([]byte(key(items[len(items)-1]))), nil
}
