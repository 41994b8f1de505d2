package core

import (
	"encoding/json"
	"fmt"

	"github.com/isthmusnet/isthmus/store"
)

// Tx is a store transaction seen from one caller in one region.
type Tx struct {
	store.Tx
	c   *Cloud
	who Caller
}

// Key layout. Region-scoped objects live under r/<region>/<kind>/<id>;
// global ones under their own prefixes. Secondary records (IP allocations,
// client tokens) live beside them.
//
//	accounts/<account-id>           Account
//	keys/<access-key-id>            AccessKey
//	r/<region>/<kind>/<id>          Object of that kind
//	r/<region>/ip/<subnet-id>/<ip>  the ENI holding that address
//	r/<region>/sns/topic/<account>/<name>                 SNS Topic
//	r/<region>/sns/sub/<topic-account>/<topic-name>/<uuid> SNS Subscription
//	r/<region>/sns/outbox/<revision>-<sequence>           SNSMessage to deliver (sns_outbox.go)
func objectKey(region string, k *kind, id string) string {
	return "r/" + region + "/" + k.name + "/" + id
}

func kindPrefix(region string, k *kind) string {
	return "r/" + region + "/" + k.name + "/"
}

func getJSON[T any](tx store.Tx, key string) (*T, bool, error) {
	b, ok := tx.Get(key)
	if !ok {
		return nil, false, nil
	}
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		return nil, false, fmt.Errorf("decode %s: %w", key, err)
	}
	return v, true, nil
}

func putJSON(tx store.Tx, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return tx.Put(key, b)
}
