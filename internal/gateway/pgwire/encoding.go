package pgwire

import (
	"fmt"
	"slices"
	"strings"

	sqlclass "github.com/vigil-audit/vigil/internal/classify/sql"
	"github.com/vigil-audit/vigil/internal/policy"
)

// The gateway reads every statement as UTF-8, as its SQL parser does;
// PostgreSQL reads it in the session's client_encoding. Every encoding a
// PostgreSQL server can use keeps ASCII bytes ASCII, so quotes, backslashes,
// semicolons and comment markers fall where the gateway sees them. The
// client-only encodings (SJIS, BIG5, GBK, UHC, GB18030, JOHAB) do not: a
// multibyte character may end in a backslash or, in JOHAB, a semicolon.
// In E'\xc3\x81\'; DROP TABLE t; --' the gateway sees one string; PostgreSQL
// reading SJIS sees the string end and a DROP after it. So no session runs
// in such an encoding:
//
//   - at login, the upstream's client_encoding (the client's startup
//     parameter, or a default of the role or database) must not be one;
//   - a statement that would switch to one (SET client_encoding, SET NAMES,
//     set_config with that name or with a name that is not a constant) is
//     refused in every environment, whatever the policy says: rule
//     gateway.client-encoding;
//   - should the upstream still report one (a function called earlier that
//     changes it), the session is closed at once. Statements the client had
//     pipelined behind that call may have been forwarded already; the
//     refusals above are what keeps the known ways out.

// ruleClientEncoding is the gateway's own rule refusing an encoding change.
const ruleClientEncoding = "gateway.client-encoding"

// codeInvalidParameterValue is what PostgreSQL answers a client_encoding it
// does not accept with.
const codeInvalidParameterValue = "22023"

// encodingChange returns the classifier's finding of a switch to an encoding
// the gateway cannot read (or to one it cannot see), if any.
func encodingChange(attrs map[string]any) (string, bool) {
	m, _ := attrs["sql"].(map[string]any)
	stmts, _ := m["statements"].([]any)
	for _, s := range stmts {
		st, _ := s.(map[string]any)
		offs, _ := st["safeguard_off"].([]any)
		for _, o := range offs {
			if v, _ := o.(string); strings.HasPrefix(v, "client_encoding=") || v == "set_config(<non-constant>)" {
				return v, true
			}
		}
	}
	return "", false
}

// refuseEncodingChange is d denied by the gateway's own rule.
func refuseEncodingChange(d *policy.Decision, what string) *policy.Decision {
	msg := what + ": PostgreSQL would read the statements after it in an encoding that Vigil cannot parse " +
		"(SJIS, BIG5, GBK, UHC, GB18030 and JOHAB are refused); use UTF8"
	out := *d
	out.Effect, out.Message = policy.EffectDeny, msg
	out.Rules = append(slices.Clone(d.Rules), policy.RuleResult{ID: ruleClientEncoding, Effect: policy.EffectDeny, Severity: "critical", Message: msg})
	return &out
}

// encodingRefusal is the message for a session whose client_encoding is one
// the gateway cannot read.
func encodingRefusal(enc string) string {
	return fmt.Sprintf("client_encoding %s is not supported through Vigil: PostgreSQL would read statements differently from the gateway; use UTF8", enc)
}

// unsafeEncoding reports whether the upstream's client_encoding is one the
// gateway cannot read.
func unsafeEncoding(enc string) bool { return sqlclass.UnsafeClientEncoding(enc) }
