package cloudtrail

import (
	"bytes"
	"compress/gzip"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/ingest"
	"github.com/vigil-audit/vigil/internal/ingest/ingesttest"
)

// Hand-written records (ours, not corpus data) for the identity types and
// formats the corpus lacks.
const (
	rootLogin = `{"eventVersion":"1.08","userIdentity":{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333"},"eventTime":"2024-05-01T10:00:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7","userAgent":"Mozilla/5.0","requestParameters":null,"responseElements":{"ConsoleLogin":"Failure"},"additionalEventData":{"MFAUsed":"No"},"errorMessage":"Failed authentication","eventID":"e-root-1","readOnly":false,"eventType":"AwsConsoleSignIn","recipientAccountId":"111122223333"}`
	svcCall   = `{"userIdentity":{"type":"AWSService","invokedBy":"cloudformation.amazonaws.com"},"eventTime":"2024-05-01T10:01:00Z","eventSource":"s3.amazonaws.com","eventName":"DeleteBucket","awsRegion":"eu-west-1","sourceIPAddress":"cloudformation.amazonaws.com","userAgent":"cloudformation.amazonaws.com","requestParameters":{"bucketName":"logs-archive","Host":"logs-archive.s3.amazonaws.com"},"eventID":"e-svc-1","recipientAccountId":"111122223333"}`
	ssoRole   = `{"userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLE:alice@example.com","arn":"arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0123/alice@example.com","accountId":"111122223333","accessKeyId":"ASIAEXAMPLE","sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_Admin_0123","userName":"AWSReservedSSO_Admin_0123"},"attributes":{"creationDate":"2024-05-01T09:00:00Z","mfaAuthenticated":"true"}}},"eventTime":"2024-05-01T10:02:00Z","eventSource":"ec2.amazonaws.com","eventName":"TerminateInstances","awsRegion":"eu-west-1","sourceIPAddress":"203.0.113.9","userAgent":"aws-cli/2","requestParameters":{"instancesSet":{"items":[{"instanceId":"i-0abc"}]}},"errorCode":"Client.UnauthorizedOperation","errorMessage":"You are not authorized","eventID":"e-sso-1","readOnly":false,"recipientAccountId":"111122223333"}`
	iamUser   = `{"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/bob","accountId":"111122223333","accessKeyId":"AKIAEXAMPLE","userName":"bob"},"eventTime":"2024-05-01T10:03:00Z","eventSource":"iam.amazonaws.com","eventName":"PutRolePolicy","awsRegion":"us-east-1","sourceIPAddress":"192.0.2.1","requestParameters":{"roleName":"deploy","policyName":"inline"},"eventID":"e-iam-1","recipientAccountId":"111122223333"}`
)

