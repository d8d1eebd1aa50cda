package cloudtrail

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/ingest"
)

// Convert maps one CloudTrail record, or an EventBridge envelope holding one,
// to an event. Raw is left for the caller to set.
func Convert(raw []byte) (event.Event, error) {
	var rec record
	if err := decode(raw, &rec); err != nil {
		return event.Event{}, err
	}
	envelope := false
	if rec.DetailType != "" || !rec.Detail.IsNull() {
		if !strings.HasSuffix(rec.DetailType, "via CloudTrail") {
			return event.Event{}, ingest.Skip("EventBridge event %q is not from CloudTrail", rec.DetailType)
		}
		if len(rec.Detail) == 0 || rec.Detail[0] != '{' {
			return event.Event{}, errors.New("detail-type set but no detail object (EventBridge envelope)")
		}
		detail := rec.Detail
		rec = record{}
		if err := decode(detail, &rec); err != nil {
			return event.Event{}, fmt.Errorf("detail: %w", err)
		}
		envelope = true
	}
	if rec.EventName == "" {
		if rec.DigestStartTime != "" {
			return event.Event{}, ingest.Skip("CloudTrail digest file")
		}
		return event.Event{}, errors.New("no eventName: not a CloudTrail record")
	}
	if rec.EventSource == "" {
		return event.Event{}, errors.New("no eventSource: not a CloudTrail record")
	}
	attrs := make(map[string]any, 12)
	ev := event.Event{
		Source:   Source,
		Action:   rec.EventName,
		Target:   rec.RecipientAccountID,
		Activity: activity(rec.EventName),
		ClassUID: class(rec.EventSource, rec.EventName),
		Outcome:  event.OutcomeSuccess,
		Attrs:    attrs,
	}
	if rec.EventTime != "" {
		t, err := ingest.ParseTime(rec.EventTime)
		if err != nil {
			return event.Event{}, fmt.Errorf("eventTime: %w", err)
		}
		ev.Time = t
	} else {
		attrs["ingest.time_missing"] = true
	}
	actor(&ev, &rec, attrs)
	ev.Resource = target(&rec, attrs)

	attrs["aws.event_source"] = rec.EventSource
	ingest.SetAttr(attrs, "aws.region", rec.AWSRegion)
	ingest.SetAttr(attrs, "aws.event_id", rec.EventID)
	ingest.SetAttr(attrs, "aws.event_type", rec.EventType)
	ingest.SetAttr(attrs, "aws.event_category", rec.EventCategory)
	switch rec.ReadOnly.String() {
	case "true":
		attrs["aws.read_only"] = true
	case "false":
		attrs["aws.read_only"] = false
	}
	if envelope {
		attrs["aws.eventbridge"] = true
	}
	if rec.ErrorCode != "" || rec.ErrorMessage != "" {
		ev.Outcome = event.OutcomeFailure
		if denied(rec.ErrorCode) {
			ev.Outcome = event.OutcomeDenied
		}
		ingest.SetAttr(attrs, "aws.error_code", rec.ErrorCode)
		ingest.SetAttr(attrs, "aws.error_message", rec.ErrorMessage)
	}
	if rec.EventName == "ConsoleLogin" {
		if rec.ResponseElements.Member("ConsoleLogin").String() == "Failure" {
			ev.Outcome = event.OutcomeFailure
		}
		ingest.SetAttr(attrs, "aws.mfa_used", rec.AdditionalData.Member("MFAUsed").String())
	}
	return ev, nil
}

// denied reports whether an error code says that authorization failed.
func denied(code string) bool {
	return strings.HasPrefix(code, "AccessDenied") || strings.HasSuffix(code, ".AccessDenied") ||
		strings.HasSuffix(code, "UnauthorizedOperation") || code == "UnauthorizedAccess" ||
		code == "UnauthorizedException"
}

