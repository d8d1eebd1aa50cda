// Package aws classifies an AWS API call, given as a CloudTrail-shaped record
// (eventSource, eventName, userIdentity, requestParameters, ...), into plain
// data the policy engine can decide on (CEL over the JSON form of [Result],
// bound as `aws`).
//
// The record is decoded as JSON and the request parameters that matter are
// read by field: security group ingress ranges, destruction of instances and
// data stores, public access (bucket ACLs and policies, public access blocks,
// publicly accessible databases, snapshots and images shared with "all"),
// logging and detection shut-off (CloudTrail, GuardDuty, VPC flow logs,
// Security Hub, Config, Route 53 Resolver query logs), administrator and
// wildcard IAM policies (policy documents are parsed, also when they arrive
// as a URL-encoded JSON string), root access keys and KMS key deletion.
// Every list in the result is non-nil.
package aws

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/vigil-audit/vigil/internal/classify"
)

// Result is what the classifier derives from one record. The JSON field
// names are what rules are written against.
type Result struct {
	// Service is eventSource without ".amazonaws.com": "ec2", "iam", "s3".
	Service string `json:"service"`
	// Action is eventName: "TerminateInstances".
	Action string `json:"action"`
	// ReadOnly is the record's readOnly, or, when absent, whether the action
	// is a Get, List, Describe, Head, Lookup or BatchGet call.
	ReadOnly bool   `json:"read_only"`
	Region   string `json:"region"`
	// IdentityType is userIdentity.type: Root, IAMUser, AssumedRole, ...
	IdentityType string `json:"identity_type"`
	IdentityARN  string `json:"identity_arn"`
	Root         bool   `json:"root"`
	ErrorCode    string `json:"error_code"`

	// Ingress are the rules an AuthorizeSecurityGroupIngress (or
	// ModifySecurityGroupRules) call adds: one entry per range.
	Ingress []Ingress `json:"ingress"`
	// IngressCIDRs are Ingress's ranges; OpenToWorld: one of them is
	// 0.0.0.0/0 or ::/0 (any /0 prefix); WorldPorts: the port ranges open to
	// the world ("tcp/22", "tcp/0-65535", "all").
	IngressCIDRs []string `json:"ingress_cidrs"`
	OpenToWorld  bool     `json:"open_to_world"`
	WorldPorts   []string `json:"world_ports"`

	// TerminatesInstances: TerminateInstances.
	TerminatesInstances bool `json:"terminates_instances"`
	// DeletesDatabase: deletion of a database or data store (RDS instances
	// and clusters, DynamoDB tables, S3 buckets, EFS, ElastiCache, Redshift,
	// DocumentDB, Neptune, OpenSearch, EBS volumes, backup vaults, ...).
	DeletesDatabase bool `json:"deletes_database"`
	// Targets are the identifiers of the instances or data stores.
	Targets []string `json:"targets"`
	// SkipFinalSnapshot: a database deletion without a final snapshot.
	SkipFinalSnapshot bool `json:"skip_final_snapshot"`

	// PublicAccess: the call makes something public; PublicAccessReasons
	// say what ("bucket-acl-public", "bucket-policy-public",
	// "public-access-block-removed", "public-access-block-disabled",
	// "db-publicly-accessible", "snapshot-public", "image-public").
	PublicAccess        bool     `json:"public_access"`
	PublicAccessReasons []string `json:"public_access_reasons"`

	// LoggingOff: the call stops, deletes or narrows audit logging or
	// threat detection; LoggingOffReasons say what.
	LoggingOff        bool     `json:"logging_off"`
	LoggingOffReasons []string `json:"logging_off_reasons"`

	// AdminPolicyAttached: AttachUserPolicy, AttachRolePolicy or
	// AttachGroupPolicy of a policy whose ARN ends in /AdministratorAccess.
	AdminPolicyAttached bool   `json:"admin_policy_attached"`
	PolicyARN           string `json:"policy_arn"`
	// WildcardPolicy: a policy document (PutUserPolicy, PutRolePolicy,
	// PutGroupPolicy, CreatePolicy, CreatePolicyVersion) with an Allow
	// statement for Action "*" (or NotAction) on Resource "*".
	WildcardPolicy bool `json:"wildcard_policy"`

	// RootAccessKey: CreateAccessKey by the root identity for itself.
	RootAccessKey bool `json:"root_access_key"`
	// KMSKeyDeletion: ScheduleKeyDeletion, DisableKey or
	// DeleteImportedKeyMaterial.
	KMSKeyDeletion bool `json:"kms_key_deletion"`
}

