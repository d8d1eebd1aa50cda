// Package cloudtrail parses AWS CloudTrail records into Vigil events.
//
// It reads log files as CloudTrail delivers them to S3 ({"Records":[...]},
// gzipped or not), JSON arrays of records, single records, JSON lines, and
// EventBridge envelopes ({"detail-type": "AWS API Call via CloudTrail",
// "detail": {...}}). CloudTrail digest files are skipped. The mapping is
// documented in docs/sources.md.
package cloudtrail

import (
	"io"
	"time"

	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/ingest"
)

// Source is the event source CloudTrail records get.
const Source = "cloudtrail"

// Parser parses CloudTrail input.
type Parser struct {
	// Now is the time given to Normalize (for records without eventTime); nil
	// means time.Now.
	Now func() time.Time
}

var _ ingest.Parser = (*Parser)(nil)

// Source returns "cloudtrail".
func (p *Parser) Source() string { return Source }

// Parse reads CloudTrail records from r; see the package comment for formats.
func (p *Parser) Parse(r io.Reader, name string, emit func(event.Event) error) (ingest.Stats, error) {
	return ingest.Run(r, name, ingest.Format{Container: container, Convert: Convert, Now: p.Now}, emit)
}

func container(obj []byte) []byte {
	if recs := ingest.Member(obj, "Records"); len(recs) > 0 && recs[0] == '[' {
		return recs
	}
	return nil
}

type record struct {
	EventTime          string      `json:"eventTime"`
	EventSource        string      `json:"eventSource"`
	EventName          string      `json:"eventName"`
	AWSRegion          string      `json:"awsRegion"`
	SourceIPAddress    string      `json:"sourceIPAddress"`
	UserAgent          string      `json:"userAgent"`
	ErrorCode          string      `json:"errorCode"`
	ErrorMessage       string      `json:"errorMessage"`
	RequestParameters  *params     `json:"requestParameters"`
	ResponseElements   ingest.Lazy `json:"responseElements"`
	Resources          []resource  `json:"resources"`
	RecipientAccountID string      `json:"recipientAccountId"`
	EventID            string      `json:"eventID"`
	EventType          string      `json:"eventType"`
	EventCategory      string      `json:"eventCategory"`
	ReadOnly           ingest.Lazy `json:"readOnly"`
	UserIdentity       identity    `json:"userIdentity"`
	FromConsole        ingest.Lazy `json:"sessionCredentialFromConsole"`
	AdditionalData     ingest.Lazy `json:"additionalEventData"`
	DetailType         string      `json:"detail-type"` // EventBridge envelope
	Detail             ingest.Lazy `json:"detail"`
	DigestStartTime    string      `json:"digestStartTime"` // digest files
}

type identity struct {
	Type           string          `json:"type"`
	PrincipalID    string          `json:"principalId"`
	ARN            string          `json:"arn"`
	AccountID      string          `json:"accountId"`
	AccessKeyID    string          `json:"accessKeyId"`
	UserName       string          `json:"userName"`
	InvokedBy      string          `json:"invokedBy"`
	SessionContext *sessionContext `json:"sessionContext"`
	OnBehalfOf     *onBehalfOf     `json:"onBehalfOf"`
}

type sessionContext struct {
	SessionIssuer struct {
		Type     string `json:"type"`
		ARN      string `json:"arn"`
		UserName string `json:"userName"`
	} `json:"sessionIssuer"`
	Attributes struct {
		MFAAuthenticated ingest.Lazy `json:"mfaAuthenticated"`
	} `json:"attributes"`
	SourceIdentity string `json:"sourceIdentity"`
}

type onBehalfOf struct {
	UserID string `json:"userId"`
}

type resource struct {
	ARN       string `json:"ARN"`
	AccountID string `json:"accountId"`
	Type      string `json:"type"`
}