// actor fills ev.Actor from userIdentity.
func actor(ev *event.Event, rec *record, attrs map[string]any) {
	id := &rec.UserIdentity
	a := &ev.Actor
	a.UserAgent = rec.UserAgent
	if looksLikeIP(rec.SourceIPAddress) {
		a.SrcIP = rec.SourceIPAddress
	} else {
		// "ec2.amazonaws.com", "AWS Internal": a service called on the user's behalf.
		ingest.SetAttr(attrs, "aws.source", rec.SourceIPAddress)
	}
	issuer := ""
	if id.SessionContext != nil {
		issuer = id.SessionContext.SessionIssuer.UserName
		if id.SessionContext.Attributes.MFAAuthenticated.String() == "true" {
			attrs["aws.mfa_authenticated"] = true
		}
		ingest.SetAttr(attrs, "aws.source_identity", id.SessionContext.SourceIdentity)
	}
	switch id.Type {
	case "Root":
		a.User, a.Type = "root", "human"
	case "IAMUser":
		a.User, a.Type = cmp.Or(id.UserName, afterLast(id.ARN, "/")), "human"
	case "AssumedRole":
		// arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION
		session := afterLast(id.ARN, "/")
		role := issuer
		if role == "" {
			role = afterLast(strings.TrimSuffix(id.ARN, "/"+session), "/")
		}
		a.User = role + "/" + session
		if role == "" || session == "" {
			a.User = cmp.Or(role, session)
		}
		if role != "" {
			a.Roles = []string{role}
		}
		a.Type = "service"
		if strings.HasPrefix(role, "AWSReservedSSO_") || rec.FromConsole.String() == "true" ||
			strings.Contains(session, "@") {
			a.Type = "human"
		}
	case "FederatedUser":
		a.User, a.Type = cmp.Or(afterLast(id.ARN, "federated-user/"), id.PrincipalID), "human"
	case "AWSService":
		a.User, a.Type = cmp.Or(id.InvokedBy, rec.SourceIPAddress), "service"
	case "AWSAccount":
		a.User, a.Type = cmp.Or(id.AccountID, id.PrincipalID), "service"
	case "IdentityCenterUser", "SAMLUser", "WebIdentityUser":
		u := id.UserName
		if u == "" && id.OnBehalfOf != nil {
			u = id.OnBehalfOf.UserID
		}
		a.User, a.Type = cmp.Or(u, id.PrincipalID), "human"
	}
	if a.User == "" {
		a.User = cmp.Or(id.UserName, id.ARN, id.PrincipalID, id.InvokedBy, id.AccountID, ingest.Unknown)
	}
	if strings.HasPrefix(id.AccessKeyID, "ASIA") { // temporary credentials: one session
		a.SessionID = id.AccessKeyID
	}
	ingest.SetAttr(attrs, "aws.identity_type", id.Type)
	ingest.SetAttr(attrs, "aws.account_id", id.AccountID)
	ingest.SetAttr(attrs, "aws.arn", id.ARN)
	ingest.SetAttr(attrs, "aws.access_key_id", id.AccessKeyID)
	ingest.SetAttr(attrs, "aws.invoked_by", id.InvokedBy)
}

// looksLikeIP accepts IPv4 and IPv6 text as CloudTrail writes it (which may
// have leading zeros), and not host names such as "ec2.amazonaws.com".
func looksLikeIP(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c == '.' || c == ':' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return strings.Count(s, ".") == 3 || strings.Contains(s, ":")
}

func afterLast(s, sep string) string {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[i+len(sep):]
	}
	return ""
}

// target names what the call acted on: the first of resources[] when the record
// lists them, else the request parameter that names the object.
func target(rec *record, attrs map[string]any) event.Resource {
	if len(rec.Resources) > 0 {
		r := rec.Resources[0]
		res := event.Resource{Type: r.Type, ID: r.ARN, Name: arnName(r.ARN)}
		if len(rec.Resources) > 1 {
			arns := make([]string, 0, len(rec.Resources))
			for _, r := range rec.Resources {
				arns = append(arns, r.ARN)
			}
			attrs["aws.resources"] = arns
		}
		return res
	}
	p := rec.RequestParameters
	if p == nil {
		return event.Resource{}
	}
	svc := strings.TrimSuffix(rec.EventSource, ".amazonaws.com")
	for _, c := range []struct {
		v        ingest.Lazy
		typ      string
		isID     bool
		services string // only for these services, when not empty
	}{
		{p.InstanceID, "AWS::EC2::Instance", true, ""},
		{p.InstanceIDs, "AWS::EC2::Instance", true, ""},
		{p.InstancesSet.Member("items"), "AWS::EC2::Instance", true, ""},
		{p.BucketName, "AWS::S3::Bucket", false, ""},
		{p.SnapshotID, "AWS::EC2::Snapshot", true, ""},
		{p.VolumeID, "AWS::EC2::Volume", true, ""},
		{p.ImageID, "AWS::EC2::Image", true, ""},
		{p.GroupID, "AWS::EC2::SecurityGroup", true, ""},
		{p.FlowLogIDs, "AWS::EC2::FlowLog", true, ""},
		{p.PolicyArn, "AWS::IAM::ManagedPolicy", true, ""},
		{p.UserName, "AWS::IAM::User", false, "iam"},
		{p.RoleName, "AWS::IAM::Role", false, ""},
		{p.RoleArn, "AWS::IAM::Role", true, ""},
		{p.GroupName, "AWS::IAM::Group", false, "iam"},
		{p.GroupName, "AWS::EC2::SecurityGroup", false, "ec2"},
		{p.PolicyName, "AWS::IAM::Policy", false, "iam"},
		{p.FunctionName, "AWS::Lambda::Function", false, ""},
		{p.LayerName, "AWS::Lambda::LayerVersion", false, ""},
		{p.TrailName, "AWS::CloudTrail::Trail", false, ""},
		{p.Name, "AWS::CloudTrail::Trail", false, "cloudtrail"},
		{p.SecretID, "AWS::SecretsManager::Secret", false, ""},
		{p.KeyID, "AWS::KMS::Key", true, ""},
		{p.HostedZoneID, "AWS::Route53::HostedZone", true, ""},
		{p.DBInstanceIdentifier, "AWS::RDS::DBInstance", false, ""},
		{p.DBClusterIdentifier, "AWS::RDS::DBCluster", false, ""},
		{p.ClusterName, "", false, ""},
		{p.LogGroupName, "AWS::Logs::LogGroup", false, ""},
		{p.TableName, "AWS::DynamoDB::Table", false, ""},
		{p.RepositoryName, "", false, ""},
		{p.TopicArn, "AWS::SNS::Topic", true, ""},
		{p.QueueURL, "AWS::SQS::Queue", true, ""},
		{p.ModelID, "AWS::Bedrock::FoundationModel", false, ""},
		{p.DocumentName, "AWS::SSM::Document", false, ""},
		{p.DetectorID, "AWS::GuardDuty::Detector", true, ""},
		{p.ResolverQLCID, "AWS::Route53Resolver::ResolverQueryLoggingConfig", true, ""},
		{p.Name, "AWS::SSM::Parameter", false, "ssm"},
		{p.Names, "AWS::SSM::Parameter", false, "ssm"},
		{p.UserName, "", false, ""},
		{p.Name, "", false, ""},
	} {
		if c.v.IsNull() || c.services != "" && c.services != svc {
			continue
		}
		v := c.v.String()
		if v == "" && len(c.v) > 0 && c.v[0] == '[' { // instancesSet.items[0].instanceId
			v = c.v.FirstElement().Member("instanceId").String()
		}
		if v == "" {
			continue
		}
		if c.isID || strings.HasPrefix(v, "arn:") {
			return event.Resource{Type: c.typ, ID: v, Name: arnName(v)}
		}
		return event.Resource{Type: c.typ, Name: v}
	}
	return event.Resource{}
}

