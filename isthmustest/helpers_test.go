package isthmustest_test

import "github.com/isthmusnet/isthmus/core"

var page0 = core.Page{}

func callerOf(account string) core.Caller {
	return core.Caller{Account: account, ARN: core.RootARN(account), Region: "us-east-1"}
}
