package core

import (
	"time"

	"github.com/isthmusnet/isthmus/store"
)

// ClientToken idempotency. A create call that carries a ClientToken is
// answered once; a retry with the same token and the same parameters gets
// the first answer again, and one with other parameters is refused with
// IdempotentParameterMismatch. The API edge keeps the answer here:
//
//	r/<region>/token/<account>/<action>/<token> → TokenRecord
//
// Records are kept for a day, as AWS documents for ClientToken.

// TokenRecord is the remembered answer to a call with a ClientToken.
type TokenRecord struct {
	ParamsHash string    `json:"hash"`
	Response   []byte    `json:"resp"`
	RequestID  string    `json:"reqId"`
	Created    time.Time `json:"created"`
}

// TokenTTL is how long a ClientToken is remembered.
const TokenTTL = 24 * time.Hour

func tokenKey(region, account, action, token string) string {
	return "r/" + region + "/token/" + account + "/" + action + "/" + token
}

// LookupClientToken returns the remembered answer for a token, if it is
// still fresh.
func (c *Cloud) LookupClientToken(region, account, action, token string) (*TokenRecord, bool, error) {
	var rec *TokenRecord
	var ok bool
	err := c.st.View(func(tx store.Tx) error {
		var err error
		rec, ok, err = getJSON[TokenRecord](tx, tokenKey(region, account, action, token))
		return err
	})
	if ok && c.now().Sub(rec.Created) > TokenTTL {
		ok = false
	}
	return rec, ok, err
}

// SaveClientToken remembers the answer for a token.
func (c *Cloud) SaveClientToken(region, account, action, token string, rec *TokenRecord) error {
	rec.Created = c.Now()
	_, err := c.st.Update(func(tx store.Tx) error {
		return putJSON(tx, tokenKey(region, account, action, token), rec)
	})
	return err
}
