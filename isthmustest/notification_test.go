package isthmustest_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/isthmusnet/isthmus/api"
	"github.com/isthmusnet/isthmus/core"
	"github.com/isthmusnet/isthmus/isthmustest"
)

// TestConnectionNotificationsDelivered follows an endpoint through Connect,
// Accept, Reject and Delete with a connection notification on the service,
// and checks that an HTTP subscriber of the topic receives each event, in
// order, through the real SNS delivery path.
func TestConnectionNotificationsDelivered(t *testing.T) {
	env := newSNSEnv(t, api.AuthOpen, true)
	ctx := isthmustest.Ctx(t)
	const acctA, acctB = "111111111111", "222222222222"
	srv := &isthmustest.Env{URL: env.URL}
	a, b := srv.Account(acctA), srv.Account(acctB)

	// The provider's topic, with a confirmed HTTP subscriber.
	topic, err := env.client(acctA).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("vpce-events")})
	if err != nil {
		t.Fatal(err)
	}
	topicARN := aws.ToString(topic.TopicArn)
	sub := newSubscriber(t)
	if _, err := env.client(acctA).Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("http"), Endpoint: aws.String(sub.srv.URL)}); err != nil {
		t.Fatal(err)
	}
	conf := sub.next(t, "SubscriptionConfirmation")
	resp, err := http.Get(conf.str("SubscribeURL"))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("confirming: %v %v", resp, err)
	}
	resp.Body.Close()

	// A service requiring acceptance, notifying on every event.
	prov := newProvider(t, ctx, a, "notify-nlb", elbtypes.LoadBalancerTypeEnumNetwork)
	cs, err := a.EC2.CreateVpcEndpointServiceConfiguration(ctx, &ec2.CreateVpcEndpointServiceConfigurationInput{
		NetworkLoadBalancerArns: []string{prov.lb}, AcceptanceRequired: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	svcID, svcName := aws.ToString(cs.ServiceConfiguration.ServiceId), aws.ToString(cs.ServiceConfiguration.ServiceName)
	if _, err := a.EC2.CreateVpcEndpointConnectionNotification(ctx, &ec2.CreateVpcEndpointConnectionNotificationInput{
		ServiceId: aws.String(svcID), ConnectionNotificationArn: aws.String(topicARN),
		ConnectionEvents: []string{"Connect", "Accept", "Reject", "Delete"},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.EC2.ModifyVpcEndpointServicePermissions(ctx, &ec2.ModifyVpcEndpointServicePermissionsInput{
		ServiceId: aws.String(svcID), AddAllowedPrincipals: []string{core.RootARN(acctB)}}); err != nil {
		t.Fatal(err)
	}

	cons := newVpceNet(t, ctx, b, "10.0")
	ce, err := b.EC2.CreateVpcEndpoint(ctx, &ec2.CreateVpcEndpointInput{VpcId: aws.String(cons.vpc), ServiceName: aws.String(svcName),
		VpcEndpointType: types.VpcEndpointTypeInterface, SubnetIds: cons.subnets[:1]})
	if err != nil {
		t.Fatal(err)
	}
	epID := aws.ToString(ce.VpcEndpoint.VpcEndpointId)
	expect := func(event, state string) {
		t.Helper()
		d := sub.next(t, "Notification")
		if d.str("TopicArn") != topicARN || d.str("Subject") != core.ConnectionEventSubject {
			t.Fatalf("notification %s", d.body)
		}
		var ev core.ConnectionEvent
		if err := json.Unmarshal([]byte(d.str("Message")), &ev); err != nil {
			t.Fatalf("message %q: %v", d.str("Message"), err)
		}
		if ev.EventType != event || ev.VpcEndpointID != epID || ev.ServiceID != svcID || ev.VpcEndpointOwner != acctB || ev.VpcEndpointState != state {
			t.Fatalf("event %+v, want %s of %s in state %s", ev, event, epID, state)
		}
	}
	expect("Connect", "pendingAcceptance")
	if _, err := a.EC2.AcceptVpcEndpointConnections(ctx, &ec2.AcceptVpcEndpointConnectionsInput{ServiceId: aws.String(svcID), VpcEndpointIds: []string{epID}}); err != nil {
		t.Fatal(err)
	}
	expect("Accept", "available")
	if _, err := a.EC2.RejectVpcEndpointConnections(ctx, &ec2.RejectVpcEndpointConnectionsInput{ServiceId: aws.String(svcID), VpcEndpointIds: []string{epID}}); err != nil {
		t.Fatal(err)
	}
	expect("Reject", "rejected")
	if _, err := b.EC2.DeleteVpcEndpoints(ctx, &ec2.DeleteVpcEndpointsInput{VpcEndpointIds: []string{epID}}); err != nil {
		t.Fatal(err)
	}
	expect("Delete", "deleted")
}
