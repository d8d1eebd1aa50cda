package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// fields returns c's exported fields only, so that configs compare without their
// source positions.
func fields(c *Config) Config {
	v := *c
	v.src = nil
	return v
}

func TestDefault(t *testing.T) {
	want := Config{
		Data: "./vigil-data",
		HTTP: HTTP{
			Listen:       "127.0.0.1:8080",
			ReadTimeout:  30 * time.Second,
			WriteTimeout: 30 * time.Second,
			MaxBody:      16 * 1024 * 1024,
		},
		Store:     Store{Driver: "sqlite"},
		Log:       Log{Origin: "", Level: "info", Format: "text"},
		Audit:     Audit{MaxBatch: 1024, CheckpointEvery: 1024, VerifyEvery: time.Hour},
		Retention: Retention{Events: 0, Interval: time.Hour},
		Reviews:   Reviews{Approvers: 1, Expiry: 24 * time.Hour, Window: time.Hour, ApproverRoles: []string{"admin"}},
		Gateway:   Gateway{Postgres: PostgresGateway{Auth: "scram"}},
	}
	if got := fields(Default()); !reflect.DeepEqual(got, want) {
		t.Fatalf("Default() = %+v\nwant %+v", got, want)
	}
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	if dsn, err := Default().StoreDSN(); dsn != "" || err != nil {
		t.Fatalf("Default().StoreDSN() = %q, %v; want \"\", nil", dsn, err)
	}

	// Documents that set nothing give the defaults.
	for _, doc := range []string{
		"",
		"# only a comment\n",
		"---\n",
		"---\n...\n",
		"http:\nstore: ~\nlog: null\n",
		"http:\n  listen:\n  max_body: ~\n",
	} {
		c, err := Parse("vigil.yaml", []byte(doc))
		if err != nil {
			t.Errorf("Parse(%q): %v", doc, err)
			continue
		}
		if got := fields(c); !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%q) = %+v\nwant defaults %+v", doc, got, want)
		}
	}
}

func TestLoadFull(t *testing.T) {
	c, err := Load("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Data: "/var/lib/vigil",
		HTTP: HTTP{
			Listen:       "0.0.0.0:9443",
			ReadTimeout:  90 * time.Second,
			WriteTimeout: 2 * time.Minute,
			MaxBody:      4 << 20,
		},
		Store:     Store{Driver: "postgres", DSNEnv: "VIGIL_TEST_DSN"},
		Log:       Log{Origin: "vigil.example.com/prod-1", Level: "debug", Format: "json"},
		Audit:     Audit{MaxBatch: 256, CheckpointEvery: 4096, VerifyEvery: time.Hour},
		Retention: Retention{Events: 365 * 24 * time.Hour, Interval: 6 * time.Hour},
		Reviews:   Reviews{Approvers: 2, Expiry: 8 * time.Hour, Window: 15 * time.Minute, ApproverRoles: []string{"admin", "auditor"}},
		Gateway:   Gateway{Postgres: PostgresGateway{Auth: "scram"}},
	}
	if got := fields(c); !reflect.DeepEqual(got, want) {
		t.Fatalf("Load(full.yaml) = %+v\nwant %+v", got, want)
	}
	if got := c.Log.SlogLevel().String(); got != "DEBUG" {
		t.Errorf("SlogLevel() = %s, want DEBUG", got)
	}

	t.Setenv("VIGIL_TEST_DSN", "postgres://vigil@db.internal/vigil")
	if dsn, err := c.StoreDSN(); err != nil || dsn != "postgres://vigil@db.internal/vigil" {
		t.Fatalf("StoreDSN() = %q, %v", dsn, err)
	}
}

