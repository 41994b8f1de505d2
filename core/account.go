package core

import (
	"crypto/rand"
	"fmt"
	"io"
	"math/big"
	"regexp"
	"strings"
	"time"

	"github.com/isthmusnet/isthmus/awserr"
	"github.com/isthmusnet/isthmus/store"
)

// Account is a tenant: it owns objects and holds access keys.
type Account struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Admin   bool      `json:"admin,omitempty"`
	Created time.Time `json:"created"`
}

// AccessKey is an account's SigV4 key pair.
type AccessKey struct {
	ID      string    `json:"id"`
	Secret  string    `json:"secret"`
	Account string    `json:"account"`
	Created time.Time `json:"created"`
}

// RootARN is the ARN of an account's root principal.
func RootARN(account string) string { return "arn:aws:iam::" + account + ":root" }

var accountIDRE = regexp.MustCompile(`^[0-9]{12}$`)

// IsAccountID reports whether s is a 12-digit account id.
func IsAccountID(s string) bool { return accountIDRE.MatchString(s) }

var accountNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// CreateAccount creates an account named name with one access key.
func (c *Cloud) CreateAccount(name string, admin bool) (*Account, *AccessKey, error) {
	if !accountNameRE.MatchString(name) {
		return nil, nil, awserr.InvalidParameterValue("account name %q must be 1-64 letters, digits, '.', '_' or '-'", name)
	}
	var acct *Account
	var key *AccessKey
	_, err := c.st.Update(func(tx store.Tx) error {
		var dup bool
		if err := tx.Scan("accounts/", "", func(_ string, b []byte) bool {
			a, err := decodeJSON[Account](b)
			dup = err == nil && a.Name == name
			return !dup
		}); err != nil {
			return err
		}
		if dup {
			return awserr.New("AccountAlreadyExists", "An account named %q already exists", name)
		}
		for {
			acct = &Account{ID: randomDigits(c.rand, 12), Name: name, Admin: admin, Created: c.Now()}
			if _, taken := tx.Get("accounts/" + acct.ID); !taken {
				break
			}
		}
		key = &AccessKey{ID: "AKIA" + randomString(c.rand, 16, upperAlnum), Secret: randomString(c.rand, 40, secretChars), Account: acct.ID, Created: c.Now()}
		if err := putJSON(tx, "accounts/"+acct.ID, acct); err != nil {
			return err
		}
		return putJSON(tx, "keys/"+key.ID, key)
	})
	if err != nil {
		return nil, nil, err
	}
	return acct, key, nil
}

// Accounts lists every account.
func (c *Cloud) Accounts() ([]*Account, error) {
	var out []*Account
	err := c.st.View(func(tx store.Tx) error {
		var derr error
		err := tx.Scan("accounts/", "", func(k string, b []byte) bool {
			a, err := decodeJSON[Account](b)
			if err != nil {
				derr = fmt.Errorf("decode %s: %w", k, err)
				return false
			}
			out = append(out, a)
			return true
		})
		if err == nil {
			err = derr
		}
		return err
	})
	return out, err
}

// AccessKeys lists the access keys of account.
func (c *Cloud) AccessKeys(account string) ([]*AccessKey, error) {
	var out []*AccessKey
	err := c.st.View(func(tx store.Tx) error {
		return tx.Scan("keys/", "", func(_ string, b []byte) bool {
			if k, err := decodeJSON[AccessKey](b); err == nil && k.Account == account {
				out = append(out, k)
			}
			return true
		})
	})
	return out, err
}

// LookupKey returns the access key with id, if any.
func (c *Cloud) LookupKey(id string) (*AccessKey, bool, error) {
	var k *AccessKey
	var ok bool
	err := c.st.View(func(tx store.Tx) error {
		var err error
		k, ok, err = getJSON[AccessKey](tx, "keys/"+id)
		return err
	})
	return k, ok, err
}

const (
	upperAlnum  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	secretChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	lowerAlnum  = "abcdefghijklmnopqrstuvwxyz0123456789"
)

func randomString(r io.Reader, n int, alphabet string) string {
	var b strings.Builder
	max := big.NewInt(int64(len(alphabet)))
	for i := 0; i < n; i++ {
		v, err := rand.Int(r, max)
		if err != nil {
			panic(fmt.Sprintf("core: random source failed: %v", err))
		}
		b.WriteByte(alphabet[v.Int64()])
	}
	return b.String()
}

func randomDigits(r io.Reader, n int) string {
	s := randomString(r, n, "0123456789")
	if s[0] == '0' {
		s = "1" + s[1:]
	}
	return s
}
