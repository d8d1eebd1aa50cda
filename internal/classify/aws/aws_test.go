package aws

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func mustClassify(t *testing.T, rec string) *Result {
	t.Helper()
	r, err := Classify(json.RawMessage(rec))
	if err != nil {
		t.Fatalf("Classify(%s): %v", rec, err)
	}
	return r
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name  string
		rec   string
		check func(*Result) bool
	}{
		{"service, action, identity", `{"eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"eu-west-1",
			"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/x/y"},"errorCode":"AccessDenied"}`,
			func(r *Result) bool {
				return r.Service == "ec2" && r.Action == "DescribeInstances" && r.ReadOnly && r.Region == "eu-west-1" &&
					r.IdentityType == "AssumedRole" && !r.Root && r.ErrorCode == "AccessDenied"
			}},
		{"readOnly from the record wins", `{"eventSource":"s3.amazonaws.com","eventName":"GetObject","readOnly":false}`,
			func(r *Result) bool { return !r.ReadOnly }},
		{"writes are not read-only", `{"eventSource":"ec2.amazonaws.com","eventName":"RunInstances"}`,
			func(r *Result) bool { return !r.ReadOnly }},
		{"ingress items, several ranges", `{"eventSource":"ec2.amazonaws.com","eventName":"AuthorizeSecurityGroupIngress","requestParameters":{"groupId":"sg-1",
			"ipPermissions":{"items":[{"ipProtocol":"tcp","fromPort":443,"toPort":443,"ipRanges":{"items":[{"cidrIp":"10.0.0.0/8"},{"cidrIp":"0.0.0.0/0"}]}},
			{"ipProtocol":"tcp","fromPort":8000,"toPort":8080,"ipv6Ranges":{"items":[{"cidrIpv6":"::/0"}]}}]}}}`,
			func(r *Result) bool {
				return r.OpenToWorld && reflect.DeepEqual(r.IngressCIDRs, []string{"10.0.0.0/8", "0.0.0.0/0", "::/0"}) &&
					reflect.DeepEqual(r.WorldPorts, []string{"tcp/443", "tcp/8000-8080"}) && len(r.Ingress) == 3 &&
					!r.Ingress[0].OpenToWorld && r.Ingress[1].OpenToWorld && r.Ingress[2].FromPort == 8000
			}},
		{"ingress all protocols", `{"eventSource":"ec2.amazonaws.com","eventName":"AuthorizeSecurityGroupIngress","requestParameters":{
			"ipPermissions":{"items":[{"ipProtocol":"-1","ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]}}]}}}`,
			func(r *Result) bool { return r.OpenToWorld && reflect.DeepEqual(r.WorldPorts, []string{"all"}) }},
		{"ingress private only", `{"eventSource":"ec2.amazonaws.com","eventName":"AuthorizeSecurityGroupIngress","requestParameters":{
			"ipPermissions":{"items":[{"ipProtocol":"tcp","fromPort":22,"toPort":22,"ipRanges":{"items":[{"cidrIp":"10.0.0.0/8"}]}}]}}}`,
			func(r *Result) bool {
				return !r.OpenToWorld && len(r.WorldPorts) == 0 && r.IngressCIDRs[0] == "10.0.0.0/8"
			}},
		// Half the internet: the world opened in two halves must not pass.
		{"ingress a /1 is the world", `{"eventSource":"ec2.amazonaws.com","eventName":"AuthorizeSecurityGroupIngress","requestParameters":{"cidrIp":"0.0.0.0/1","ipProtocol":"tcp","fromPort":22,"toPort":22}}`,
			func(r *Result) bool { return r.OpenToWorld }},
		{"ingress a private /8 is not the world", `{"eventSource":"ec2.amazonaws.com","eventName":"AuthorizeSecurityGroupIngress","requestParameters":{"cidrIp":"10.0.0.0/8","ipProtocol":"tcp","fromPort":22,"toPort":22}}`,
			func(r *Result) bool { return !r.OpenToWorld }},
		{"log group deleted", `{"eventSource":"logs.amazonaws.com","eventName":"DeleteLogGroup","requestParameters":{"logGroupName":"/aws/cloudtrail"}}`,
			func(r *Result) bool { return r.LoggingOff && r.LoggingOffReasons[0] == "log-group-deleted" }},
		{"s3 access logging off", `{"eventSource":"s3.amazonaws.com","eventName":"PutBucketLogging","requestParameters":{"bucketName":"b","BucketLoggingStatus":{}}}`,
			func(r *Result) bool { return r.LoggingOff && r.LoggingOffReasons[0] == "s3-access-logging-off" }},
		{"s3 access logging on", `{"eventSource":"s3.amazonaws.com","eventName":"PutBucketLogging","requestParameters":{"bucketName":"b","BucketLoggingStatus":{"LoggingEnabled":{"TargetBucket":"logs","TargetPrefix":"b/"}}}}`,
			func(r *Result) bool { return !r.LoggingOff }},
		{"log retention of a day", `{"eventSource":"logs.amazonaws.com","eventName":"PutRetentionPolicy","requestParameters":{"logGroupName":"/aws/cloudtrail","retentionInDays":1}}`,
			func(r *Result) bool { return r.LoggingOff && r.LoggingOffReasons[0] == "log-retention-shortened" }},
		{"log retention of a year", `{"eventSource":"logs.amazonaws.com","eventName":"PutRetentionPolicy","requestParameters":{"logGroupName":"/aws/app","retentionInDays":365}}`,
			func(r *Result) bool { return !r.LoggingOff }},
		{"egress is not ingress", `{"eventSource":"ec2.amazonaws.com","eventName":"AuthorizeSecurityGroupEgress","requestParameters":{
			"ipPermissions":{"items":[{"ipProtocol":"-1","ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]}}]}}}`,
			func(r *Result) bool { return !r.OpenToWorld && len(r.Ingress) == 0 }},
		{"modify security group rules", `{"eventSource":"ec2.amazonaws.com","eventName":"ModifySecurityGroupRules","requestParameters":{"ModifySecurityGroupRulesRequest":{
			"GroupId":"sg-1","SecurityGroupRule":{"SecurityGroupRuleId":"sgr-1","SecurityGroupRule":{"IpProtocol":"tcp","FromPort":3389,"ToPort":3389,"CidrIpv4":"0.0.0.0/0"},"tag":1}}}}`,
			func(r *Result) bool { return r.OpenToWorld && r.WorldPorts[0] == "tcp/3389" }},
		{"terminate instances", `{"eventSource":"ec2.amazonaws.com","eventName":"TerminateInstances","requestParameters":{"instancesSet":{"items":[{"instanceId":"i-1"},{"instanceId":"i-2"}]}}}`,
			func(r *Result) bool {
				return r.TerminatesInstances && reflect.DeepEqual(r.Targets, []string{"i-1", "i-2"})
			}},
		{"delete db cluster without snapshot", `{"eventSource":"rds.amazonaws.com","eventName":"DeleteDBCluster","requestParameters":{"dBClusterIdentifier":"orders","skipFinalSnapshot":true}}`,
			func(r *Result) bool { return r.DeletesDatabase && r.SkipFinalSnapshot && r.Targets[0] == "orders" }},
		{"delete bucket", `{"eventSource":"s3.amazonaws.com","eventName":"DeleteBucket","requestParameters":{"bucketName":"logs"}}`,
			func(r *Result) bool { return r.DeletesDatabase && r.Targets[0] == "logs" }},
		{"delete object is not a data store", `{"eventSource":"s3.amazonaws.com","eventName":"DeleteObject","requestParameters":{"bucketName":"logs","key":"a"}}`,
			func(r *Result) bool { return !r.DeletesDatabase }},
		{"canned public acl", `{"eventSource":"s3.amazonaws.com","eventName":"PutBucketAcl","requestParameters":{"bucketName":"b","x-amz-acl":["public-read"]}}`,
			func(r *Result) bool { return r.PublicAccess && r.PublicAccessReasons[0] == "bucket-acl-public" }},
		{"authenticated users grant", `{"eventSource":"s3.amazonaws.com","eventName":"PutBucketAcl","requestParameters":{"bucketName":"b","AccessControlPolicy":{"AccessControlList":{"Grant":
			{"Grantee":{"URI":"http://acs.amazonaws.com/groups/global/AuthenticatedUsers"},"Permission":"READ"}}}}}`,
			func(r *Result) bool { return r.PublicAccess }},
		{"private acl", `{"eventSource":"s3.amazonaws.com","eventName":"PutBucketAcl","requestParameters":{"bucketName":"b","x-amz-acl":["private"]}}`,
			func(r *Result) bool { return !r.PublicAccess }},
		{"bucket policy principal star object", `{"eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","requestParameters":{"bucketName":"b",
			"bucketPolicy":{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}}}`,
			func(r *Result) bool { return r.PublicAccess && r.PublicAccessReasons[0] == "bucket-policy-public" }},
		{"bucket policy principal star limited to a vpc endpoint", `{"eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","requestParameters":{"bucketName":"b",
			"bucketPolicy":{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"StringEquals":{"aws:SourceVpce":"vpce-1"}}}]}}}`,
			func(r *Result) bool { return !r.PublicAccess }},
		{"bucket policy star with a condition that restricts nothing", `{"eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","requestParameters":{"bucketName":"b",
			"bucketPolicy":{"Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":"s3:GetObject","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}}}`,
			func(r *Result) bool { return r.PublicAccess }},
		{"bucket policy star from any ip", `{"eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","requestParameters":{"bucketName":"b",
			"bucketPolicy":{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":["0.0.0.0/0"]}}}]}}}`,
			func(r *Result) bool { return r.PublicAccess }},
		{"deny principal star is not public", `{"eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","requestParameters":{"bucketName":"b",
			"bucketPolicy":{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}}}`,
			func(r *Result) bool { return !r.PublicAccess }},
		{"public access block partly off", `{"eventSource":"s3.amazonaws.com","eventName":"PutBucketPublicAccessBlock","requestParameters":{"bucketName":"b",
			"PublicAccessBlockConfiguration":{"BlockPublicAcls":true,"IgnorePublicAcls":true,"BlockPublicPolicy":false,"RestrictPublicBuckets":true}}}`,
			func(r *Result) bool {
				return r.PublicAccess && r.PublicAccessReasons[0] == "public-access-block-disabled"
			}},
		{"account public access block deleted", `{"eventSource":"s3.amazonaws.com","eventName":"DeleteAccountPublicAccessBlock","requestParameters":{}}`,
			func(r *Result) bool { return r.PublicAccess }},
		{"create public db", `{"eventSource":"rds.amazonaws.com","eventName":"CreateDBInstance","requestParameters":{"dBInstanceIdentifier":"x","publiclyAccessible":true}}`,
			func(r *Result) bool { return r.PublicAccess && r.PublicAccessReasons[0] == "db-publicly-accessible" }},
		{"private db", `{"eventSource":"rds.amazonaws.com","eventName":"ModifyDBInstance","requestParameters":{"dBInstanceIdentifier":"x","publiclyAccessible":false}}`,
			func(r *Result) bool { return !r.PublicAccess }},
		{"public ami", `{"eventSource":"ec2.amazonaws.com","eventName":"ModifyImageAttribute","requestParameters":{"imageId":"ami-1","launchPermission":{"add":{"items":[{"group":"all"}]}}}}`,
			func(r *Result) bool { return r.PublicAccess && r.PublicAccessReasons[0] == "image-public" }},
		{"public db snapshot", `{"eventSource":"rds.amazonaws.com","eventName":"ModifyDBSnapshotAttribute","requestParameters":{"attributeName":"restore","valuesToAdd":["all"]}}`,
			func(r *Result) bool { return r.PublicAccess }},
		{"snapshot shared with one account", `{"eventSource":"ec2.amazonaws.com","eventName":"ModifySnapshotAttribute","requestParameters":{"createVolumePermission":{"add":{"items":[{"userId":"1234"}]}}}}`,
			func(r *Result) bool { return !r.PublicAccess }},
		{"delete trail", `{"eventSource":"cloudtrail.amazonaws.com","eventName":"DeleteTrail","requestParameters":{"name":"t"}}`,
			func(r *Result) bool { return r.LoggingOff && r.LoggingOffReasons[0] == "cloudtrail-deleted" }},
		{"update trail to one region", `{"eventSource":"cloudtrail.amazonaws.com","eventName":"UpdateTrail","requestParameters":{"name":"t","isMultiRegionTrail":false}}`,
			func(r *Result) bool { return r.LoggingOff }},
		{"update trail bucket only", `{"eventSource":"cloudtrail.amazonaws.com","eventName":"UpdateTrail","requestParameters":{"name":"t","s3BucketName":"new"}}`,
			func(r *Result) bool { return !r.LoggingOff }},
		{"event selectors excluding kms events", `{"eventSource":"cloudtrail.amazonaws.com","eventName":"PutEventSelectors","requestParameters":{"eventSelectors":[
			{"includeManagementEvents":true,"readWriteType":"All","excludeManagementEventSources":["kms.amazonaws.com"]}]}}`,
			func(r *Result) bool { return r.LoggingOff }},
		{"advanced selectors for data only", `{"eventSource":"cloudtrail.amazonaws.com","eventName":"PutEventSelectors","requestParameters":{"advancedEventSelectors":[
			{"fieldSelectors":[{"field":"eventCategory","equals":["Data"]}]}]}}`,
			func(r *Result) bool { return r.LoggingOff }},
		{"advanced selectors with management", `{"eventSource":"cloudtrail.amazonaws.com","eventName":"PutEventSelectors","requestParameters":{"advancedEventSelectors":[
			{"fieldSelectors":[{"field":"eventCategory","equals":["Management"]}]}]}}`,
			func(r *Result) bool { return !r.LoggingOff }},
		{"guardduty detector deleted", `{"eventSource":"guardduty.amazonaws.com","eventName":"DeleteDetector","requestParameters":{"detectorId":"d"}}`,
			func(r *Result) bool { return r.LoggingOff }},
		{"guardduty enabled", `{"eventSource":"guardduty.amazonaws.com","eventName":"UpdateDetector","requestParameters":{"detectorId":"d","enable":true}}`,
			func(r *Result) bool { return !r.LoggingOff }},
		{"security hub off", `{"eventSource":"securityhub.amazonaws.com","eventName":"DisableSecurityHub"}`,
			func(r *Result) bool { return r.LoggingOff }},
		{"config recorder stopped", `{"eventSource":"config.amazonaws.com","eventName":"StopConfigurationRecorder","requestParameters":{"configurationRecorderName":"default"}}`,
			func(r *Result) bool { return r.LoggingOff }},
		{"admin policy on a group", `{"eventSource":"iam.amazonaws.com","eventName":"AttachGroupPolicy","requestParameters":{"groupName":"g","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"}}`,
			func(r *Result) bool {
				return r.AdminPolicyAttached && r.PolicyARN == "arn:aws:iam::aws:policy/AdministratorAccess"
			}},
		{"a policy named like admin", `{"eventSource":"iam.amazonaws.com","eventName":"AttachRolePolicy","requestParameters":{"policyArn":"arn:aws:iam::1:policy/NotAdministratorAccessReally"}}`,
			func(r *Result) bool { return !r.AdminPolicyAttached }},
		{"wildcard managed policy, *:* and a list", `{"eventSource":"iam.amazonaws.com","eventName":"CreatePolicy","requestParameters":{"policyName":"p",
			"policyDocument":"{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"s3:Get*\",\"*:*\"],\"Resource\":[\"*\"]}]}"}}`,
			func(r *Result) bool { return r.WildcardPolicy }},
		{"NotAction on every resource", `{"eventSource":"iam.amazonaws.com","eventName":"PutUserPolicy","requestParameters":{"policyName":"p",
			"policyDocument":"{\"Statement\":{\"Effect\":\"Allow\",\"NotAction\":\"iam:*\",\"Resource\":\"*\"}}"}}`,
			func(r *Result) bool { return r.WildcardPolicy }},
		{"url-encoded with plus signs", `{"eventSource":"iam.amazonaws.com","eventName":"PutGroupPolicy","requestParameters":{"policyName":"p",
			"policyDocument":"%7B+%22Statement%22%3A+%5B%7B+%22Effect%22%3A+%22Allow%22%2C+%22Action%22%3A+%22*%22%2C+%22Resource%22%3A+%22*%22+%7D%5D+%7D"}}`,
			func(r *Result) bool { return r.WildcardPolicy }},
		{"star actions on one bucket", `{"eventSource":"iam.amazonaws.com","eventName":"PutRolePolicy","requestParameters":{"policyName":"p",
			"policyDocument":"{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"arn:aws:s3:::b\"}]}"}}`,
			func(r *Result) bool { return !r.WildcardPolicy }},
		{"deny star", `{"eventSource":"iam.amazonaws.com","eventName":"PutRolePolicy","requestParameters":{"policyName":"p",
			"policyDocument":"{\"Statement\":[{\"Effect\":\"Deny\",\"Action\":\"*\",\"Resource\":\"*\"}]}"}}`,
			func(r *Result) bool { return !r.WildcardPolicy }},
		{"root access key", `{"eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","userIdentity":{"type":"Root","arn":"arn:aws:iam::1:root"}}`,
			func(r *Result) bool { return r.RootAccessKey && r.Root }},
		{"root creates a key for a user", `{"eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey","userIdentity":{"type":"Root"},"requestParameters":{"userName":"bot"}}`,
			func(r *Result) bool { return !r.RootAccessKey && r.Root }},
		{"disable key", `{"eventSource":"kms.amazonaws.com","eventName":"DisableKey","requestParameters":{"keyId":"k"}}`,
			func(r *Result) bool { return r.KMSKeyDeletion }},
		{"encrypt", `{"eventSource":"kms.amazonaws.com","eventName":"Encrypt","requestParameters":{"keyId":"k"}}`,
			func(r *Result) bool { return !r.KMSKeyDeletion }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustClassify(t, tt.rec)
			if !tt.check(r) {
				b, _ := json.MarshalIndent(r, "", "  ")
				t.Errorf("unexpected result:\n%s", b)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	for _, rec := range []string{``, `[]`, `"x"`, `{"eventName":5}`, `{"requestParameters":[1]}`} {
		if _, err := Classify(json.RawMessage(rec)); err == nil {
			t.Errorf("Classify(%s): no error", rec)
		}
	}
	// Odd shapes inside requestParameters are not errors.
	mustClassify(t, `{"eventSource":"ec2.amazonaws.com","eventName":"AuthorizeSecurityGroupIngress","requestParameters":{"ipPermissions":"x","cidrIp":7}}`)
	mustClassify(t, `{"eventSource":"iam.amazonaws.com","eventName":"PutRolePolicy","requestParameters":{"policyDocument":"not json %zz"}}`)
}

func TestJSONShape(t *testing.T) {
	b, err := json.Marshal(mustClassify(t, `{"eventSource":"sts.amazonaws.com","eventName":"GetCallerIdentity","requestParameters":null}`))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if strings.Contains(s, "null") {
		t.Errorf("null in %s", s)
	}
	for _, k := range []string{`"service":"sts"`, `"action":"GetCallerIdentity"`, `"read_only":true`, `"ingress":[]`, `"ingress_cidrs":[]`,
		`"open_to_world":false`, `"world_ports":[]`, `"targets":[]`, `"public_access_reasons":[]`, `"logging_off_reasons":[]`,
		`"admin_policy_attached":false`, `"wildcard_policy":false`, `"root_access_key":false`, `"kms_key_deletion":false`} {
		if !strings.Contains(s, k) {
			t.Errorf("%s not in %s", k, s)
		}
	}
}