func TestLoadErrors(t *testing.T) {
	_, err := Load("testdata/unknown-nested.yaml")
	if got, want := errString(err), `testdata/unknown-nested.yaml:7: unknown key "retension" in retention section`; got != want {
		t.Errorf("unknown nested key:\n got %s\nwant %s", got, want)
	}

	_, err = Load("testdata/multi-doc.yaml")
	if got, want := errString(err), `testdata/multi-doc.yaml:2: a second YAML document starts here; the configuration must be a single document (remove the "---")`; got != want {
		t.Errorf("multiple documents:\n got %s\nwant %s", got, want)
	}

	_, err = Load("testdata/no-such-file.yaml")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: got %v, want an error wrapping fs.ErrNotExist", err)
	}
	if got, want := errString(err), "read config: open testdata/no-such-file.yaml: no such file or directory"; got != want {
		t.Errorf("missing file:\n got %s\nwant %s", got, want)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestParseErrors(t *testing.T) {
	const (
		notDuration = `is not a duration (want a number with a unit, like 30s, 1h30m or 90d)`
		notSize     = `is not a byte size (want a whole number of bytes, or of KiB, MiB or GiB, like 16MiB)`
		notSQLite   = `must be empty when store.driver is sqlite (sqlite keeps its database in the data directory)`
		badDSN      = `not a PostgreSQL connection string (want a postgres:// URL or key=value pairs; the value is not shown as it may hold a password)`
	)
	tests := []struct {
		name string
		yaml string
		want string
	}{
		// Unknown keys, with the line of the key.
		{"unknown top-level key", "data: ./d\n\nconection:\n  - name: prod\n",
			`vigil.yaml:3: unknown key "conection" at top level (did you mean "connections"?)`},
		{"connection without type and host", "connections:\n  - name: prod\n",
			"vigil.yaml:2: connections[0].type: \"\" is not one of postgres\nvigil.yaml:2: connections[0].upstream.host: must not be empty"},
		{"duplicate connection names", "connections:\n  - {name: a, type: postgres, upstream: {host: h}}\n  - {name: a, type: postgres, upstream: {host: h}}\n",
			`vigil.yaml:3: connections[1].name: "a" is used by an earlier connection`},
		{"gateway without connections", "gateway:\n  postgres: {listen: 127.0.0.1:15432}\n",
			`vigil.yaml:2: gateway.postgres.listen: the gateway has no connections to serve (add connections:)`},
		{"gateway tls cert without key", "gateway:\n  postgres:\n    tls_cert: /etc/vigil/gw.crt\n",
			`vigil.yaml:3: gateway.postgres.tls_cert: set tls_key with tls_cert, or neither (a self-signed certificate in the data directory)`},
		{"gateway tls key without cert", "gateway:\n  postgres:\n    auth: password\n    tls_key: /etc/vigil/gw.key\n",
			`vigil.yaml:4: gateway.postgres.tls_key: set tls_cert with tls_key, or neither (a self-signed certificate in the data directory)`},
		{"bad gateway auth", "gateway:\n  postgres:\n    auth: md5\n",
			`vigil.yaml:3: gateway.postgres.auth: "md5" is not one of scram, password`},
		{"bad connection role and user", "connections:\n  - name: a\n    type: postgres\n    upstream: {host: h}\n    roles: [admin, dba]\n    users:\n      - alice\n      - \"bob smith\"\n",
			"vigil.yaml:5: connections[0].roles[1]: \"dba\" is not a token role (one of admin, auditor, user)\nvigil.yaml:8: connections[0].users[1]: \"bob smith\" is not a user name (non-empty, without spaces)"},
		{"sslrootcert without TLS", "connections:\n  - name: a\n    type: postgres\n    upstream:\n      host: h\n      sslmode: disable\n      sslrootcert: /etc/ssl/db-ca.pem\n",
			"vigil.yaml:7: connections[0].upstream.sslrootcert: is set but sslmode is disable: no TLS, nothing to verify"},
		{"redact_literals is a boolean", "connections:\n  - {name: a, type: postgres, upstream: {host: h}, redact_literals: maybe}\n",
			`vigil.yaml:2: connections[0].redact_literals: "maybe" is not true or false`},
		{"future alerting section", "http:\n  listen: 127.0.0.1:1\nalerting: {}\n",
			`vigil.yaml:3: unknown key "alerting" at top level`},
		{"unknown policy key", "policy:\n  packs: [base]\n", `vigil.yaml:2: unknown key "packs" in policy section`},
		{"bad defaults", "policy:\n  defaults:\n    environment: {production: block}\n    fallback: maybe\nconnections:\n  - {name: a, type: postgres, upstream: {host: h}, default: permit}\n",
			"vigil.yaml:6: connections[0].default: \"permit\" is not one of allow, deny, review\n" +
				"vigil.yaml:3: policy.defaults.environment.production: \"block\" is not one of allow, deny, review\n" +
				"vigil.yaml:4: policy.defaults.fallback: \"maybe\" is not one of allow, deny, review"},
		{"ingest section must be a mapping", "ingest: []\n", `vigil.yaml:1: ingest: expected a mapping (key: value), found a list`},
		{"bad tail source", "ingest:\n  tail:\n    - {source: syslog, path: /var/log}\n", `vigil.yaml:3: ingest.tail[0].source: "syslog" is not one of auditd, cloudtrail, github, jsonl, k8s-audit, pgaudit`},
		{"mapping on a non-jsonl tail", "ingest:\n  tail:\n    - {source: github, path: /x, mapping: a=b}\n", `vigil.yaml:3: ingest.tail[0].mapping: only a jsonl source takes a mapping`},
		{"tail without a path", "ingest:\n  tail:\n    - source: github\n", `vigil.yaml:3: ingest.tail[0].path: must name a file or a directory`},
		{"bad alert sink", "alerts:\n  sinks:\n    - {type: email, url: x}\n", `vigil.yaml:3: alerts.sinks[0].type: "email" is not one of webhook, slack, pagerduty, log`},
		{"bad review approver role", "reviews:\n  approver_roles: [admin, owner]\n", `vigil.yaml:2: reviews.approver_roles[1]: "owner" is not one of admin, auditor, user`},
		{"review window too long", "reviews:\n  approvers: 2\n  window: 200h\n", `vigil.yaml:3: reviews.window: must be from 1m to 7d, not 8d8h`},
		{"webhook without a URL", "alerts:\n  sinks:\n    - {type: webhook, url: ftp://x}\n", `vigil.yaml:3: alerts.sinks[0].url: "ftp://x" is not an http(s) URL`},
		{"unknown nested key", "data: ./d\nhttp:\n  listen: 127.0.0.1:1\n  listne: 127.0.0.1:2\n",
			`vigil.yaml:4: unknown key "listne" in http section (did you mean "listen"?)`},
		{"misspelt section", "retension:\n  events: 90d\n",
			`vigil.yaml:1: unknown key "retension" at top level (did you mean "retention"?)`},
		{"wrong case", "log:\n  Level: debug\n",
			`vigil.yaml:2: unknown key "Level" in log section (did you mean "level"?)`},
		{"section key at top level", "data: ./d\nlisten: 0.0.0.0:80\n",
			`vigil.yaml:2: unknown key "listen" at top level ("listen" belongs in the http section; check the indentation)`},
		{"top-level key inside a section", "http:\n  listen: 127.0.0.1:1\n  store:\n    driver: sqlite\n",
			`vigil.yaml:3: unknown key "store" in http section ("store" is a top-level key; check the indentation)`},
		{"duplicate key", "http:\n  listen: 127.0.0.1:1\n  read_timeout: 1s\n  listen: 127.0.0.1:2\n",
			`vigil.yaml:4: duplicate key "listen" in http section (first at line 2)`},
		{"duplicate section", "log:\n  level: info\nlog:\n  level: debug\n",
			`vigil.yaml:3: duplicate key "log" at top level (first at line 1)`},
		{"merge key", "http:\n  <<: {listen: '127.0.0.1:1'}\n",
			`vigil.yaml:2: merge keys (<<) are not supported in http section`},

		// Shapes and syntax.
		{"top level is a list", "- data\n", `vigil.yaml:1: expected a mapping (key: value), found a list`},
		{"section is a scalar", "data: ./d\nhttp: 8080\n", `vigil.yaml:2: http: expected a mapping (key: value), found "8080"`},
		{"string is a mapping", "data:\n  path: ./d\n", `vigil.yaml:2: data: expected a string, found a mapping`},
		{"tab indentation", "http:\n\tlisten: 127.0.0.1:1\n",
			`vigil.yaml:2: invalid YAML: found character that cannot start any token`},
		{"unclosed flow", "http: {listen: 127.0.0.1:1\n", `vigil.yaml:1: invalid YAML: did not find expected ',' or '}'`},
		{"multiple documents", "data: ./a\n---\ndata: ./b\n",
			`vigil.yaml:2: a second YAML document starts here; the configuration must be a single document (remove the "---")`},
		{"empty second document", "data: ./a\n---\n",
			`vigil.yaml:2: a second YAML document starts here; the configuration must be a single document (remove the "---")`},

		// Durations.
		{"bad duration", "http:\n  read_timeout: 30 seconds\n", `vigil.yaml:2: http.read_timeout: "30 seconds" ` + notDuration},
		{"duration without unit", "data: ./d\nhttp:\n  write_timeout: 30\n", `vigil.yaml:3: http.write_timeout: "30" ` + notDuration},
		{"fractional days", "retention:\n  events: 1.5d\n", `vigil.yaml:2: retention.events: "1.5d" ` + notDuration},
		{"negative duration", "retention:\n  interval: -1h\n", `vigil.yaml:2: retention.interval: "-1h" is negative`},
		{"duration is a list", "retention:\n  interval: [1h]\n", `vigil.yaml:2: retention.interval: expected a duration, found a list`},
		{"zero timeout", "http:\n  read_timeout: 0\n", `vigil.yaml:2: http.read_timeout: must be greater than 0`},
		{"retention too short", "retention:\n  events: 30m\n",
			`vigil.yaml:2: retention.events: must be 0 (keep forever) or at least 1h, not 30m`},
		{"retention interval too short", "retention:\n  interval: 10s\n",
			`vigil.yaml:2: retention.interval: must be at least 1m, not 10s`},

		// Byte sizes.
		{"decimal size unit", "http:\n  max_body: 16MB\n", `vigil.yaml:2: http.max_body: "16MB" ` + notSize},
		{"fractional size", "http:\n  max_body: 1.5MiB\n", `vigil.yaml:2: http.max_body: "1.5MiB" ` + notSize},
		{"negative size", "http:\n  max_body: -1\n", `vigil.yaml:2: http.max_body: "-1" is negative`},
		{"size too large", "http:\n  max_body: 9999999999GiB\n", `vigil.yaml:2: http.max_body: "9999999999GiB" is too large`},
		{"zero size", "http:\n  max_body: 0KiB\n", `vigil.yaml:2: http.max_body: must be greater than 0`},

		// Enumerations.
		{"bad driver", "store:\n  driver: mysql\n", `vigil.yaml:2: store.driver: "mysql" is not one of sqlite, postgres`},
		{"bad level", "log:\n  level: verbose\n", `vigil.yaml:2: log.level: "verbose" is not one of debug, info, warn, error`},
		{"level is case-sensitive", "log:\n  level: INFO\n", `vigil.yaml:2: log.level: "INFO" is not one of debug, info, warn, error`},
		{"bad format", "log:\n  format: xml\n", `vigil.yaml:2: log.format: "xml" is not one of text, json`},

		// Listen addresses.
		{"listen without port", "data: ./d\nhttp:\n  listen: localhost\n", `vigil.yaml:3: http.listen: "localhost" is not host:port`},
		{"listen as a number", "http:\n  listen: 8080\n", `vigil.yaml:2: http.listen: "8080" is not host:port`},
		{"listen empty", "http:\n  listen: \"\"\n", `vigil.yaml:2: http.listen: "" is not host:port`},
		{"listen port out of range", "http:\n  listen: 127.0.0.1:99999\n",
			`vigil.yaml:2: http.listen: "127.0.0.1:99999" is not host:port (the port must be a number from 0 to 65535)`},
		{"listen named port", "http:\n  listen: 127.0.0.1:http\n",
			`vigil.yaml:2: http.listen: "127.0.0.1:http" is not host:port (the port must be a number from 0 to 65535)`},

		// Integers.
		{"batch zero", "audit:\n  max_batch: 0\n", `vigil.yaml:2: audit.max_batch: must be from 1 to 65536, not 0`},
		{"batch too large", "audit:\n  max_batch: 65537\n", `vigil.yaml:2: audit.max_batch: must be from 1 to 65536, not 65537`},
		{"batch not an integer", "audit:\n  max_batch: lots\n", `vigil.yaml:2: audit.max_batch: "lots" is not an integer`},
		{"batch is a float", "audit:\n  max_batch: 1.5\n", `vigil.yaml:2: audit.max_batch: "1.5" is not an integer`},
		{"batch quoted", "audit:\n  max_batch: \"10\"\n", `vigil.yaml:2: audit.max_batch: "10" is not an integer`},
		{"checkpoint every zero", "audit:\n  checkpoint_every: 0\n", `vigil.yaml:2: audit.checkpoint_every: must be at least 1, not 0`},

		// Other values.
		{"empty data", "data: \"\"\n", `vigil.yaml:1: data: must not be empty`},
		{"origin with a space", "log:\n  origin: my log\n",
			`vigil.yaml:2: log.origin: "my log" must not contain spaces, control characters or "+"`},
		{"origin with a plus", "log:\n  origin: a+b\n",
			`vigil.yaml:2: log.origin: "a+b" must not contain spaces, control characters or "+"`},

		// Store: rules between keys.
		{"postgres without dsn", "store:\n  driver: postgres\n",
			`vigil.yaml:2: store.driver: postgres needs store.dsn or store.dsn_env`},
		{"postgres with both", "store:\n  driver: postgres\n  dsn: postgres://h/db\n  dsn_env: VIGIL_DSN\n",
			`vigil.yaml:4: store.dsn_env: set store.dsn or store.dsn_env, not both`},
		{"sqlite with dsn", "store:\n  dsn: postgres://h/db\n", `vigil.yaml:2: store.dsn: ` + notSQLite},
		{"sqlite with dsn_env", "store:\n  driver: sqlite\n  dsn_env: VIGIL_DSN\n", `vigil.yaml:3: store.dsn_env: ` + notSQLite},
		{"bad dsn_env name", "store:\n  driver: postgres\n  dsn_env: 1-DSN\n",
			`vigil.yaml:3: store.dsn_env: "1-DSN" is not an environment variable name (letters, digits and _, not starting with a digit)`},
		{"dsn of another database", "store:\n  driver: postgres\n  dsn: mysql://root:hunter2@h/db\n", `vigil.yaml:3: store.dsn: ` + badDSN},
		{"dsn that is not a connection string", "store:\n  driver: postgres\n  dsn: hunter2\n", `vigil.yaml:3: store.dsn: ` + badDSN},

		// Several problems are all reported, one per line.
		{"several decode problems", "http:\n  max_body: 1MB\n  read_timeout: soon\nfoo: 1\n",
			`vigil.yaml:2: http.max_body: "1MB" ` + notSize + "\n" +
				`vigil.yaml:3: http.read_timeout: "soon" ` + notDuration + "\n" +
				`vigil.yaml:4: unknown key "foo" at top level`},
		{"several value problems", "http:\n  listen: nope\nlog:\n  level: loud\n",
			`vigil.yaml:2: http.listen: "nope" is not host:port` + "\n" +
				`vigil.yaml:4: log.level: "loud" is not one of debug, info, warn, error`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("vigil.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want error %s", tt.yaml, fields(c), tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Fatalf("Parse(%q) error:\n got %s\nwant %s", tt.yaml, got, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error shows the DSN: %s", err)
			}
			var e *Error
			if !errors.As(err, &e) || e.File != "vigil.yaml" || e.Line == 0 {
				t.Fatalf("errors.As(%v) = %+v, want an *Error with file and line", err, e)
			}
		})
	}
}

func TestParseValues(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		check func(c *Config) bool
	}{
		{"days and hours", "retention:\n  events: 1d12h\n", func(c *Config) bool { return c.Retention.Events == 36*time.Hour }},
		{"bare days", "retention:\n  events: 90d\n", func(c *Config) bool { return c.Retention.Events == 90*24*time.Hour }},
		{"hours and minutes", "http:\n  read_timeout: 1h30m\n", func(c *Config) bool { return c.HTTP.ReadTimeout == 90*time.Minute }},
		{"zero retention", "retention:\n  events: 0\n", func(c *Config) bool { return c.Retention.Events == 0 }},
		{"plain bytes", "http:\n  max_body: 1048576\n", func(c *Config) bool { return c.HTTP.MaxBody == 1<<20 }},
		{"quoted size with space", "http:\n  max_body: \"512 KiB\"\n", func(c *Config) bool { return c.HTTP.MaxBody == 512<<10 }},
		{"gibibytes", "http:\n  max_body: 2GiB\n", func(c *Config) bool { return c.HTTP.MaxBody == 2<<30 }},
		{"hex integer", "audit:\n  max_batch: 0x100\n", func(c *Config) bool { return c.Audit.MaxBatch == 256 }},
		{"flow mapping", "http: {listen: ':0', max_body: 1KiB}\n", func(c *Config) bool { return c.HTTP.Listen == ":0" && c.HTTP.MaxBody == 1024 }},
		{"IPv6 listen", "http:\n  listen: \"[::1]:8443\"\n", func(c *Config) bool { return c.HTTP.Listen == "[::1]:8443" }},
		{"alias", "http:\n  read_timeout: &t 45s\n  write_timeout: *t\n", func(c *Config) bool {
			return c.HTTP.ReadTimeout == 45*time.Second && c.HTTP.WriteTimeout == 45*time.Second
		}},
		{"no env expansion", "data: ${HOME}/vigil\n", func(c *Config) bool { return c.Data == "${HOME}/vigil" }},
		{"postgres key=value dsn", "store:\n  driver: postgres\n  dsn: host=db user=vigil\n", func(c *Config) bool { return c.Store.DSN == "host=db user=vigil" }},
		{"gateway security", "gateway:\n  postgres:\n    listen: 127.0.0.1:15432\n    tls_cert: /etc/vigil/gw.crt\n    tls_key: /etc/vigil/gw.key\n    auth: password\n" +
			"connections:\n  - name: prod\n    type: postgres\n    upstream: {host: db}\n    roles: [admin, auditor]\n    users: [alice]\n    redact_literals: true\n", func(c *Config) bool {
			pg, cn := c.Gateway.Postgres, c.Connections[0]
			return pg.TLSCert == "/etc/vigil/gw.crt" && pg.TLSKey == "/etc/vigil/gw.key" && pg.Auth == "password" &&
				slices.Equal(cn.Roles, []string{"admin", "auditor"}) && slices.Equal(cn.Users, []string{"alice"}) && cn.RedactLiterals
		}},
		{"policy defaults", "policy:\n  defaults:\n    environment: {production: review}\n    fallback: deny\nconnections:\n  - {name: prod, type: postgres, environment: production, upstream: {host: db}, default: deny}\n", func(c *Config) bool {
			return c.Policy.Defaults.Environment["production"] == "review" && c.Policy.Defaults.Fallback == "deny" && c.Connections[0].Default == "deny"
		}},
		{"upstream sslrootcert", "connections:\n  - {name: prod, type: postgres, upstream: {host: db, sslmode: verify-full, sslrootcert: /etc/ssl/db-ca.pem}}\n", func(c *Config) bool {
			u := c.Connections[0].Upstream
			return u.SSLMode == "verify-full" && u.SSLRootCert == "/etc/ssl/db-ca.pem"
		}},
		{"gateway auth defaults to scram", "gateway:\n  postgres:\n    listen: 127.0.0.1:15432\nconnections:\n  - {name: prod, type: postgres, upstream: {host: db}}\n", func(c *Config) bool {
			return c.Gateway.Postgres.Auth == "scram" && !c.Connections[0].RedactLiterals && c.Connections[0].Roles == nil
		}},
		{"later keys keep other defaults", "http:\n  listen: :9000\n", func(c *Config) bool {
			return c.HTTP.Listen == ":9000" && c.HTTP.ReadTimeout == 30*time.Second && c.Store.Driver == "sqlite"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("vigil.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Fatalf("Parse(%q) = %+v", tt.yaml, fields(c))
			}
		})
	}
}

