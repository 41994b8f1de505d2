#!/usr/bin/env bash
# The aws CLI walkthrough: creates, describes, filters, paginates, tags and
# deletes each VPC-core resource in two accounts (profiles "a" and "b") and
# checks that neither sees the other. Run by TestAWSCLIWalkthrough, which
# sets AWS (the CLI binary), ENDPOINT and AWS_SHARED_CREDENTIALS_FILE.
set -euo pipefail

a() { "$AWS" --profile a --region us-east-1 --endpoint-url "$ENDPOINT" --output text "$@"; }
b() { "$AWS" --profile b --region us-east-1 --endpoint-url "$ENDPOINT" --output text "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
eq() { [ "$1" == "$2" ] || fail "$3: got '$1', want '$2'"; }
# expect_error CODE cmd...: the command must fail with that AWS error code.
expect_error() {
  local code=$1; shift
  local out
  if out=$("$@" 2>&1); then fail "'$*' succeeded, want $code"; fi
  [[ "$out" == *"($code)"* ]] || fail "'$*': $out, want $code"
}

step() { echo "== $*"; }

step "identities"
acct_a=$(a sts get-caller-identity --query Account)
acct_b=$(b sts get-caller-identity --query Account)
[ "$acct_a" != "$acct_b" ] || fail "both profiles are account $acct_a"

step "VPCs"
vpc=$(a ec2 create-vpc --cidr-block 10.0.0.0/16 \
  --tag-specifications 'ResourceType=vpc,Tags=[{Key=Name,Value=walk},{Key=team,Value=net}]' --query Vpc.VpcId)
vpc_b=$(b ec2 create-vpc --cidr-block 10.0.0.0/16 --query Vpc.VpcId)
eq "$(a ec2 describe-vpcs --vpc-ids "$vpc" --query 'Vpcs[0].State')" available "vpc state"
eq "$(a ec2 describe-vpcs --filters Name=tag:Name,Values=walk --query 'length(Vpcs)')" 1 "filter tag:Name"
eq "$(a ec2 describe-vpcs --filters Name=tag-key,Values=nope --query 'length(Vpcs)')" 0 "filter tag-key"
eq "$(b ec2 describe-vpcs --query 'length(Vpcs)')" 1 "B sees only its own VPC"
expect_error InvalidVpcID.NotFound b ec2 describe-vpcs --vpc-ids "$vpc"
expect_error InvalidVpcID.NotFound b ec2 delete-vpc --vpc-id "$vpc"
expect_error InvalidVpcID.Malformed a ec2 describe-vpcs --vpc-ids not-a-vpc
expect_error DryRunOperation a ec2 create-vpc --cidr-block 10.1.0.0/16 --dry-run
expect_error InvalidVpc.Range a ec2 create-vpc --cidr-block 10.0.0.0/8
a ec2 modify-vpc-attribute --vpc-id "$vpc" --enable-dns-hostnames '{"Value":true}'
eq "$(a ec2 describe-vpc-attribute --vpc-id "$vpc" --attribute enableDnsHostnames --query EnableDnsHostnames.Value)" True "enableDnsHostnames"

step "pagination"
for i in 1 2 3 4 5 6; do a ec2 create-vpc --cidr-block 10.$((10+i)).0.0/16 >/dev/null; done
eq "$(a ec2 describe-vpcs --page-size 5 --output json --query 'length(Vpcs)')" 7 "all VPCs through pages of 5"
eq "$("$AWS" --profile a --region us-east-1 --endpoint-url "$ENDPOINT" --output json ec2 describe-vpcs --max-items 3 --query 'length(Vpcs)')" 3 "--max-items 3"

step "subnets"
subnet=$(a ec2 create-subnet --vpc-id "$vpc" --cidr-block 10.0.1.0/24 --availability-zone us-east-1a \
  --tag-specifications 'ResourceType=subnet,Tags=[{Key=Name,Value=app}]' --query Subnet.SubnetId)
eq "$(a ec2 describe-subnets --subnet-ids "$subnet" --query 'Subnets[0].AvailableIpAddressCount')" 251 "free addresses of a /24"
eq "$(a ec2 describe-subnets --filters Name=vpc-id,Values="$vpc" Name=availability-zone,Values=us-east-1a --query 'length(Subnets)')" 1 "subnet filters"
expect_error InvalidSubnet.Conflict a ec2 create-subnet --vpc-id "$vpc" --cidr-block 10.0.1.128/25
expect_error InvalidSubnet.Range a ec2 create-subnet --vpc-id "$vpc" --cidr-block 10.1.0.0/24
expect_error InvalidSubnetID.NotFound b ec2 describe-subnets --subnet-ids "$subnet"
expect_error InvalidVpcID.NotFound b ec2 create-subnet --vpc-id "$vpc" --cidr-block 10.0.9.0/24

step "security groups"
sg=$(a ec2 create-security-group --vpc-id "$vpc" --group-name web --description "web servers" --query GroupId)
a ec2 authorize-security-group-ingress --group-id "$sg" --protocol tcp --port 80 --cidr 10.0.0.0/16 >/dev/null
eq "$(a ec2 describe-security-groups --group-ids "$sg" --query 'SecurityGroups[0].IpPermissions[0].FromPort')" 80 "ingress rule"
expect_error InvalidPermission.Duplicate a ec2 authorize-security-group-ingress --group-id "$sg" --protocol tcp --port 80 --cidr 10.0.0.0/16
expect_error InvalidGroup.Duplicate a ec2 create-security-group --vpc-id "$vpc" --group-name web --description again
expect_error InvalidGroup.NotFound b ec2 describe-security-groups --group-ids "$sg"
eq "$(a ec2 describe-security-groups --filters Name=vpc-id,Values="$vpc" --query 'length(SecurityGroups)')" 2 "default and web groups"
eq "$(a ec2 describe-security-group-rules --filters Name=group-id,Values="$sg" --query 'length(SecurityGroupRules)')" 2 "rules of web"
a ec2 revoke-security-group-ingress --group-id "$sg" --protocol tcp --port 80 --cidr 10.0.0.0/16 >/dev/null

step "network interfaces"
eni=$(a ec2 create-network-interface --subnet-id "$subnet" --groups "$sg" --private-ip-address 10.0.1.10 \
  --description app --query NetworkInterface.NetworkInterfaceId)
eni2=$(a ec2 create-network-interface --subnet-id "$subnet" --query NetworkInterface.NetworkInterfaceId)
eq "$(a ec2 describe-network-interfaces --network-interface-ids "$eni" --query 'NetworkInterfaces[0].PrivateIpAddress')" 10.0.1.10 "requested address"
eq "$(a ec2 describe-network-interfaces --filters Name=group-id,Values="$sg" --query 'length(NetworkInterfaces)')" 1 "filter by group"
eq "$(a ec2 describe-subnets --subnet-ids "$subnet" --query 'Subnets[0].AvailableIpAddressCount')" 249 "addresses in use"
expect_error InvalidIPAddress.InUse a ec2 create-network-interface --subnet-id "$subnet" --private-ip-address 10.0.1.10
expect_error InvalidNetworkInterfaceID.NotFound b ec2 describe-network-interfaces --network-interface-ids "$eni"
expect_error DependencyViolation a ec2 delete-subnet --subnet-id "$subnet"
expect_error DependencyViolation a ec2 delete-security-group --group-id "$sg"
a ec2 modify-network-interface-attribute --network-interface-id "$eni" --description '{"Value":"renamed"}'
eq "$(a ec2 describe-network-interfaces --network-interface-ids "$eni" --query 'NetworkInterfaces[0].Description')" renamed "description"

step "route tables"
rtb=$(a ec2 create-route-table --vpc-id "$vpc" --query RouteTable.RouteTableId)
assoc=$(a ec2 associate-route-table --route-table-id "$rtb" --subnet-id "$subnet" --query AssociationId)
a ec2 create-route --route-table-id "$rtb" --destination-cidr-block 192.168.0.0/16 --network-interface-id "$eni2" >/dev/null
eq "$(a ec2 describe-route-tables --route-table-ids "$rtb" --query 'length(RouteTables[0].Routes)')" 2 "local and the new route"
eq "$(a ec2 describe-route-tables --filters Name=association.subnet-id,Values="$subnet" --query 'RouteTables[0].RouteTableId')" "$rtb" "association filter"
eq "$(a ec2 describe-route-tables --filters Name=vpc-id,Values="$vpc" Name=association.main,Values=true --query 'length(RouteTables)')" 1 "main table"
expect_error RouteAlreadyExists a ec2 create-route --route-table-id "$rtb" --destination-cidr-block 192.168.0.0/16 --network-interface-id "$eni2"
expect_error InvalidRouteTableID.NotFound b ec2 describe-route-tables --route-table-ids "$rtb"
expect_error DependencyViolation a ec2 delete-route-table --route-table-id "$rtb"
a ec2 delete-route --route-table-id "$rtb" --destination-cidr-block 192.168.0.0/16
a ec2 disassociate-route-table --association-id "$assoc"

step "tags"
a ec2 create-tags --resources "$subnet" "$sg" --tags Key=env,Value=test
eq "$(a ec2 describe-tags --filters Name=key,Values=env --query 'length(Tags)')" 2 "tags by key"
eq "$(a ec2 describe-tags --filters Name=resource-type,Values=subnet Name=key,Values=env --query 'Tags[0].ResourceId')" "$subnet" "tags by type"
eq "$(b ec2 describe-tags --query 'length(Tags)')" 0 "B sees none of A's tags"
expect_error InvalidSubnetID.NotFound b ec2 create-tags --resources "$subnet" --tags Key=x,Value=y
a ec2 delete-tags --resources "$subnet" "$sg" --tags Key=env
eq "$(a ec2 describe-tags --filters Name=key,Values=env --query 'length(Tags)')" 0 "tags deleted"

step "regions and zones"
eq "$(a ec2 describe-availability-zones --query 'AvailabilityZones[0].ZoneId')" use1-az1 "zone id"
a ec2 describe-regions --region-names us-east-1 --query 'Regions[0].RegionName' >/dev/null

step "delete everything"
expect_error DependencyViolation a ec2 delete-vpc --vpc-id "$vpc"
a ec2 delete-route-table --route-table-id "$rtb"
a ec2 delete-network-interface --network-interface-id "$eni"
a ec2 delete-network-interface --network-interface-id "$eni2"
a ec2 delete-security-group --group-id "$sg"
a ec2 delete-subnet --subnet-id "$subnet"
a ec2 delete-vpc --vpc-id "$vpc"
for v in $(a ec2 describe-vpcs --query 'Vpcs[].VpcId'); do a ec2 delete-vpc --vpc-id "$v"; done
b ec2 delete-vpc --vpc-id "$vpc_b"
eq "$(a ec2 describe-vpcs --query 'length(Vpcs)')" 0 "A has nothing left"
eq "$(a ec2 describe-network-interfaces --query 'length(NetworkInterfaces)')" 0 "no interfaces left"
eq "$(b ec2 describe-vpcs --query 'length(Vpcs)')" 0 "B has nothing left"
echo "walkthrough: all steps passed"
