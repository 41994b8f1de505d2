package daemon

import (
	"bytes"
	"encoding/json"
	"io"
)

type jsonBody struct{ b []byte }

func newJSONBody(v any) *jsonBody {
	b, _ := json.Marshal(v)
	return &jsonBody{b}
}

func (j *jsonBody) reader() io.Reader {
	if j == nil {
		return nil
	}
	return bytes.NewReader(j.b)
}