// params holds the request parameters that name what a call acts on. Each is
// kept as written: their types vary between services.
type params struct {
	BucketName           ingest.Lazy `json:"bucketName"`
	InstanceID           ingest.Lazy `json:"instanceId"`
	InstanceIDs          ingest.Lazy `json:"instanceIds"`
	InstancesSet         ingest.Lazy `json:"instancesSet"`
	UserName             ingest.Lazy `json:"userName"`
	RoleName             ingest.Lazy `json:"roleName"`
	RoleArn              ingest.Lazy `json:"roleArn"`
	GroupName            ingest.Lazy `json:"groupName"`
	GroupID              ingest.Lazy `json:"groupId"`
	PolicyArn            ingest.Lazy `json:"policyArn"`
	PolicyName           ingest.Lazy `json:"policyName"`
	FunctionName         ingest.Lazy `json:"functionName"`
	LayerName            ingest.Lazy `json:"layerName"`
	TrailName            ingest.Lazy `json:"trailName"`
	SnapshotID           ingest.Lazy `json:"snapshotId"`
	VolumeID             ingest.Lazy `json:"volumeId"`
	ImageID              ingest.Lazy `json:"imageId"`
	SecretID             ingest.Lazy `json:"secretId"`
	KeyID                ingest.Lazy `json:"keyId"`
	HostedZoneID         ingest.Lazy `json:"hostedZoneId"`
	DBInstanceIdentifier ingest.Lazy `json:"dBInstanceIdentifier"`
	DBClusterIdentifier  ingest.Lazy `json:"dBClusterIdentifier"`
	ClusterName          ingest.Lazy `json:"clusterName"`
	LogGroupName         ingest.Lazy `json:"logGroupName"`
	TableName            ingest.Lazy `json:"tableName"`
	RepositoryName       ingest.Lazy `json:"repositoryName"`
	TopicArn             ingest.Lazy `json:"topicArn"`
	QueueURL             ingest.Lazy `json:"queueUrl"`
	ModelID              ingest.Lazy `json:"modelId"`
	DocumentName         ingest.Lazy `json:"documentName"`
	DetectorID           ingest.Lazy `json:"detectorId"`
	ResolverQLCID        ingest.Lazy `json:"resolverQueryLogConfigId"`
	FlowLogIDs           ingest.Lazy `json:"flowLogIds"`
	Name                 ingest.Lazy `json:"name"`
	Names                ingest.Lazy `json:"names"`
}

// field returns the field a request parameter is kept in, or nil.
func (p *params) field(key string) *ingest.Lazy {
	switch key {
	case "bucketName":
		return &p.BucketName
	case "instanceId":
		return &p.InstanceID
	case "instanceIds":
		return &p.InstanceIDs
	case "instancesSet":
		return &p.InstancesSet
	case "userName":
		return &p.UserName
	case "roleName":
		return &p.RoleName
	case "roleArn":
		return &p.RoleArn
	case "groupName":
		return &p.GroupName
	case "groupId":
		return &p.GroupID
	case "policyArn":
		return &p.PolicyArn
	case "policyName":
		return &p.PolicyName
	case "functionName":
		return &p.FunctionName
	case "layerName":
		return &p.LayerName
	case "trailName":
		return &p.TrailName
	case "snapshotId":
		return &p.SnapshotID
	case "volumeId":
		return &p.VolumeID
	case "imageId":
		return &p.ImageID
	case "secretId":
		return &p.SecretID
	case "keyId":
		return &p.KeyID
	case "hostedZoneId":
		return &p.HostedZoneID
	case "dBInstanceIdentifier":
		return &p.DBInstanceIdentifier
	case "dBClusterIdentifier":
		return &p.DBClusterIdentifier
	case "clusterName":
		return &p.ClusterName
	case "logGroupName":
		return &p.LogGroupName
	case "tableName":
		return &p.TableName
	case "repositoryName":
		return &p.RepositoryName
	case "topicArn":
		return &p.TopicArn
	case "queueUrl":
		return &p.QueueURL
	case "modelId":
		return &p.ModelID
	case "documentName":
		return &p.DocumentName
	case "detectorId":
		return &p.DetectorID
	case "resolverQueryLogConfigId":
		return &p.ResolverQLCID
	case "flowLogIds":
		return &p.FlowLogIDs
	case "name":
		return &p.Name
	case "names":
		return &p.Names
	}
	return nil
}