func TestValidateBuiltInCode(t *testing.T) {
	c := Default()
	c.Store.Driver = DriverPostgres
	c.Audit.MaxBatch = 0
	err := c.Validate()
	want := "store.driver: postgres needs store.dsn or store.dsn_env\naudit.max_batch: must be from 1 to 65536, not 0"
	if got := errString(err); got != want {
		t.Fatalf("Validate() =\n%s\nwant\n%s", got, want)
	}
	var e *Error
	if !errors.As(err, &e) || e.Path != "store.driver" || e.File != "" || e.Line != 0 {
		t.Fatalf("errors.As found %+v, want the store.driver error without a position", e)
	}
}

func TestDetectMaps(t *testing.T) {
	c, err := Parse("vigil.yaml", []byte("detect:\n  suppress_rules: {vigil-logging-off: 1h}\n  placeholders:\n    admins: [root, alice]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Detect.SuppressRules["vigil-logging-off"] != time.Hour || strings.Join(c.Detect.Placeholders["admins"], ",") != "root,alice" {
		t.Fatalf("detect = %+v", c.Detect)
	}
}

func TestStoreDSN(t *testing.T) {
	const env = "VIGIL_CONFIG_TEST_DSN"
	tests := []struct {
		name    string
		yaml    string
		env     *string // nil leaves the variable unset
		want    string
		wantErr string
	}{
		{"inline dsn", "store:\n  driver: postgres\n  dsn: postgres://vigil@db/vigil\n", nil,
			"postgres://vigil@db/vigil", ""},
		{"from environment", "store:\n  driver: postgres\n  dsn_env: " + env + "\n", ptr("postgresql://vigil:s3cret@db/vigil"),
			"postgresql://vigil:s3cret@db/vigil", ""},
		{"key=value from environment", "store:\n  driver: postgres\n  dsn_env: " + env + "\n", ptr("host=db password=s3cret"),
			"host=db password=s3cret", ""},
		{"unset variable", "data: ./d\nstore:\n  driver: postgres\n  dsn_env: " + env + "\n", nil,
			"", "vigil.yaml:4: store.dsn_env: environment variable " + env + " is not set"},
		{"empty variable", "store:\n  driver: postgres\n  dsn_env: " + env + "\n", ptr(""),
			"", "vigil.yaml:3: store.dsn_env: environment variable " + env + " is empty"},
		{"variable of another database", "store:\n  driver: postgres\n  dsn_env: " + env + "\n", ptr("mysql://root:s3cret@db/x"),
			"", "vigil.yaml:3: store.dsn_env: environment variable " + env + ": not a PostgreSQL connection string (want a postgres:// URL or key=value pairs; the value is not shown as it may hold a password)"},
		{"sqlite ignores the environment", "store:\n  driver: sqlite\n", ptr("postgres://x/y"), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != nil {
				t.Setenv(env, *tt.env)
			} else {
				t.Setenv(env, "") // restored after the test
				os.Unsetenv(env)
			}
			c, err := Parse("vigil.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.StoreDSN()
			if got != tt.want || errString(err) != orNil(tt.wantErr) {
				t.Fatalf("StoreDSN() = %q, %v\nwant %q, %s", got, err, tt.want, orNil(tt.wantErr))
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error shows the DSN: %s", err)
			}
		})
	}
}

func ptr(s string) *string { return &s }

func orNil(s string) string {
	if s == "" {
		return "<nil>"
	}
	return s
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{"0", 0, ""},
		{"30s", 30 * time.Second, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"1.5h", 90 * time.Minute, ""},
		{"36h", 36 * time.Hour, ""},
		{"90d", 90 * 24 * time.Hour, ""},
		{"0d", 0, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"1d1h1m1s", 25*time.Hour + time.Minute + time.Second, ""},
		{"+5m", 5 * time.Minute, ""},
		{"-0s", 0, ""},
		{"", 0, `"" is not a duration (want a number with a unit, like 30s, 1h30m or 90d)`},
		{"d", 0, `"d" is not a duration (want a number with a unit, like 30s, 1h30m or 90d)`},
		{"30", 0, `"30" is not a duration (want a number with a unit, like 30s, 1h30m or 90d)`},
		{"1h1d", 0, `"1h1d" is not a duration (want a number with a unit, like 30s, 1h30m or 90d)`},
		{"1d-1h", 0, `"1d-1h" is not a duration (want a number with a unit, like 30s, 1h30m or 90d)`},
		{"1w", 0, `"1w" is not a duration (want a number with a unit, like 30s, 1h30m or 90d)`},
		{"-1h", 0, `"-1h" is negative`},
		{"-90d", 0, `"-90d" is negative`},
		{"200000d", 0, `"200000d" is too large`},
		{"106751d24h", 0, `"106751d24h" is too large`},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if got != tt.want || errString(err) != orNil(tt.wantErr) {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, %s", tt.in, got, err, tt.want, orNil(tt.wantErr))
		}
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0"},
		{30 * time.Second, "30s"},
		{time.Minute, "1m"},
		{time.Hour, "1h"},
		{90 * time.Minute, "1h30m"},
		{36 * time.Hour, "1d12h"},
		{365 * 24 * time.Hour, "365d"},
		{24*time.Hour + 1500*time.Millisecond, "1d1.5s"},
	}
	for _, tt := range tests {
		got := FormatDuration(tt.in)
		if got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.in, got, tt.want)
		}
		if back, err := ParseDuration(got); err != nil || back != tt.in {
			t.Errorf("ParseDuration(FormatDuration(%v)) = %v, %v", tt.in, back, err)
		}
	}
}

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{"0", 0, ""},
		{"1048576", 1 << 20, ""},
		{"1KiB", 1024, ""},
		{"16MiB", 16 << 20, ""},
		{"16 MiB", 16 << 20, ""},
		{"3GiB", 3 << 30, ""},
		{"-0", 0, ""},
		{"", 0, `"" is not a byte size (want a whole number of bytes, or of KiB, MiB or GiB, like 16MiB)`},
		{"MiB", 0, `"MiB" is not a byte size (want a whole number of bytes, or of KiB, MiB or GiB, like 16MiB)`},
		{"16MB", 0, `"16MB" is not a byte size (want a whole number of bytes, or of KiB, MiB or GiB, like 16MiB)`},
		{"16mib", 0, `"16mib" is not a byte size (want a whole number of bytes, or of KiB, MiB or GiB, like 16MiB)`},
		{"1.5GiB", 0, `"1.5GiB" is not a byte size (want a whole number of bytes, or of KiB, MiB or GiB, like 16MiB)`},
		{"+1", 0, `"+1" is not a byte size (want a whole number of bytes, or of KiB, MiB or GiB, like 16MiB)`},
		{"-1", 0, `"-1" is negative`},
		{"-16MiB", 0, `"-16MiB" is negative`},
		{"9223372036854775808", 0, `"9223372036854775808" is too large`},
		{"8589934592GiB", 0, `"8589934592GiB" is too large`},
	}
	for _, tt := range tests {
		got, err := ParseByteSize(tt.in)
		if got != tt.want || errString(err) != orNil(tt.wantErr) {
			t.Errorf("ParseByteSize(%q) = %v, %v; want %v, %s", tt.in, got, err, tt.want, orNil(tt.wantErr))
		}
	}
	for n, want := range map[int64]string{0: "0", 1000: "1000", 1024: "1KiB", 16 << 20: "16MiB", 3 << 30: "3GiB", 1536: "1536"} {
		if got := FormatByteSize(n); got != want {
			t.Errorf("FormatByteSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestYAMLTypes checks Duration and ByteSize with the yaml package's own decoder
// and encoder, as other packages will use them.
func TestYAMLTypes(t *testing.T) {
	var v struct {
		Window Duration `yaml:"window"`
		Limit  ByteSize `yaml:"limit"`
	}
	if err := yaml.Unmarshal([]byte("window: 7d\nlimit: 2MiB\n"), &v); err != nil {
		t.Fatal(err)
	}
	if v.Window != Duration(7*24*time.Hour) || v.Limit != 2<<20 {
		t.Fatalf("decoded %+v", v)
	}
	out, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), "window: 7d\nlimit: 2MiB\n"; got != want {
		t.Fatalf("Marshal = %q, want %q", got, want)
	}
	err = yaml.Unmarshal([]byte("window: -1h\n"), &v)
	if got, want := errString(err), `"-1h" is negative`; got != want {
		t.Fatalf("negative duration: got %s, want %s", got, want)
	}
	err = yaml.Unmarshal([]byte("limit: [1]\n"), &v)
	if got, want := errString(err), `expected a byte size, found a list`; got != want {
		t.Fatalf("list as size: got %s, want %s", got, want)
	}
}

// TestDecodeCollections exercises the decoder on field kinds that later sections
// will use (lists, named entries, booleans, self-decoding types).
func TestDecodeCollections(t *testing.T) {
	type conn struct {
		Name    string        `yaml:"name"`
		Enabled bool          `yaml:"enabled"`
		Timeout time.Duration `yaml:"timeout"`
		Buffer  int64         `yaml:"buffer" config:"bytes"`
		Window  Duration      `yaml:"window"`
	}
	type root struct {
		Conns []conn          `yaml:"connections"`
		Named map[string]conn `yaml:"named"`
		Small int8            `yaml:"small"`
	}
	parse := func(doc string) (root, error) {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(doc), &n); err != nil {
			t.Fatal(err)
		}
		var r root
		d := &decoder{file: "x.yaml", root: reflect.TypeFor[root](), lines: map[string]int{}}
		d.decode(n.Content[0], reflect.ValueOf(&r).Elem(), "", "")
		return r, joinErrors(d.errs)
	}

	r, err := parse("connections:\n  - name: a\n    enabled: true\n    timeout: 2d\n    buffer: 1KiB\n    window: 5m\n  - name: b\nnamed:\n  prod:\n    name: p\nsmall: 100\n")
	if err != nil {
		t.Fatal(err)
	}
	want := root{
		Conns: []conn{{Name: "a", Enabled: true, Timeout: 48 * time.Hour, Buffer: 1024, Window: Duration(5 * time.Minute)}, {Name: "b"}},
		Named: map[string]conn{"prod": {Name: "p"}},
		Small: 100,
	}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("decoded %+v\nwant %+v", r, want)
	}

	_, err = parse("connections:\n  - name: a\n    enabeld: yes\n  - nmae: b\n    window: -5m\nnamed:\n  prod: {enabled: maybe}\n  prod: {}\nsmall: 300\n")
	wantErr := strings.Join([]string{
		`x.yaml:3: unknown key "enabeld" in connections[0] section (did you mean "enabled"?)`,
		`x.yaml:4: unknown key "nmae" in connections[1] section (did you mean "name"?)`,
		`x.yaml:5: connections[1].window: "-5m" is negative`,
		`x.yaml:7: named.prod.enabled: "maybe" is not true or false`,
		`x.yaml:8: duplicate key "prod" in named section (first at line 7)`,
		`x.yaml:9: small: 300 is out of range`,
	}, "\n")
	if got := errString(err); got != wantErr {
		t.Fatalf("errors:\n%s\nwant\n%s", got, wantErr)
	}

	_, err = parse("connections: {a: 1}\nnamed: [a]\n")
	wantErr = "x.yaml:1: connections: expected a list, found a mapping\nx.yaml:2: named: expected a mapping (key: value), found a list"
	if got := errString(err); got != wantErr {
		t.Fatalf("errors:\n%s\nwant\n%s", got, wantErr)
	}
}