// Ingress is one range an ingress rule opens.
type Ingress struct {
	Protocol    string `json:"protocol"` // "tcp", "udp", "icmp", "-1" (all)
	FromPort    int    `json:"from_port"`
	ToPort      int    `json:"to_port"`
	CIDR        string `json:"cidr"`
	OpenToWorld bool   `json:"open_to_world"`
}

type record struct {
	EventSource  string `json:"eventSource"`
	EventName    string `json:"eventName"`
	AWSRegion    string `json:"awsRegion"`
	ReadOnly     *bool  `json:"readOnly"`
	ErrorCode    string `json:"errorCode"`
	UserIdentity struct {
		Type string `json:"type"`
		ARN  string `json:"arn"`
	} `json:"userIdentity"`
	RequestParameters map[string]any `json:"requestParameters"`
}

// Classify classifies rec, one CloudTrail-shaped record. It fails only when
// rec is not a JSON object or its top-level fields have the wrong type.
func Classify(rec json.RawMessage) (*Result, error) {
	var r record
	if err := classify.Decode(rec, &r, "aws", "record"); err != nil {
		return nil, err
	}
	res := &Result{
		Service:             strings.TrimSuffix(r.EventSource, ".amazonaws.com"),
		Action:              r.EventName,
		Region:              r.AWSRegion,
		IdentityType:        r.UserIdentity.Type,
		IdentityARN:         r.UserIdentity.ARN,
		Root:                r.UserIdentity.Type == "Root",
		ErrorCode:           r.ErrorCode,
		Ingress:             []Ingress{},
		IngressCIDRs:        []string{},
		WorldPorts:          []string{},
		Targets:             []string{},
		PublicAccessReasons: []string{},
		LoggingOffReasons:   []string{},
	}
	if r.ReadOnly != nil {
		res.ReadOnly = *r.ReadOnly
	} else {
		res.ReadOnly = readOnlyName(r.EventName)
	}
	p := r.RequestParameters
	if p == nil {
		p = map[string]any{}
	}
	c := &classifier{res: res, p: p}
	c.ingress()
	c.destruction()
	c.public()
	c.logging()
	c.iam()
	c.kms()
	res.PublicAccess = len(res.PublicAccessReasons) > 0
	res.LoggingOff = len(res.LoggingOffReasons) > 0
	return res, nil
}

