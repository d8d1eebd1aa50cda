// Package config loads and validates vigil.yaml, Vigil's configuration file.
//
// Parsing is strict: a key the schema does not know is an error, not a warning,
// so a misspelt or misplaced setting (a "retension" section, a listen address
// indented under the wrong section) is caught at start-up instead of silently
// falling back to a default. Errors name the file and line, and for bad values
// the key path:
//
//	vigil.yaml:7: unknown key "retension" in retention section
//	vigil.yaml:3: http.listen: "localhost" is not host:port
//
// All problems found are reported together, one per line.
//
// Values are never expanded from the environment. The one way to take a value
// from the environment is store.dsn_env, which names the variable holding the
// PostgreSQL connection string so that passwords stay out of the file; see
// Config.StoreDSN.
//
// The schema is the Config struct itself: each section is a struct field with a
// `yaml:"name"` tag, and the decoder (decode.go) walks the YAML node tree by
// reflection over those tags. Adding a section means adding a field with its type,
// its defaults in Default and its checks in Validate, and a row in
// docs/configuration.md (a test checks that every key is documented).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"
)

// Store drivers.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Config is the whole of vigil.yaml.
type Config struct {
	// Data is the data directory: the SQLite database, signing keys and other
	// state live here. Relative paths are relative to the working directory.
	Data        string       `yaml:"data"`
	HTTP        HTTP         `yaml:"http"`
	Store       Store        `yaml:"store"`
	Log         Log          `yaml:"log"`
	Audit       Audit        `yaml:"audit"`
	Retention   Retention    `yaml:"retention"`
	Ingest      Ingest       `yaml:"ingest"`
	Gateway     Gateway      `yaml:"gateway"`
	Connections []Connection `yaml:"connections"`
	Detect      Detect       `yaml:"detect"`
	Alerts      Alerts       `yaml:"alerts"`
	Reviews     Reviews      `yaml:"reviews"`
	Policy      Policy       `yaml:"policy"`

	// src is where the values came from, for positions in Validate's errors;
	// nil for a Config built in code.
	src *source
}

// HTTP configures the HTTP API server.
type HTTP struct {
	Listen       string        `yaml:"listen"`        // host:port
	ReadTimeout  time.Duration `yaml:"read_timeout"`  // whole request, body included
	WriteTimeout time.Duration `yaml:"write_timeout"` // from end of request headers to end of response
	MaxBody      int64         `yaml:"max_body" config:"bytes"`
}

// Store selects and configures the storage backend.
type Store struct {
	Driver string `yaml:"driver"`  // DriverSQLite or DriverPostgres
	DSN    string `yaml:"dsn"`     // PostgreSQL connection string; use StoreDSN, not this field
	DSNEnv string `yaml:"dsn_env"` // name of the environment variable holding the DSN
}

// Log configures the audit log's identity and the process's own diagnostic log.
type Log struct {
	// Origin is the first line of every checkpoint this node signs. Empty means
	// the caller's default, "vigil/<hostname>".
	Origin string `yaml:"origin"`
	Level  string `yaml:"level"`  // debug, info, warn or error
	Format string `yaml:"format"` // text or json
}

// Audit tunes appends to the audit log.
type Audit struct {
	MaxBatch        int `yaml:"max_batch"`        // most events in one group commit
	CheckpointEvery int `yaml:"checkpoint_every"` // keep a checkpoint in history every N entries
	// VerifyEvery is how often serve verifies the whole log and records the
	// result as an event (a failure raises the built-in alert); 0 turns it off.
	VerifyEvery time.Duration `yaml:"verify_every"`
}

// Retention configures dropping old event payloads (leaf hashes are kept).
type Retention struct {
	Events   time.Duration `yaml:"events"`   // payload age to drop; 0 keeps forever
	Interval time.Duration `yaml:"interval"` // how often the retention job runs
}

// Ingest configures reading external audit logs continuously.
type Ingest struct {
	Tail []Tail `yaml:"tail"`
}

// Tail is one file or directory that serve follows: new records are appended
// to the audit log as they are written; offsets survive restarts.
type Tail struct {
	Source   string        `yaml:"source"`   // one of TailSources
	Path     string        `yaml:"path"`     // a file, or a directory of them
	Interval time.Duration `yaml:"interval"` // how often to look for new records; 0 means 2s
	// Mapping is the field mapping of a jsonl source, in the compact form
	// `actor=user.name,action=event.type,time=@timestamp` (see docs/sources.md).
	Mapping string `yaml:"mapping"`
}

