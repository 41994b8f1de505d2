#!/usr/bin/env bash
# The PrivateLink lifecycle with the aws CLI across two accounts: profile
# "a" is the provider (NLB, target group, listener, endpoint service
# requiring acceptance, notifications), profile "b" the consumer (interface
# and gateway endpoints). Run by TestAWSCLIPrivateLink, which sets AWS (the
# CLI binary), ENDPOINT and AWS_SHARED_CREDENTIALS_FILE.
set -euo pipefail

a() { "$AWS" --profile a --region us-east-1 --endpoint-url "$ENDPOINT" --output text "$@"; }
b() { "$AWS" --profile b --region us-east-1 --endpoint-url "$ENDPOINT" --output text "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
eq() { [ "$1" == "$2" ] || fail "$3: got '$1', want '$2'"; }
match() { [[ "$1" =~ $2 ]] || fail "$3: '$1' does not match $2"; }
expect_error() {
  local code=$1; shift
  local out
  if out=$("$@" 2>&1); then fail "'$*' succeeded, want $code"; fi
  [[ "$out" == *"($code)"* ]] || fail "'$*': $out, want $code"
}
step() { echo "== $*"; }

acct_a=$(a sts get-caller-identity --query Account)
acct_b=$(b sts get-caller-identity --query Account)

step "provider network and NLB"
vpc_a=$(a ec2 create-vpc --cidr-block 10.0.0.0/16 --query Vpc.VpcId)
sa1=$(a ec2 create-subnet --vpc-id "$vpc_a" --cidr-block 10.0.1.0/24 --availability-zone us-east-1a --query Subnet.SubnetId)
sa2=$(a ec2 create-subnet --vpc-id "$vpc_a" --cidr-block 10.0.2.0/24 --availability-zone us-east-1b --query Subnet.SubnetId)
lb=$(a elbv2 create-load-balancer --name svc --type network --scheme internal --subnets "$sa1" "$sa2" --query 'LoadBalancers[0].LoadBalancerArn')
tg=$(a elbv2 create-target-group --name svc --protocol TCP --port 80 --vpc-id "$vpc_a" --target-type ip --query 'TargetGroups[0].TargetGroupArn')
listener=$(a elbv2 create-listener --load-balancer-arn "$lb" --protocol TCP --port 80 \
  --default-actions Type=forward,TargetGroupArn="$tg" --query 'Listeners[0].ListenerArn')

step "endpoint service"
expect_error DryRunOperation a ec2 create-vpc-endpoint-service-configuration --network-load-balancer-arns "$lb" --dry-run
svc=$(a ec2 create-vpc-endpoint-service-configuration --network-load-balancer-arns "$lb" --acceptance-required \
  --private-dns-name api.example.test --query ServiceConfiguration.ServiceId)
match "$svc" '^vpce-svc-[0-9a-f]{17}$' "service id"
svc_name=$(a ec2 describe-vpc-endpoint-service-configurations --service-ids "$svc" --query 'ServiceConfigurations[0].ServiceName')
eq "$svc_name" "com.amazonaws.vpce.us-east-1.$svc" "service name"
eq "$(a ec2 describe-vpc-endpoint-service-configurations --service-ids "$svc" --query 'ServiceConfigurations[0].AvailabilityZones' --output json | tr -d ' \n')" '["us-east-1a","us-east-1b"]' "service zones"
eq "$(a ec2 describe-vpc-endpoint-service-configurations --service-ids "$svc" --query 'ServiceConfigurations[0].PrivateDnsNameConfiguration.State')" pendingVerification "private DNS name state"
match "$(a ec2 describe-vpc-endpoint-service-configurations --service-ids "$svc" --query 'ServiceConfigurations[0].PrivateDnsNameConfiguration.Value')" '^vpce:' "TXT value"
expect_error ResourceInUse a elbv2 delete-load-balancer --load-balancer-arn "$lb"
topic=$(a sns create-topic --name vpce-events --query TopicArn)
nfn=$(a ec2 create-vpc-endpoint-connection-notification --service-id "$svc" --connection-notification-arn "$topic" \
  --connection-events Connect Accept Reject Delete --query ConnectionNotification.ConnectionNotificationId)
match "$nfn" '^vpce-nfn-' "notification id"
eq "$(a ec2 describe-vpc-endpoint-connection-notifications --query 'length(ConnectionNotificationSet)')" 1 "notifications"

step "consumer cannot see the service"
vpc_b=$(b ec2 create-vpc --cidr-block 10.0.0.0/16 --query Vpc.VpcId)
sb1=$(b ec2 create-subnet --vpc-id "$vpc_b" --cidr-block 10.0.1.0/24 --availability-zone us-east-1a --query Subnet.SubnetId)
sb3=$(b ec2 create-subnet --vpc-id "$vpc_b" --cidr-block 10.0.3.0/24 --availability-zone us-east-1c --query Subnet.SubnetId)
expect_error InvalidServiceName b ec2 describe-vpc-endpoint-services --service-names "$svc_name"
expect_error InvalidServiceName b ec2 create-vpc-endpoint --vpc-id "$vpc_b" --vpc-endpoint-type Interface --service-name "$svc_name" --subnet-ids "$sb1"

step "provider allows the consumer"
a ec2 modify-vpc-endpoint-service-permissions --service-id "$svc" --add-allowed-principals "arn:aws:iam::$acct_b:root" >/dev/null
eq "$(a ec2 describe-vpc-endpoint-service-permissions --service-id "$svc" --query 'AllowedPrincipals[0].Principal')" "arn:aws:iam::$acct_b:root" "allowed principal"
eq "$(b ec2 describe-vpc-endpoint-services --service-names "$svc_name" --query 'ServiceDetails[0].Owner')" "$acct_a" "service owner"

step "consumer creates an interface endpoint"
expect_error InvalidParameter b ec2 create-vpc-endpoint --vpc-id "$vpc_b" --vpc-endpoint-type Interface --service-name "$svc_name" --subnet-ids "$sb3"
vpce=$(b ec2 create-vpc-endpoint --vpc-id "$vpc_b" --vpc-endpoint-type Interface --service-name "$svc_name" --subnet-ids "$sb1" \
  --tag-specifications 'ResourceType=vpc-endpoint,Tags=[{Key=Name,Value=api}]' --query VpcEndpoint.VpcEndpointId)
eq "$(b ec2 describe-vpc-endpoints --vpc-endpoint-ids "$vpce" --query 'VpcEndpoints[0].State')" pendingAcceptance "endpoint state"
eq "$(b ec2 describe-vpc-endpoints --filters Name=tag:Name,Values=api --query 'length(VpcEndpoints)')" 1 "tag filter"
match "$(b ec2 describe-vpc-endpoints --vpc-endpoint-ids "$vpce" --query 'VpcEndpoints[0].DnsEntries[0].DnsName')" \
  "^$vpce-[a-z0-9]{8}\\.$svc\\.us-east-1\\.vpce\\.amazonaws\\.com\$" "regional DNS name"
eni=$(b ec2 describe-vpc-endpoints --vpc-endpoint-ids "$vpce" --query 'VpcEndpoints[0].NetworkInterfaceIds[0]')
eq "$(b ec2 describe-network-interfaces --network-interface-ids "$eni" --query 'NetworkInterfaces[0].InterfaceType')" vpc_endpoint "ENI type"
eq "$(b ec2 describe-network-interfaces --network-interface-ids "$eni" --query 'NetworkInterfaces[0].RequesterManaged')" True "ENI requester-managed"

step "provider accepts, then rejects"
eq "$(a ec2 describe-vpc-endpoint-connections --query 'VpcEndpointConnections[0].VpcEndpointState')" pendingAcceptance "connection state"
eq "$(a ec2 accept-vpc-endpoint-connections --service-id "$svc" --vpc-endpoint-ids "$vpce" --query 'length(Unsuccessful)')" 0 "accept"
eq "$(b ec2 describe-vpc-endpoints --vpc-endpoint-ids "$vpce" --query 'VpcEndpoints[0].State')" available "accepted endpoint"
eq "$(a ec2 delete-vpc-endpoint-service-configurations --service-ids "$svc" --query 'Unsuccessful[0].Error.Code')" ExistingVpcEndpointConnections "delete while connected"
eq "$(a ec2 reject-vpc-endpoint-connections --service-id "$svc" --vpc-endpoint-ids "$vpce" --query 'length(Unsuccessful)')" 0 "reject"
eq "$(b ec2 describe-vpc-endpoints --vpc-endpoint-ids "$vpce" --query 'VpcEndpoints[0].State')" rejected "rejected endpoint"

step "gateway endpoint"
pl=$(b ec2 describe-prefix-lists --filters Name=prefix-list-name,Values=com.amazonaws.us-east-1.s3 --query 'PrefixLists[0].PrefixListId')
eq "$pl" pl-63a5400a "S3 prefix list"
eq "$(b ec2 get-managed-prefix-list-entries --prefix-list-id "$pl" --query 'Entries[0].Cidr')" 198.51.100.0/24 "S3 prefix list entries"
rtb=$(b ec2 describe-route-tables --filters Name=vpc-id,Values="$vpc_b" --query 'RouteTables[0].RouteTableId')
gw=$(b ec2 create-vpc-endpoint --vpc-id "$vpc_b" --service-name com.amazonaws.us-east-1.s3 --route-table-ids "$rtb" --query VpcEndpoint.VpcEndpointId)
eq "$(b ec2 describe-route-tables --route-table-ids "$rtb" --query "RouteTables[0].Routes[?DestinationPrefixListId=='$pl'].GatewayId")" "$gw" "gateway endpoint route"
expect_error InvalidParameterValue b ec2 delete-route --route-table-id "$rtb" --destination-prefix-list-id "$pl"
expect_error InvalidPolicyDocument b ec2 modify-vpc-endpoint --vpc-endpoint-id "$gw" --policy-document '{"Statement":[{"Effect":"Allow"}]}'
b ec2 modify-vpc-endpoint --vpc-endpoint-id "$gw" --policy-document '{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}]}' >/dev/null
b ec2 modify-vpc-endpoint --vpc-endpoint-id "$gw" --reset-policy >/dev/null
match "$(b ec2 describe-vpc-endpoints --vpc-endpoint-ids "$gw" --query 'VpcEndpoints[0].PolicyDocument')" '"Action":"\*"' "reset policy"

step "pagination"
eq "$(b ec2 describe-vpc-endpoints --page-size 1 --output json --query 'length(VpcEndpoints)')" 2 "all endpoints through pages of 1"

step "delete everything"
eq "$(b ec2 delete-vpc-endpoints --vpc-endpoint-ids "$vpce" "$gw" vpce-0123456789abcdef0 --query 'Unsuccessful[0].Error.Code')" InvalidVpcEndpoint.NotFound "delete endpoints"
eq "$(b ec2 describe-route-tables --route-table-ids "$rtb" --query 'length(RouteTables[0].Routes)')" 1 "routes after delete"
eq "$(b ec2 describe-network-interfaces --query 'length(NetworkInterfaces)')" 0 "consumer ENIs after delete"
eq "$(a ec2 describe-vpc-endpoint-connections --query 'VpcEndpointConnections[0].VpcEndpointState')" deleted "deleted connection"
eq "$(a ec2 delete-vpc-endpoint-service-configurations --service-ids "$svc" --query 'length(Unsuccessful)')" 0 "delete service"
a elbv2 delete-listener --listener-arn "$listener"
a elbv2 delete-load-balancer --load-balancer-arn "$lb"
a elbv2 delete-target-group --target-group-arn "$tg"
eq "$(a ec2 describe-network-interfaces --query 'length(NetworkInterfaces)')" 0 "provider ENIs after delete"
for s in "$sa1" "$sa2"; do a ec2 delete-subnet --subnet-id "$s"; done
for s in "$sb1" "$sb3"; do b ec2 delete-subnet --subnet-id "$s"; done
a ec2 delete-vpc --vpc-id "$vpc_a"
b ec2 delete-vpc --vpc-id "$vpc_b"
echo "privatelink: OK"