func parseAll(t *testing.T, input []byte) (ingest.Stats, []event.Event) {
	t.Helper()
	var evs []event.Event
	st, err := (&Parser{Now: ingesttest.Now}).Parse(bytes.NewReader(input), "t", func(ev event.Event) error {
		evs = append(evs, ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st, evs
}

func TestFormatsAndMapping(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{"Records":[` + rootLogin + `,` + svcCall + `]}`))
	zw.Close()
	rc, err := ingest.Open(writeTemp(t, gz.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var evs []event.Event
	st, err := (&Parser{}).Parse(rc, "file.json.gz", func(ev event.Event) error { evs = append(evs, ev); return nil })
	if err != nil || st.Accepted != 2 || st.Rejected != 0 {
		t.Fatalf("gzip Records file: %+v, %v", st, err)
	}
	eb := `{"version":"0","id":"x","detail-type":"AWS API Call via CloudTrail","source":"aws.ec2","detail":` + ssoRole + `}`
	other := `{"version":"0","detail-type":"EC2 Instance State-change Notification","detail":{"state":"running"}}`
	digest := `{"awsAccountId":"111122223333","digestStartTime":"2024-05-01T10:00:00Z","logFiles":[]}`
	st2, evs2 := parseAll(t, []byte(eb+"\n"+other+"\n"+iamUser+"\n"+digest+"\n"))
	if st2.Accepted != 2 || st2.Skipped != 2 || st2.Rejected != 0 {
		t.Fatalf("stats %+v", st2)
	}
	evs = append(evs, evs2...)
	type want struct {
		user, typ, action, resType, resName, outcome, activity string
		class                                                  int
	}
	for i, w := range []want{
		{"root", "human", "ConsoleLogin", "", "", "failure", "logon", event.ClassAuthentication},
		{"cloudformation.amazonaws.com", "service", "DeleteBucket", "AWS::S3::Bucket", "logs-archive", "success", "delete", event.ClassAPIActivity},
		{"AWSReservedSSO_Admin_0123/alice@example.com", "human", "TerminateInstances", "AWS::EC2::Instance", "", "denied", "delete", event.ClassAPIActivity},
		{"bob", "human", "PutRolePolicy", "AWS::IAM::Role", "deploy", "success", "create", event.ClassUserAccessMgmt},
	} {
		ev := evs[i]
		if ev.Actor.User != w.user || ev.Actor.Type != w.typ || ev.Action != w.action || ev.Resource.Type != w.resType ||
			ev.Resource.Name != w.resName || ev.Outcome != w.outcome || ev.Activity != w.activity || ev.ClassUID != w.class {
			t.Errorf("event %d: %+v\nwant %+v", i, ev, w)
		}
		if ev.Target != "111122223333" || ev.Source != "cloudtrail" {
			t.Errorf("event %d: target %q source %q", i, ev.Target, ev.Source)
		}
	}
	if evs[1].Actor.SrcIP != "" || evs[1].Attrs["aws.source"] != "cloudformation.amazonaws.com" {
		t.Errorf("service call: src_ip %q, aws.source %v", evs[1].Actor.SrcIP, evs[1].Attrs["aws.source"])
	}
	sso := evs[2]
	if sso.Resource.ID != "i-0abc" || sso.Actor.SessionID != "ASIAEXAMPLE" || sso.Attrs["aws.mfa_authenticated"] != true ||
		sso.Attrs["aws.eventbridge"] != true || sso.Attrs["aws.error_code"] != "Client.UnauthorizedOperation" {
		t.Errorf("sso event: %+v", sso)
	}
	if !strings.HasPrefix(string(sso.Raw), `{"version":"0"`) {
		t.Errorf("EventBridge raw should be the envelope: %.40s", sso.Raw)
	}
	if evs[0].Attrs["aws.event_id"] != "e-root-1" || evs[0].Attrs["aws.read_only"] != false || evs[0].Attrs["aws.region"] != "us-east-1" {
		t.Errorf("attrs %v", evs[0].Attrs)
	}
}

func TestMalformedRecords(t *testing.T) {
	input := "[\n" + iamUser + ",\n" +
		`{"eventSource":"s3.amazonaws.com","eventTime":"2024-05-01T10:00:00Z"}` + ",\n" +
		`{"eventName":"X","eventSource":"s3.amazonaws.com","eventTime":"last tuesday"}` + ",\n" +
		`{"eventName":"X","eventSource":"s3.amazonaws.com","userIdentity":"bob"}` + ",\n" +
		svcCall + "\n]"
	st, evs := parseAll(t, []byte(input))
	if len(evs) != 2 || st.Rejected != 3 {
		t.Fatalf("%d events, rejects %v", len(evs), st.Rejects)
	}
	for i, w := range map[int]string{0: "t#1: no eventName", 1: "t#2: eventTime", 2: "t#3: field userIdentity"} {
		if !strings.HasPrefix(st.Rejects[i].String(), w) {
			t.Errorf("reject %d = %s, want %s...", i, st.Rejects[i], w)
		}
	}
	if st.Rejects[1].Line != 4 {
		t.Errorf("reject line %d, want 4", st.Rejects[1].Line)
	}
}

func writeTemp(t *testing.T, data []byte) string {
	t.Helper()
	path := t.TempDir() + "/CloudTrail_file.json.gz"
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestInvalidJSON(t *testing.T) {
	st, evs := parseAll(t, []byte(iamUser+"\n"+`{"eventName":"X","eventSource":"s3.amazonaws.com","eventTime":"2024-05-01T10:00:00Z",}`+"\n"+
		`{"eventName":"X","eventSource":"s3.amazonaws.com","requestParameters":{"bucketName":tru}}`+"\n"+svcCall+"\n"))
	if len(evs) != 2 || st.Rejected != 2 {
		t.Fatalf("%d events, rejects %v", len(evs), st.Rejects)
	}
	for i, r := range st.Rejects {
		if r.Position != "t:"+strconv.Itoa(i+2) || !strings.Contains(r.Reason, "invalid JSON") {
			t.Errorf("reject %s", r)
		}
	}
}