// Detect configures the detections serve runs over the audit log.
type Detect struct {
	Rules        []string      `yaml:"rules"`         // Sigma rule files or directories
	Suppress     time.Duration `yaml:"suppress"`      // repeats of a rule for one actor raise no new alert for this long; 0 means 10m
	FailedAccess FailedAccess  `yaml:"failed_access"` // threshold of the built-in repeated-failures correlations
	// SuppressRules overrides Suppress for single rules, by rule id.
	SuppressRules map[string]time.Duration `yaml:"suppress_rules"`
	// Placeholders give the values of %name% placeholders (Sigma's expand modifier).
	Placeholders map[string][]string `yaml:"placeholders"`
}

// FailedAccess is "Count failures or refusals within Window" for one actor or
// one source address.
type FailedAccess struct {
	Count  int           `yaml:"count"`  // default 5
	Window time.Duration `yaml:"window"` // default 10m
}

// Reviews configures the approval of actions the policy sends to review.
type Reviews struct {
	Approvers     int           `yaml:"approvers"`      // distinct approvals a request needs; default 1
	Expiry        time.Duration `yaml:"expiry"`         // how long a request stays open; default 24h
	Window        time.Duration `yaml:"window"`         // how long an approved action may run after approval; default 1h
	ApproverRoles []string      `yaml:"approver_roles"` // token roles that may approve or deny; default [admin]
}

// Alerts configures where alerts go.
type Alerts struct {
	Sinks []AlertSink `yaml:"sinks"`
}

// AlertSink is one destination of alerts.
type AlertSink struct {
	Type          string   `yaml:"type"`            // webhook, slack, pagerduty or log
	URL           string   `yaml:"url"`             // for webhook, slack and pagerduty
	SecretEnv     string   `yaml:"secret_env"`      // webhook: env var holding the HMAC-SHA256 signing secret
	RoutingKeyEnv string   `yaml:"routing_key_env"` // pagerduty: env var holding the integration key
	MinSeverity   string   `yaml:"min_severity"`    // informational, low, medium, high or critical
	Rules         []string `yaml:"rules"`           // only alerts of these rule ids; empty for all
}

// Gateway configures the protocol gateways.
type Gateway struct {
	Postgres PostgresGateway `yaml:"postgres"`
}

// PostgresGateway is the PostgreSQL-protocol listener; empty Listen turns it off.
type PostgresGateway struct {
	Listen string `yaml:"listen"`
	// TLSCert and TLSKey are the PEM certificate (chain) and key offered to
	// clients. Both empty: a self-signed certificate kept in the data
	// directory, made on the first start.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// Auth is how clients prove their token: scram (SCRAM-SHA-256, the
	// default) or password (cleartext).
	Auth string `yaml:"auth"`
}

// Gateway client authentication methods (PostgresGateway.Auth).
const (
	GatewayAuthSCRAM    = "scram"
	GatewayAuthPassword = "password"
)

// Connection is a named upstream that clients reach through a gateway (the
// PostgreSQL `database` startup parameter names it). Its environment scopes
// the policy rules; clients never see its credentials.
type Connection struct {
	Name        string   `yaml:"name"`
	Type        string   `yaml:"type"`        // postgres
	Environment string   `yaml:"environment"` // e.g. production
	Audit       string   `yaml:"audit"`       // strict or standard (default)
	Upstream    Upstream `yaml:"upstream"`
	// Roles and Users say who may use the connection: a login whose token
	// has one of Roles, or whose user is one of Users. Both empty: everyone.
	Roles []string `yaml:"roles"`
	Users []string `yaml:"users"`
	// RedactLiterals records statements with their literals replaced by
	// $n (the parser's normalized form) instead of their text.
	RedactLiterals bool `yaml:"redact_literals"`
	// Default is the effect for the connection's actions that no rule
	// decides (allow, deny or review); empty: its environment's default.
	Default string `yaml:"default"`
}

// Policy configures the policy engine beyond its rules.
type Policy struct {
	Defaults PolicyDefaults `yaml:"defaults"`
}

// PolicyDefaults decide an action no rule decides: the default of its
// connection (connections[].default), else the one of its environment, else
// Fallback, else allow.
type PolicyDefaults struct {
	Environment map[string]string `yaml:"environment"` // environment name -> allow, deny or review
	Fallback    string            `yaml:"fallback"`
}

