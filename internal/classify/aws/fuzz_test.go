package aws

import (
	"testing"

	"github.com/vigil-audit/vigil/internal/classify/classifytest"
)

// FuzzClassify: any record either classifies or fails with an error; never a
// panic, and the same input gives the same result.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{
		`{"eventSource":"ec2.amazonaws.com","eventName":"AuthorizeSecurityGroupIngress","requestParameters":{"groupId":"sg-1","ipPermissions":{"items":[{"ipProtocol":"tcp","fromPort":22,"toPort":22,"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]},"ipv6Ranges":{"items":[{"cidrIpv6":"::/0"}]}}]}}}`,
		`{"eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","requestParameters":{"name":"main"}}`,
		`{"eventSource":"iam.amazonaws.com","eventName":"AttachUserPolicy","requestParameters":{"userName":"eve","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"}}`,
		`{"eventSource":"iam.amazonaws.com","eventName":"PutUserPolicy","requestParameters":{"policyDocument":"{\\"Statement\\":[{\\"Effect\\":\\"Allow\\",\\"Action\\":\\"*\\",\\"Resource\\":\\"*\\"}]}"}}`,
		`{"eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","requestParameters":{"bucketPolicy":{"Statement":[{"Principal":"*","Effect":"Allow"}]}}}`,
		`{"eventSource":"rds.amazonaws.com","eventName":"ModifyDBInstance","requestParameters":{"publiclyAccessible":true}}`,
		`{"eventSource":"kms.amazonaws.com","eventName":"ScheduleKeyDeletion"}`,
		`{}`, `null`, `[]`, `{"requestParameters":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { classifytest.Deterministic(t, Classify, b) })
}
