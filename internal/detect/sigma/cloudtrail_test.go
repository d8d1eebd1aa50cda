package sigma

import (
	"github.com/vigil-audit/vigil/internal/corpora"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// Rule titles of the SigmaHQ AWS rules the CloudTrail corpus exercises.
const (
	assumeRoleMisuse   = "AWS STS AssumeRole Misuse"                              // 905d389b: any AssumedRole session issued by a Role (level low)
	flowLogsDeleted    = "AWS VPC Flow Logs Deleted"                              // e386b9b5: DeleteFlowLogs with errorCode Success or null
	ssmMaliciousUsage  = "Potential Malicious Usage of CloudTrail System Manager" // 38e7f511: SendCommand with errorCode Success or null
	sgIngressEgress    = "Ingress/Egress Security Group Modification"             // 6fb77778: Authorize/Revoke SecurityGroup Ingress/Egress
	snapshotExfil      = "AWS Snapshot Backup Exfiltration"                       // abae8fec: ModifySnapshotAttribute
	backdoorUserKeys   = "AWS IAM Backdoor Users Keys"                            // 0a5177f4: CreateAccessKey (for another user)
	lambdaLayer        = "AWS New Lambda Layer Attached"                          // 97fbabf8: UpdateFunctionConfiguration* with layers
	loginProfileUpdate = "AWS User Login Profile Was Modified"                    // 055fb148: UpdateLoginProfile, not for oneself (fieldref)
)

// cloudTrailExpect is, for each Stratus Red Team detonation log, the
// "rule title @ eventName" hits expected from the SigmaHQ AWS rules. Each
// entry was checked by reading the rule and the records; the comment says
// why, and which expected detections SigmaHQ has no rule for.
var cloudTrailExpect = map[string][]string{
	// 30 GetPasswordData calls (all denied) from an assumed role: SigmaHQ has
	// no GetPasswordData rule; the low-level AssumeRole-misuse rule fires on
	// every call made with the role's session. The 4 AssumeRole calls are by
	// an IAMUser and fire nothing.
	"aws.credential-access.ec2-get-password-data.json": {assumeRoleMisuse + " @ GetPasswordData"},
	// BatchGetSecretValue by an IAM user: no SigmaHQ rule (none covers Secrets Manager).
	"aws.credential-access.secretsmanager-batch-retrieve-secrets.json": nil,
	// DescribeParameters / GetParameters with decryption: no SigmaHQ rule for SSM parameters.
	"aws.credential-access.ssm-retrieve-securestring-parameters.json": nil,
	// PutEventSelectors (exclude management events): the SigmaHQ CloudTrail
	// rule (4db60cc0) covers StopLogging, UpdateTrail and DeleteTrail only, so
	// nothing fires. A gap for Vigil's built-in "logging shut off" detection.
	"aws.defense-evasion.cloudtrail-event-selectors.json": nil,
	// DeleteResolverQueryLogConfig: no SigmaHQ rule.
	"aws.defense-evasion.dns-delete-logs.json": nil,
	// DeleteFlowLogs without errorCode: e386b9b5 via selection_status_null.
	"aws.defense-evasion.vpc-remove-flow-logs.json": {flowLogsDeleted + " @ DeleteFlowLogs"},
	// RunInstances (denied) from an assumed role: no SigmaHQ rule for unusual
	// instance types; the AssumeRole-misuse rule fires on the role's call.
	"aws.execution.ec2-launch-unusual-instances.json": {assumeRoleMisuse + " @ RunInstances"},
	// SendCommand succeeded (no errorCode): 38e7f511. The Describe/Get calls
	// fire nothing.
	"aws.execution.ssm-send-command.json": {ssmMaliciousUsage + " @ SendCommand"},
	// AuthorizeSecurityGroupIngress (0.0.0.0/0:22): 6fb77778.
	"aws.exfiltration.ec2-security-group-open-port-22-ingress.json": {sgIngressEgress + " @ AuthorizeSecurityGroupIngress"},
	// ModifySnapshotAttribute (createVolumePermission for another account): abae8fec.
	"aws.exfiltration.ec2-share-ebs-snapshot.json": {snapshotExfil + " @ ModifySnapshotAttribute"},
	// Bedrock model access and InvokeModel: SigmaHQ only has guardrail
	// rules; every call is by an assumed role, so AssumeRole misuse fires.
	"aws.impact.bedrock-invoke-model.json": {
		assumeRoleMisuse + " @ CreateFoundationModelAgreement",
		assumeRoleMisuse + " @ GetFoundationModelAvailability",
		assumeRoleMisuse + " @ InvokeModel",
		assumeRoleMisuse + " @ ListFoundationModelAgreementOffers",
		assumeRoleMisuse + " @ PutFoundationModelEntitlement",
		assumeRoleMisuse + " @ PutUseCaseForModelAccess",
	},
	// SendSSHPublicKey (EC2 Instance Connect): no SigmaHQ rule.
	"aws.lateral-movement.ec2-instance-connect.json": nil,
	// UpdateAssumeRolePolicy (backdoored trust policy): no SigmaHQ rule.
	"aws.persistence.iam-backdoor-role.json": nil,
	// CreateUser + AttachUserPolicy(AdministratorAccess) + CreateAccessKey:
	// SigmaHQ has no admin-policy-attachment rule (the S3 Browser rules need
	// that user agent); CreateAccessKey by christophe for malicious-iam-user
	// fires 0a5177f4. (Its filter, `userIdentity.arn|contains:
	// responseElements.accessKey.userName`, is a literal string upstream, not a
	// fieldref, so it never filters.)
	"aws.persistence.iam-create-admin-user.json": {backdoorUserKeys + " @ CreateAccessKey"},
	// CreateLoginProfile for another user: only the S3 Browser rule
	// (db014773) names it, and the user agent is not S3 Browser.
	"aws.persistence.iam-create-user-login-profile.json": nil,
	// UpdateFunctionConfiguration20150331v2 with requestParameters.layers: 97fbabf8.
	"aws.persistence.lambda-layer-extension.json": {lambdaLayer + " @ UpdateFunctionConfiguration20150331v2"},
	// CreateTrustAnchor / CreateProfile (IAM Roles Anywhere): no SigmaHQ rule.
	"aws.persistence.rolesanywhere-create-trust-anchor.json": nil,
	// UpdateLoginProfile by christophe for another user: 055fb148 (the
	// fieldref filter compares the caller's ARN with the target user name and
	// does not match).
	"aws.privilege-escalation.iam-update-user-login-profile.json": {loginProfileUpdate + " @ UpdateLoginProfile"},
}

func TestCloudTrailCorpus(t *testing.T) {
	root := corpora.Dir(t)
	rules := loadRules(t, root, "cloud/aws/cloudtrail")
	e, err := NewEngine(rules, Options{})
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "cloudtrail", "stratus", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no CloudTrail corpus files")
	}
	seen := map[string]bool{}
	for _, f := range files {
		name := filepath.Base(f)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			want, ok := cloudTrailExpect[name]
			if !ok {
				t.Fatalf("no expectation for %s: add it to cloudTrailExpect", name)
			}
			got := map[string]bool{}
			evs := parseCloudTrail(t, f)
			for i := range evs {
				for _, r := range e.Match(&evs[i]) {
					got[r.Title+" @ "+evs[i].Action] = true
				}
			}
			gotList := titles(got)
			want = slices.Sorted(slices.Values(want))
			if !slices.Equal(gotList, want) {
				t.Errorf("hits:\n got  %q\n want %q", gotList, want)
			}
			t.Logf("%d events, hits %q", len(evs), gotList)
		})
	}
	for name := range cloudTrailExpect {
		if !seen[name] {
			t.Errorf("expectation for %s, which is not in the corpus", name)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "cloudtrail", "stratus")); err != nil {
		t.Fatal(err)
	}
}