// DecisionEffects are the effects a default may have.
var DecisionEffects = []string{"allow", "deny", "review"}

// TokenRoles are the roles of API tokens (internal/auth), which
// connections[].roles lists.
var TokenRoles = []string{"admin", "auditor", "user"}

// Upstream is where and as whom the gateway connects. The password comes from
// an environment variable or a file, never from vigil.yaml itself.
type Upstream struct {
	Host         string `yaml:"host"`
	Port         int    `yaml:"port"`
	Database     string `yaml:"database"`
	User         string `yaml:"user"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	SSLMode      string `yaml:"sslmode"` // disable, allow, prefer, require, verify-ca, verify-full
	// SSLRootCert is a PEM file of the certificate authorities trusted to
	// sign the upstream's certificate (libpq's sslrootcert); empty means
	// the system's.
	SSLRootCert string `yaml:"sslrootcert"`
}

// Password resolves the upstream's password from its environment variable or
// file ("" when neither is set: trust or peer authentication).
func (u Upstream) Password() (string, error) {
	switch {
	case u.PasswordEnv != "":
		v, ok := os.LookupEnv(u.PasswordEnv)
		if !ok {
			return "", fmt.Errorf("upstream password: environment variable %s is not set", u.PasswordEnv)
		}
		return v, nil
	case u.PasswordFile != "":
		b, err := os.ReadFile(u.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("upstream password: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return "", nil
}

// TailSources are the sources Tail accepts.
var TailSources = []string{"auditd", "cloudtrail", "github", "jsonl", "k8s-audit", "pgaudit"}

// Limits enforced by Validate.
const (
	MaxAuditBatch        = 65536
	MinRetentionEvents   = time.Hour
	MinRetentionInterval = time.Minute
)

// Default returns the configuration used when vigil.yaml is empty or absent.
func Default() *Config {
	return &Config{
		Data: "./vigil-data",
		HTTP: HTTP{
			Listen:       "127.0.0.1:8080",
			ReadTimeout:  30 * time.Second,
			WriteTimeout: 30 * time.Second,
			MaxBody:      16 << 20,
		},
		Store: Store{Driver: DriverSQLite},
		Log:   Log{Level: "info", Format: "text"},
		Audit: Audit{MaxBatch: 1024, CheckpointEvery: 1024, VerifyEvery: time.Hour},
		Retention: Retention{
			Events:   0,
			Interval: time.Hour,
		},
		Gateway: Gateway{Postgres: PostgresGateway{Auth: GatewayAuthSCRAM}},
		Reviews: Reviews{Approvers: 1, Expiry: 24 * time.Hour, Window: time.Hour, ApproverRoles: []string{"admin"}},
	}
}

// Load reads and parses the configuration file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data)
}

// Parse parses data as vigil.yaml, starting from Default and overriding what the
// document sets, then runs Validate. name is the file name used in errors. An
// empty document gives the defaults; more than one document is an error.
//
// On failure the error is an *Error, or several joined with errors.Join (one per
// line); errors.As finds the first.
func Parse(name string, data []byte) (*Config, error) {
	c := Default()
	c.src = &source{file: name, lines: map[string]int{}}

	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return c, nil
		}
		return nil, syntaxError(name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &Error{File: name, Line: extra.Line, Msg: `a second YAML document starts here; the configuration must be a single document (remove the "---")`}
	} else if !errors.Is(err, io.EOF) {
		return nil, syntaxError(name, err)
	}

	d := &decoder{file: name, root: reflect.TypeFor[Config](), lines: c.src.lines}
	for _, root := range doc.Content {
		d.decode(root, reflect.ValueOf(c).Elem(), "", "")
	}
	if err := joinErrors(d.errs); err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Validate checks every value and the rules between them (a postgres store needs
// a DSN, a sqlite store must not have one). For a Config from Parse or Load the
// errors carry the file and line of the offending key.
func (c *Config) Validate() error {
	var errs []error
	add := func(path, format string, args ...any) {
		errs = append(errs, c.errorAt(path, fmt.Sprintf(format, args...)))
	}

	if c.Data == "" {
		add("data", "must not be empty")
	} else if strings.ContainsRune(c.Data, 0) {
		add("data", "must not contain a NUL byte")
	}

	if msg := checkListen(c.HTTP.Listen); msg != "" {
		add("http.listen", "%s", msg)
	}
	if c.HTTP.ReadTimeout <= 0 {
		add("http.read_timeout", "must be greater than 0")
	}
	if c.HTTP.WriteTimeout <= 0 {
		add("http.write_timeout", "must be greater than 0")
	}
	if c.HTTP.MaxBody <= 0 {
		add("http.max_body", "must be greater than 0")
	}

	s := c.Store
	if s.DSNEnv != "" && !isEnvName(s.DSNEnv) {
		add("store.dsn_env", "%q is not an environment variable name (letters, digits and _, not starting with a digit)", s.DSNEnv)
	}
	switch s.Driver {
	case DriverSQLite:
		if s.DSN != "" {
			add("store.dsn", "must be empty when store.driver is sqlite (sqlite keeps its database in the data directory)")
		}
		if s.DSNEnv != "" {
			add("store.dsn_env", "must be empty when store.driver is sqlite (sqlite keeps its database in the data directory)")
		}
	case DriverPostgres:
		switch {
		case s.DSN == "" && s.DSNEnv == "":
			add("store.driver", "postgres needs store.dsn or store.dsn_env")
		case s.DSN != "" && s.DSNEnv != "":
			add("store.dsn_env", "set store.dsn or store.dsn_env, not both")
		case s.DSN != "":
			if msg := checkDSN(s.DSN); msg != "" {
				add("store.dsn", "%s", msg)
			}
		}
	default:
		add("store.driver", "%q is not one of sqlite, postgres", s.Driver)
	}

	if o := c.Log.Origin; o != "" && strings.IndexFunc(o, func(r rune) bool {
		return r == '+' || unicode.IsSpace(r) || !unicode.IsPrint(r)
	}) >= 0 {
		add("log.origin", "%q must not contain spaces, control characters or \"+\"", o)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		add("log.format", "%q is not one of text, json", c.Log.Format)
	}

	if b := c.Audit.MaxBatch; b < 1 || b > MaxAuditBatch {
		add("audit.max_batch", "must be from 1 to %d, not %d", MaxAuditBatch, b)
	}
	if v := c.Audit.VerifyEvery; v < 0 || (v > 0 && v < time.Minute) {
		add("audit.verify_every", "must be 0 (off) or at least 1m, not %s", FormatDuration(v))
	}
	if n := c.Audit.CheckpointEvery; n < 1 {
		add("audit.checkpoint_every", "must be at least 1, not %d", n)
	}

	if e := c.Retention.Events; e < 0 || (e > 0 && e < MinRetentionEvents) {
		add("retention.events", "must be 0 (keep forever) or at least %s, not %s", FormatDuration(MinRetentionEvents), FormatDuration(e))
	}
	if i := c.Retention.Interval; i < MinRetentionInterval {
		add("retention.interval", "must be at least %s, not %s", FormatDuration(MinRetentionInterval), FormatDuration(i))
	}

	if l := c.Gateway.Postgres.Listen; l != "" {
		if msg := checkListen(l); msg != "" {
			add("gateway.postgres.listen", "%s", msg)
		}
	}
	pg := c.Gateway.Postgres
	if (pg.TLSCert == "") != (pg.TLSKey == "") {
		if pg.TLSCert == "" {
			add("gateway.postgres.tls_key", "set tls_cert with tls_key, or neither (a self-signed certificate in the data directory)")
		} else {
			add("gateway.postgres.tls_cert", "set tls_key with tls_cert, or neither (a self-signed certificate in the data directory)")
		}
	}
	switch pg.Auth {
	case GatewayAuthSCRAM, GatewayAuthPassword:
	default:
		add("gateway.postgres.auth", "%q is not one of scram, password", pg.Auth)
	}
	names := map[string]bool{}
	for i, cn := range c.Connections {
		at := fmt.Sprintf("connections[%d]", i)
		switch {
		case cn.Name == "":
			add(at+".name", "must not be empty")
		case names[cn.Name]:
			add(at+".name", "%q is used by an earlier connection", cn.Name)
		}
		names[cn.Name] = true
		if cn.Type != "postgres" {
			add(at+".type", "%q is not one of postgres", cn.Type)
		}
		if cn.Audit != "" && cn.Audit != "strict" && cn.Audit != "standard" {
			add(at+".audit", "%q is not one of strict, standard", cn.Audit)
		}
		for j, r := range cn.Roles {
			if !slices.Contains(TokenRoles, r) {
				add(fmt.Sprintf("%s.roles[%d]", at, j), "%q is not a token role (one of %s)", r, strings.Join(TokenRoles, ", "))
			}
		}
		for j, u := range cn.Users {
			if u == "" || strings.ContainsFunc(u, unicode.IsSpace) {
				add(fmt.Sprintf("%s.users[%d]", at, j), "%q is not a user name (non-empty, without spaces)", u)
			}
		}
		u := cn.Upstream
		if u.Host == "" {
			add(at+".upstream.host", "must not be empty")
		}
		if u.Port < 0 || u.Port > 65535 {
			add(at+".upstream.port", "%d is not a port (0 means 5432)", u.Port)
		}
		if u.PasswordEnv != "" && u.PasswordFile != "" {
			add(at+".upstream.password_file", "set password_env or password_file, not both")
		}
		if u.PasswordEnv != "" && !isEnvName(u.PasswordEnv) {
			add(at+".upstream.password_env", "%q is not an environment variable name", u.PasswordEnv)
		}
		switch u.SSLMode {
		case "", "disable", "allow", "prefer", "require", "verify-ca", "verify-full":
		default:
			add(at+".upstream.sslmode", "%q is not a libpq sslmode", u.SSLMode)
		}
		if u.SSLRootCert != "" && u.SSLMode == "disable" {
			add(at+".upstream.sslrootcert", "is set but sslmode is disable: no TLS, nothing to verify")
		}
		if cn.Default != "" && !slices.Contains(DecisionEffects, cn.Default) {
			add(at+".default", "%q is not one of %s", cn.Default, strings.Join(DecisionEffects, ", "))
		}
	}
	for _, env := range slices.Sorted(maps.Keys(c.Policy.Defaults.Environment)) {
		if eff := c.Policy.Defaults.Environment[env]; !slices.Contains(DecisionEffects, eff) {
			add("policy.defaults.environment."+env, "%q is not one of %s", eff, strings.Join(DecisionEffects, ", "))
		}
	}
	if f := c.Policy.Defaults.Fallback; f != "" && !slices.Contains(DecisionEffects, f) {
		add("policy.defaults.fallback", "%q is not one of %s", f, strings.Join(DecisionEffects, ", "))
	}
	if c.Gateway.Postgres.Listen != "" && len(c.Connections) == 0 {
		add("gateway.postgres.listen", "the gateway has no connections to serve (add connections:)")
	}

	for i, p := range c.Detect.Rules {
		if p == "" {
			add(fmt.Sprintf("detect.rules[%d]", i), "must name a rule file or directory")
		}
	}
	if c.Detect.Suppress < 0 {
		add("detect.suppress", "must not be negative")
	}
	if c.Detect.FailedAccess.Count < 0 {
		add("detect.failed_access.count", "must not be negative")
	}
	if c.Detect.FailedAccess.Window < 0 {
		add("detect.failed_access.window", "must not be negative")
	}
	for i, sk := range c.Alerts.Sinks {
		at := fmt.Sprintf("alerts.sinks[%d]", i)
		switch sk.Type {
		case "webhook", "slack", "pagerduty":
			if u, err := url.Parse(sk.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				add(at+".url", "%q is not an http(s) URL", sk.URL)
			}
		case "log":
		default:
			add(at+".type", "%q is not one of webhook, slack, pagerduty, log", sk.Type)
		}
		for name, v := range map[string]string{"secret_env": sk.SecretEnv, "routing_key_env": sk.RoutingKeyEnv} {
			if v != "" && !isEnvName(v) {
				add(at+"."+name, "%q is not an environment variable name", v)
			}
		}
		switch sk.MinSeverity {
		case "", "informational", "low", "medium", "high", "critical":
		default:
			add(at+".min_severity", "%q is not one of informational, low, medium, high, critical", sk.MinSeverity)
		}
	}

	if n := c.Reviews.Approvers; n < 1 || n > 10 {
		add("reviews.approvers", "must be from 1 to 10, not %d", n)
	}
	if e := c.Reviews.Expiry; e < time.Minute {
		add("reviews.expiry", "must be at least 1m, not %s", FormatDuration(e))
	}
	if w := c.Reviews.Window; w < time.Minute || w > 7*24*time.Hour {
		add("reviews.window", "must be from 1m to 7d, not %s", FormatDuration(w))
	}
	if len(c.Reviews.ApproverRoles) == 0 {
		add("reviews.approver_roles", "must name at least one role (admin, auditor, user)")
	}
	for i, r := range c.Reviews.ApproverRoles {
		if r != "admin" && r != "auditor" && r != "user" {
			add(fmt.Sprintf("reviews.approver_roles[%d]", i), "%q is not one of admin, auditor, user", r)
		}
	}

	for i, t := range c.Ingest.Tail {
		at := fmt.Sprintf("ingest.tail[%d]", i)
		if !slices.Contains(TailSources, t.Source) {
			add(at+".source", "%q is not one of %s", t.Source, strings.Join(TailSources, ", "))
		}
		if t.Path == "" {
			add(at+".path", "must name a file or a directory")
		}
		if t.Mapping != "" && t.Source != "jsonl" {
			add(at+".mapping", "only a jsonl source takes a mapping")
		}
		if t.Interval < 0 || (t.Interval > 0 && t.Interval < 100*time.Millisecond) {
			add(at+".interval", "must be 0 (2s) or at least 100ms, not %s", FormatDuration(t.Interval))
		}
	}
	return joinErrors(errs)
}

// StoreDSN returns the PostgreSQL connection string: store.dsn, or the value of
// the environment variable named by store.dsn_env. The error names the variable
// when it is unset or empty, and never includes the DSN itself. For the sqlite
// driver it returns "" and no error.
func (c *Config) StoreDSN() (string, error) {
	s := c.Store
	if s.Driver != DriverPostgres {
		return "", nil
	}
	switch {
	case s.DSN != "" && s.DSNEnv != "":
		return "", c.errorAt("store.dsn_env", "set store.dsn or store.dsn_env, not both")
	case s.DSN != "":
		return s.DSN, nil
	case s.DSNEnv == "":
		return "", c.errorAt("store.driver", "postgres needs store.dsn or store.dsn_env")
	}
	v, ok := os.LookupEnv(s.DSNEnv)
	switch {
	case !ok:
		return "", c.errorAt("store.dsn_env", fmt.Sprintf("environment variable %s is not set", s.DSNEnv))
	case v == "":
		return "", c.errorAt("store.dsn_env", fmt.Sprintf("environment variable %s is empty", s.DSNEnv))
	}
	if msg := checkDSN(v); msg != "" {
		return "", c.errorAt("store.dsn_env", fmt.Sprintf("environment variable %s: %s", s.DSNEnv, msg))
	}
	return v, nil
}

// SlogLevel returns Level as a slog.Level; an invalid level gives slog.LevelInfo.
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// checkListen returns what is wrong with a listen address, or "".
func checkListen(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("%q is not host:port", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil || !allDigits(port) {
		return fmt.Sprintf("%q is not host:port (the port must be a number from 0 to 65535)", addr)
	}
	if strings.ContainsFunc(host, unicode.IsSpace) {
		return fmt.Sprintf("%q is not host:port (the host contains a space)", addr)
	}
	return ""
}

// checkDSN returns what is wrong with a PostgreSQL connection string, or "". The
// message never quotes the string: it may hold a password.
func checkDSN(dsn string) string {
	const want = "not a PostgreSQL connection string (want a postgres:// URL or key=value pairs; the value is not shown as it may hold a password)"
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			return want
		}
		return ""
	}
	if !strings.Contains(dsn, "=") {
		return want
	}
	return ""
}

// isEnvName reports whether s is a portable environment variable name.
func isEnvName(s string) bool {
	for i, r := range s {
		switch {
		case r == '_', 'A' <= r && r <= 'Z', 'a' <= r && r <= 'z':
		case '0' <= r && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return s != ""
}

// source records where a parsed Config's values came from.
type source struct {
	file  string
	lines map[string]int // key path ("http.listen") -> line of the key
}

// errorAt builds an *Error for the key at path, with the file and the line of
// the nearest key on the path that the file set.
func (c *Config) errorAt(path, msg string) *Error {
	e := &Error{Path: path, Msg: msg}
	if c.src == nil {
		return e
	}
	e.File = c.src.file
	for p := path; p != ""; {
		if line, ok := c.src.lines[p]; ok {
			e.Line = line
			break
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return e
}

// Error is one problem in a configuration. Its text is
// "file:line: path: message", leaving out what is unknown: a Config built in code
// has no file or line, and problems with the file's shape have no path.
type Error struct {
	File string // file name as given to Parse or Load
	Line int    // 1-based; 0 if unknown
	Path string // key path such as "http.listen"; "" if the problem is not one key's value
	Msg  string
	Err  error // underlying cause, if any
}

// Error returns "file:line: path: message".
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		b.WriteString("line " + strconv.Itoa(e.Line) + ": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.Err }