func readOnlyName(name string) bool {
	for _, p := range []string{"Get", "List", "Describe", "Head", "Lookup", "BatchGet"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

type classifier struct {
	res *Result
	p   map[string]any
}

func (c *classifier) is(service string, actions ...string) bool {
	return c.res.Service == service && slices.Contains(actions, c.res.Action)
}

// ingress reads AuthorizeSecurityGroupIngress in both shapes (ipPermissions
// items, and the flat cidrIp/fromPort/toPort form) and
// ModifySecurityGroupRules.
func (c *classifier) ingress() {
	switch {
	case c.is("ec2", "AuthorizeSecurityGroupIngress"):
		if cidr := classify.String(c.p["cidrIp"]); cidr != "" {
			c.addIngress(classify.String(c.p["ipProtocol"]), classify.Int(c.p["fromPort"]), classify.Int(c.p["toPort"]), cidr)
		}
		for _, perm := range items(c.p["ipPermissions"]) {
			proto, from, to := classify.String(perm["ipProtocol"]), classify.Int(perm["fromPort"]), classify.Int(perm["toPort"])
			for _, rg := range items(perm["ipRanges"]) {
				c.addIngress(proto, from, to, classify.String(rg["cidrIp"]))
			}
			for _, rg := range items(perm["ipv6Ranges"]) {
				c.addIngress(proto, from, to, classify.String(rg["cidrIpv6"]))
			}
		}
	case c.is("ec2", "ModifySecurityGroupRules"):
		req := obj(c.p["ModifySecurityGroupRulesRequest"])
		for _, ru := range items(req["SecurityGroupRule"]) {
			rule := obj(ru["SecurityGroupRule"])
			for _, k := range []string{"CidrIpv4", "CidrIpv6"} {
				if cidr := classify.String(rule[k]); cidr != "" {
					c.addIngress(classify.String(rule["IpProtocol"]), classify.Int(rule["FromPort"]), classify.Int(rule["ToPort"]), cidr)
				}
			}
		}
	}
}

func (c *classifier) addIngress(proto string, from, to int, cidr string) {
	if cidr == "" {
		return
	}
	world := classify.WorldCIDR(cidr)
	c.res.Ingress = append(c.res.Ingress, Ingress{Protocol: proto, FromPort: from, ToPort: to, CIDR: cidr, OpenToWorld: world})
	if !slices.Contains(c.res.IngressCIDRs, cidr) {
		c.res.IngressCIDRs = append(c.res.IngressCIDRs, cidr)
	}
	if world {
		c.res.OpenToWorld = true
		port := portRange(proto, from, to)
		if !slices.Contains(c.res.WorldPorts, port) {
			c.res.WorldPorts = append(c.res.WorldPorts, port)
		}
	}
}

func portRange(proto string, from, to int) string {
	proto = strings.ToLower(proto)
	if proto == "-1" || proto == "all" || proto == "" {
		return "all"
	}
	if from == to {
		return fmt.Sprintf("%s/%d", proto, from)
	}
	return fmt.Sprintf("%s/%d-%d", proto, from, to)
}

// dataStoreDeletions are the calls that delete a database or data store,
// by service.
var dataStoreDeletions = map[string][]string{
	"rds":               {"DeleteDBInstance", "DeleteDBCluster", "DeleteGlobalCluster"},
	"dynamodb":          {"DeleteTable", "DeleteBackup"},
	"s3":                {"DeleteBucket"},
	"elasticfilesystem": {"DeleteFileSystem"},
	"elasticache":       {"DeleteCacheCluster", "DeleteReplicationGroup", "DeleteServerlessCache"},
	"redshift":          {"DeleteCluster"},
	"es":                {"DeleteDomain", "DeleteElasticsearchDomain"},
	"docdb-elastic":     {"DeleteCluster"},
	"ec2":               {"DeleteVolume"},
	"backup":            {"DeleteBackupVault", "DeleteRecoveryPoint"},
	"kinesis":           {"DeleteStream"},
	"kafka":             {"DeleteCluster", "DeleteClusterV2"},
	"memorydb":          {"DeleteCluster"},
	"timestream":        {"DeleteDatabase", "DeleteTable"},
	"glue":              {"DeleteDatabase", "DeleteTable"},
	"qldb":              {"DeleteLedger"},
	"keyspaces":         {"DeleteKeyspace", "DeleteTable"},
	"fsx":               {"DeleteFileSystem"},
}

// targetKeys are request parameters that name what a deletion destroys.
var targetKeys = []string{
	"dBInstanceIdentifier", "dBClusterIdentifier", "globalClusterIdentifier", "tableName", "bucketName",
	"fileSystemId", "cacheClusterId", "replicationGroupId", "clusterIdentifier", "domainName", "volumeId",
	"backupVaultName", "streamName", "clusterArn", "clusterName", "databaseName", "name", "ledgerName",
	"keyspaceName", "serverlessCacheName",
}

func (c *classifier) destruction() {
	if c.is("ec2", "TerminateInstances") {
		c.res.TerminatesInstances = true
		for _, it := range items(c.p["instancesSet"]) {
			c.addTarget(classify.String(it["instanceId"]))
		}
		for _, id := range classify.Strings(c.p["instanceIds"]) {
			c.addTarget(id)
		}
		return
	}
	if !slices.Contains(dataStoreDeletions[c.res.Service], c.res.Action) {
		return
	}
	c.res.DeletesDatabase = true
	for _, k := range targetKeys {
		c.addTarget(classify.String(c.p[k]))
	}
	if b, ok := c.p["skipFinalSnapshot"].(bool); ok && b {
		c.res.SkipFinalSnapshot = true
	}
	if b, ok := c.p["skipFinalClusterSnapshot"].(bool); ok && b {
		c.res.SkipFinalSnapshot = true
	}
}

func (c *classifier) addTarget(t string) {
	if t != "" && !slices.Contains(c.res.Targets, t) {
		c.res.Targets = append(c.res.Targets, t)
	}
}

func (c *classifier) publicReason(r string) {
	if !slices.Contains(c.res.PublicAccessReasons, r) {
		c.res.PublicAccessReasons = append(c.res.PublicAccessReasons, r)
	}
}

const (
	allUsersURI           = "http://acs.amazonaws.com/groups/global/AllUsers"
	authenticatedUsersURI = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
)

func (c *classifier) public() {
	switch {
	case c.is("s3", "PutBucketAcl", "PutObjectAcl", "CreateBucket", "PutObject", "CopyObject"):
		if c.publicACL() {
			c.publicReason("bucket-acl-public")
		}
	case c.is("s3", "PutBucketPolicy"):
		if doc, ok := policyDocument(c.p["bucketPolicy"]); ok && publicPolicy(doc) {
			c.publicReason("bucket-policy-public")
		}
		if doc, ok := policyDocument(c.p["policy"]); ok && publicPolicy(doc) {
			c.publicReason("bucket-policy-public")
		}
	case c.is("s3", "DeleteBucketPublicAccessBlock", "DeletePublicAccessBlock", "DeleteAccountPublicAccessBlock"),
		c.is("s3-control", "DeletePublicAccessBlock"):
		c.publicReason("public-access-block-removed")
	case c.is("s3", "PutBucketPublicAccessBlock", "PutPublicAccessBlock", "PutAccountPublicAccessBlock"),
		c.is("s3-control", "PutPublicAccessBlock"):
		cfg := obj(c.p["PublicAccessBlockConfiguration"])
		if len(cfg) == 0 {
			cfg = obj(c.p["publicAccessBlockConfiguration"])
		}
		for _, k := range []string{"BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"} {
			if v, ok := lookupFold(cfg, k); ok && v != true && v != "true" {
				c.publicReason("public-access-block-disabled")
			}
		}
	case c.is("rds", "CreateDBInstance", "ModifyDBInstance", "CreateDBCluster", "ModifyDBCluster",
		"RestoreDBInstanceFromDBSnapshot", "RestoreDBInstanceToPointInTime", "RestoreDBClusterFromSnapshot",
		"RestoreDBInstanceFromS3", "CreateDBInstanceReadReplica"):
		if b, ok := c.p["publiclyAccessible"].(bool); ok && b {
			c.publicReason("db-publicly-accessible")
		}
	case c.is("ec2", "ModifySnapshotAttribute"):
		if addsGroupAll(obj(c.p["createVolumePermission"])) {
			c.publicReason("snapshot-public")
		}
	case c.is("ec2", "ModifyImageAttribute"):
		if addsGroupAll(obj(c.p["launchPermission"])) {
			c.publicReason("image-public")
		}
	case c.is("rds", "ModifyDBSnapshotAttribute", "ModifyDBClusterSnapshotAttribute"):
		if classify.String(c.p["attributeName"]) == "restore" && slices.Contains(classify.Strings(c.p["valuesToAdd"]), "all") {
			c.publicReason("snapshot-public")
		}
	}
}

// publicACL reads canned ACLs (x-amz-acl) and grants (AccessControlPolicy)
// of an S3 request.
func (c *classifier) publicACL() bool {
	for _, k := range []string{"x-amz-acl", "acl"} {
		for _, v := range classify.Strings(c.p[k]) {
			if v == "public-read" || v == "public-read-write" || v == "authenticated-read" {
				return true
			}
		}
	}
	for _, k := range []string{"x-amz-grant-read", "x-amz-grant-write", "x-amz-grant-read-acp", "x-amz-grant-write-acp", "x-amz-grant-full-control"} {
		for _, v := range classify.Strings(c.p[k]) {
			if strings.Contains(v, allUsersURI) || strings.Contains(v, authenticatedUsersURI) {
				return true
			}
		}
	}
	acp := obj(c.p["AccessControlPolicy"])
	acl := obj(acp["AccessControlList"])
	for _, g := range items(acl["Grant"]) {
		grantee := obj(g["Grantee"])
		if uri := classify.String(grantee["URI"]); uri == allUsersURI || uri == authenticatedUsersURI {
			return true
		}
	}
	return false
}

func addsGroupAll(perm map[string]any) bool {
	for _, it := range items(perm["add"]) {
		if strings.EqualFold(classify.String(it["group"]), "all") {
			return true
		}
	}
	return false
}

// restrictingKeys are condition keys that limit who a Principal "*"
// statement reaches (as IAM Access Analyzer treats them).
var restrictingKeys = []string{
	"aws:sourcevpce", "aws:sourcevpc", "aws:sourceip", "aws:principalorgid", "aws:principalaccount",
	"aws:sourceaccount", "aws:sourcearn", "aws:principalarn", "aws:userid", "aws:sourceowner",
	"aws:principalorgpaths", "aws:sourceorgid",
}

// publicPolicy: an Allow statement for Principal "*" (or {"AWS": "*"})
// without a condition on a key that restricts who it reaches.
func publicPolicy(doc map[string]any) bool {
	for _, st := range statements(doc) {
		if !strings.EqualFold(classify.String(st["Effect"]), "Allow") || !principalStar(st["Principal"]) {
			continue
		}
		if !restrictedByCondition(obj(st["Condition"])) {
			return true
		}
	}
	return false
}

func principalStar(p any) bool {
	switch p := p.(type) {
	case string:
		return p == "*"
	case map[string]any:
		for _, v := range p {
			if slices.Contains(classify.Strings(v), "*") {
				return true
			}
		}
	}
	return false
}

func restrictedByCondition(cond map[string]any) bool {
	for _, ops := range cond {
		for key, val := range obj(ops) {
			k := strings.ToLower(key)
			if !slices.Contains(restrictingKeys, k) {
				continue
			}
			if k == "aws:sourceip" && slices.ContainsFunc(classify.Strings(val), classify.WorldCIDR) {
				continue
			}
			if slices.Contains(classify.Strings(val), "*") {
				continue
			}
			return true
		}
	}
	return false
}

func (c *classifier) loggingOff(reason string) {
	if !slices.Contains(c.res.LoggingOffReasons, reason) {
		c.res.LoggingOffReasons = append(c.res.LoggingOffReasons, reason)
	}
}

func (c *classifier) logging() {
	switch {
	case c.is("cloudtrail", "StopLogging"):
		c.loggingOff("cloudtrail-stopped")
	case c.is("cloudtrail", "DeleteTrail", "DeleteEventDataStore"):
		c.loggingOff("cloudtrail-deleted")
	case c.is("cloudtrail", "UpdateTrail"):
		for _, k := range []string{"isMultiRegionTrail", "includeGlobalServiceEvents", "enableLogFileValidation"} {
			if b, ok := c.p[k].(bool); ok && !b {
				c.loggingOff("cloudtrail-narrowed")
			}
		}
	case c.is("cloudtrail", "PutEventSelectors"):
		if eventSelectorsExcludeManagement(c.p) {
			c.loggingOff("cloudtrail-management-events-excluded")
		}
	case c.is("guardduty", "DeleteDetector"):
		c.loggingOff("guardduty-deleted")
	case c.is("guardduty", "UpdateDetector"):
		if b, ok := c.p["enable"].(bool); ok && !b {
			c.loggingOff("guardduty-disabled")
		}
	case c.is("guardduty", "DisassociateFromMasterAccount", "DisassociateFromAdministratorAccount"):
		c.loggingOff("guardduty-disassociated")
	case c.is("ec2", "DeleteFlowLogs"):
		c.loggingOff("flow-logs-deleted")
	case c.is("securityhub", "DisableSecurityHub"):
		c.loggingOff("securityhub-disabled")
	case c.is("config", "DeleteConfigRule", "StopConfigurationRecorder", "DeleteConfigurationRecorder", "DeleteDeliveryChannel"):
		c.loggingOff("config-stopped")
	case c.is("route53resolver", "DeleteResolverQueryLogConfig", "DisassociateResolverQueryLogConfig"):
		c.loggingOff("dns-query-logs-deleted")
	case c.is("access-analyzer", "DeleteAnalyzer"):
		c.loggingOff("access-analyzer-deleted")
	case c.is("macie2", "DisableMacie"):
		c.loggingOff("macie-disabled")
	case c.is("inspector2", "Disable"):
		c.loggingOff("inspector-disabled")
	case c.is("logs", "DeleteLogGroup", "DeleteLogStream"):
		// Where CloudTrail, flow logs and applications deliver their logs.
		c.loggingOff("log-group-deleted")
	case c.is("logs", "PutRetentionPolicy"):
		if days, ok := c.p["retentionInDays"].(float64); ok && days < 7 {
			c.loggingOff("log-retention-shortened")
		}
	case c.is("s3", "PutBucketLogging"):
		// An empty BucketLoggingStatus switches server access logging off.
		if st, ok := c.p["BucketLoggingStatus"].(map[string]any); ok && st["LoggingEnabled"] == nil {
			c.loggingOff("s3-access-logging-off")
		}
	}
}

// eventSelectorsExcludeManagement: after the call, no (basic) event selector
// records write management events, or some management event sources are
// excluded; for advanced event selectors, none selects the Management
// category.
func eventSelectorsExcludeManagement(p map[string]any) bool {
	if adv := items(p["advancedEventSelectors"]); len(adv) > 0 {
		for _, sel := range adv {
			for _, f := range items(sel["fieldSelectors"]) {
				if classify.String(f["field"]) == "eventCategory" && slices.Contains(classify.Strings(f["equals"]), "Management") {
					return false
				}
			}
		}
		return true
	}
	sels := items(p["eventSelectors"])
	if len(sels) == 0 {
		return false
	}
	for _, sel := range sels {
		if len(classify.Strings(sel["excludeManagementEventSources"])) > 0 {
			return true
		}
	}
	for _, sel := range sels {
		include, ok := sel["includeManagementEvents"].(bool)
		if !ok {
			include = true // the API default
		}
		rw := classify.String(sel["readWriteType"])
		if include && (rw == "" || rw == "All" || rw == "WriteOnly") {
			return false
		}
	}
	return true
}

func (c *classifier) iam() {
	switch {
	case c.is("iam", "AttachUserPolicy", "AttachRolePolicy", "AttachGroupPolicy"):
		c.res.PolicyARN = classify.String(c.p["policyArn"])
		c.res.AdminPolicyAttached = strings.HasSuffix(c.res.PolicyARN, "/AdministratorAccess")
	case c.is("iam", "PutUserPolicy", "PutRolePolicy", "PutGroupPolicy", "CreatePolicy", "CreatePolicyVersion"):
		if doc, ok := policyDocument(c.p["policyDocument"]); ok {
			c.res.WildcardPolicy = wildcardPolicy(doc)
		}
	case c.is("iam", "CreateAccessKey"):
		c.res.RootAccessKey = c.res.Root && classify.String(c.p["userName"]) == ""
	}
}

// wildcardPolicy: an Allow statement for every action (Action "*" or
// "*:*", or any NotAction) on every resource (Resource "*" or NotResource).
func wildcardPolicy(doc map[string]any) bool {
	for _, st := range statements(doc) {
		if !strings.EqualFold(classify.String(st["Effect"]), "Allow") {
			continue
		}
		_, notAction := st["NotAction"]
		allActions := notAction || slices.ContainsFunc(classify.Strings(st["Action"]), func(a string) bool { return a == "*" || a == "*:*" })
		_, notResource := st["NotResource"]
		allResources := notResource || slices.Contains(classify.Strings(st["Resource"]), "*")
		if allActions && allResources {
			return true
		}
	}
	return false
}

func (c *classifier) kms() {
	c.res.KMSKeyDeletion = c.is("kms", "ScheduleKeyDeletion", "DisableKey", "DeleteImportedKeyMaterial")
}

// policyDocument decodes an IAM policy given as an object, a JSON string or
// a URL-encoded JSON string.
func policyDocument(v any) (map[string]any, bool) {
	switch v := v.(type) {
	case map[string]any:
		return v, true
	case string:
		var m map[string]any
		if json.Unmarshal([]byte(v), &m) == nil {
			return m, true
		}
		if u, err := url.QueryUnescape(v); err == nil && json.Unmarshal([]byte(u), &m) == nil {
			return m, true
		}
		if u, err := url.PathUnescape(v); err == nil && json.Unmarshal([]byte(u), &m) == nil {
			return m, true
		}
	}
	return nil, false
}

// statements returns a policy's Statement, a list or a single object.
func statements(doc map[string]any) []map[string]any {
	switch s := doc["Statement"].(type) {
	case map[string]any:
		return []map[string]any{s}
	case []any:
		var out []map[string]any
		for _, x := range s {
			if m, ok := x.(map[string]any); ok {
				out = append(out, m)
			}
		}
		return out
	}
	return nil
}

// items returns the objects of a CloudTrail list: {"items": [...]}, a plain
// list, or one object standing for a list of one.
func items(v any) []map[string]any {
	if m, ok := v.(map[string]any); ok {
		if inner, ok := m["items"]; ok {
			return items(inner)
		}
		if inner, ok := m["item"]; ok {
			return items(inner)
		}
		if len(m) == 0 {
			return nil
		}
		return []map[string]any{m}
	}
	return classify.Objects(v)
}

func obj(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func lookupFold(m map[string]any, key string) (any, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}