// TestDocsCoverEveryKey keeps docs/configuration.md complete: every key path
// must appear in it as `path`, and its complete example must parse.
func TestDocsCoverEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			name := yamlName(t.Field(i))
			if name == "" {
				continue
			}
			p := join(prefix, name)
			if ft := t.Field(i).Type; ft.Kind() == reflect.Struct {
				walk(ft, p)
			} else {
				paths = append(paths, p)
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	// The walk itself must reach nested sections and lists.
	for _, want := range []string{"data", "http.listen", "detect.failed_access.window", "connections", "reviews.window"} {
		if !slices.Contains(paths, want) {
			t.Errorf("the key walk missed %s: %v", want, paths)
		}
	}
	for _, p := range paths {
		if !strings.Contains(string(doc), "| `"+p+"` |") {
			t.Errorf("docs/configuration.md has no table row for `%s`", p)
		}
	}

	m := regexp.MustCompile("(?s)## Complete example.*?```yaml\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/configuration.md has no complete example")
	}
	c, err := Parse("configuration.md", m[1])
	if err != nil {
		t.Fatalf("the complete example does not parse: %v", err)
	}
	if c.Store.DSNEnv != "VIGIL_DSN" || c.Retention.Events != 365*24*time.Hour || c.Log.Format != "json" ||
		c.Gateway.Postgres.Listen != "127.0.0.1:15432" || len(c.Connections) != 1 || !c.Connections[0].RedactLiterals ||
		len(c.Ingest.Tail) != 1 || len(c.Alerts.Sinks) != 1 || c.Reviews.Window != time.Hour {
		t.Fatalf("the complete example parsed to %+v", fields(c))
	}
}

// TestUpstreamPassword: the upstream password comes from the environment or
// a file (one trailing newline dropped, as editors and echo leave it), and a
// missing source is an error naming it, never an empty password.
func TestUpstreamPassword(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	if err := os.WriteFile(file, []byte("s3cret with spaces \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VIGIL_TEST_DB_PASSWORD", "from-env")
	for _, tc := range []struct {
		name    string
		u       Upstream
		want    string
		wantErr string
	}{
		{"env", Upstream{PasswordEnv: "VIGIL_TEST_DB_PASSWORD"}, "from-env", ""},
		{"file", Upstream{PasswordFile: file}, "s3cret with spaces ", ""},
		{"neither: trust or peer", Upstream{}, "", ""},
		{"env not set", Upstream{PasswordEnv: "VIGIL_TEST_NOT_SET"}, "", "environment variable VIGIL_TEST_NOT_SET is not set"},
		{"file missing", Upstream{PasswordFile: filepath.Join(dir, "nope")}, "", "nope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.u.Password()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Password() = %q, %v; want an error naming %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Password() = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