// The StopLogging technique is in the held-out half of the corpus: a
// hand-written record (ours) checks the SigmaHQ rule for it, and a
// concurrent run checks that Match may be called from several goroutines.
func TestCloudTrailStopLoggingAndConcurrency(t *testing.T) {
	root := corpora.Dir(t)
	e, err := NewEngine(loadRules(t, root, "cloud/aws/cloudtrail"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	rec := `[{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/mallory","accountId":"111122223333","userName":"mallory"},"eventTime":"2024-05-01T10:00:00Z","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","userAgent":"aws-cli/2","requestParameters":{"name":"main-trail"},"responseElements":null,"eventID":"e-1","readOnly":false,"eventType":"AwsApiCall","recipientAccountId":"111122223333"}]`
	dir := t.TempDir()
	p := filepath.Join(dir, "stop.json")
	if err := os.WriteFile(p, []byte(rec), 0o600); err != nil {
		t.Fatal(err)
	}
	evs := parseCloudTrail(t, p)
	if len(evs) != 1 {
		t.Fatalf("%d events", len(evs))
	}
	done := make(chan []string, 4)
	for range 4 {
		go func() {
			var last []string
			for range 200 {
				last = last[:0]
				for _, r := range e.Match(&evs[0]) {
					last = append(last, r.Title)
				}
			}
			done <- last
		}()
	}
	for range 4 {
		if got := <-done; !slices.Equal(got, []string{"AWS CloudTrail Important Change"}) {
			t.Errorf("StopLogging: hits %q", got)
		}
	}
}