// arnName returns the last part of an ARN's resource ("user/alice" -> "alice"),
// or "" when s is not an ARN.
func arnName(s string) string {
	if !strings.HasPrefix(s, "arn:") {
		return ""
	}
	if i := strings.LastIndexAny(s, "/:"); i >= 0 {
		return s[i+1:]
	}
	return ""
}

// activity maps an API name to an activity from its leading verb.
func activity(name string) string {
	switch {
	case name == "ConsoleLogin", strings.HasPrefix(name, "AssumeRole"):
		return "logon"
	}
	w := leadingWord(name)
	if w == "Batch" {
		w = leadingWord(name[len(w):])
	}
	return ingest.Verb(w)
}

func leadingWord(s string) string {
	for i, c := range s {
		if i > 0 && unicode.IsUpper(c) {
			return s[:i]
		}
	}
	return s
}

// IAM calls that change accounts (OCSF Account Change) and privileges (User
// Access Management).
var (
	accountChange = map[string]bool{
		"CreateUser": true, "DeleteUser": true, "UpdateUser": true,
		"CreateRole": true, "DeleteRole": true, "UpdateRole": true, "UpdateRoleDescription": true,
		"CreateLoginProfile": true, "UpdateLoginProfile": true, "DeleteLoginProfile": true,
		"CreateAccessKey": true, "UpdateAccessKey": true, "DeleteAccessKey": true,
		"ChangePassword": true, "EnableMFADevice": true, "DeactivateMFADevice": true,
		"CreateVirtualMFADevice": true, "DeleteVirtualMFADevice": true, "ResyncMFADevice": true,
		"CreateServiceSpecificCredential": true, "DeleteServiceSpecificCredential": true,
		"UploadSSHPublicKey": true, "DeleteSSHPublicKey": true, "UpdateSSHPublicKey": true,
		"CreateGroup": true, "DeleteGroup": true, "UpdateGroup": true,
		"CreateServiceLinkedRole": true, "DeleteServiceLinkedRole": true,
	}
	accessManagement = map[string]bool{
		"AttachUserPolicy": true, "AttachRolePolicy": true, "AttachGroupPolicy": true,
		"DetachUserPolicy": true, "DetachRolePolicy": true, "DetachGroupPolicy": true,
		"PutUserPolicy": true, "PutRolePolicy": true, "PutGroupPolicy": true,
		"DeleteUserPolicy": true, "DeleteRolePolicy": true, "DeleteGroupPolicy": true,
		"PutUserPermissionsBoundary": true, "PutRolePermissionsBoundary": true,
		"DeleteUserPermissionsBoundary": true, "DeleteRolePermissionsBoundary": true,
		"AddUserToGroup": true, "RemoveUserFromGroup": true, "UpdateAssumeRolePolicy": true,
		"CreatePolicyVersion": true, "SetDefaultPolicyVersion": true,
		"AddRoleToInstanceProfile": true, "RemoveRoleFromInstanceProfile": true,
	}
)

func class(source, name string) int {
	switch {
	case name == "ConsoleLogin", strings.HasPrefix(name, "AssumeRole"):
		return event.ClassAuthentication
	case source != "iam.amazonaws.com":
		return event.ClassAPIActivity
	case accountChange[name]:
		return event.ClassAccountChange
	case accessManagement[name]:
		return event.ClassUserAccessMgmt
	}
	return event.ClassAPIActivity
}
