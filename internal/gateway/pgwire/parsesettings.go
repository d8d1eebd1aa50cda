package pgwire

import (
	"fmt"
	"slices"
	"strings"

	sqlclass "github.com/vigil-audit/vigil/internal/classify/sql"
	"github.com/vigil-audit/vigil/internal/policy"
)

// The gateway reads every statement as its SQL parser does: UTF-8, with
// standard_conforming_strings on. PostgreSQL reads it as the session's
// settings say, and two of them change where strings end:
//
//   - client_encoding. Every encoding a PostgreSQL server can use keeps
//     ASCII bytes ASCII, so quotes, backslashes, semicolons and comment
//     markers fall where the gateway sees them. The client-only encodings
//     (SJIS, BIG5, GBK, UHC, GB18030, JOHAB) do not: a multibyte character
//     may end in a backslash or, in JOHAB, a semicolon. With SJIS,
//     E'\xc3\x81\'; DROP TABLE t; --' is one string to the gateway, and a
//     string then a DROP to PostgreSQL.
//   - standard_conforming_strings = off makes a backslash escape a quote in
//     '...' strings: 'a\' , '; DROP TABLE t; --' is two strings to the
//     gateway, and a string then a DROP to PostgreSQL.
//
// Both were tried against PostgreSQL 15 (the DROPs ran). So no session runs
// with either:
//
//   - at login, the upstream's reported settings (from the client's startup
//     parameters or defaults of the role or database) must be ones the
//     gateway reads alike;
//   - a statement that would switch either (SET, SET NAMES, SET LOCAL,
//     set_config with that name, or set_config with a name that is not a
//     constant) is refused in every environment, whatever the policy says:
//     rule gateway.parse-settings;
//   - should the upstream still report one (a function called earlier that
//     changes it), the session is closed at once. Statements the client had
//     pipelined behind that call may have been forwarded already; the
//     refusals above are what keeps the known ways out.

// ruleParseSettings is the gateway's own rule refusing such a switch.
const ruleParseSettings = "gateway.parse-settings"

// codeInvalidParameterValue is what PostgreSQL answers a setting value it
// does not accept with.
const codeInvalidParameterValue = "22023"

// misreadSetting reports whether the upstream reporting name = value
// (ParameterStatus) means PostgreSQL reads statements differently from the
// gateway.
func misreadSetting(name, value string) bool {
	switch name {
	case "client_encoding":
		return sqlclass.UnsafeClientEncoding(value)
	case "standard_conforming_strings":
		return value == "off"
	}
	return false
}

// parseSettingChange returns the classifier's finding of a statement
// switching such a setting (or one it cannot see), if any.
func parseSettingChange(attrs map[string]any) (string, bool) {
	m, _ := attrs["sql"].(map[string]any)
	stmts, _ := m["statements"].([]any)
	for _, s := range stmts {
		st, _ := s.(map[string]any)
		offs, _ := st["safeguard_off"].([]any)
		for _, o := range offs {
			v, _ := o.(string)
			if strings.HasPrefix(v, "client_encoding=") || strings.HasPrefix(v, "standard_conforming_strings=") ||
				v == "set_config(<non-constant>)" {
				return v, true
			}
		}
	}
	return "", false
}

// refuseParseSetting is d denied by the gateway's own rule.
func refuseParseSetting(d *policy.Decision, what string) *policy.Decision {
	msg := what + ": PostgreSQL would read the statements after it differently from Vigil's parser " +
		"(client_encoding SJIS, BIG5, GBK, UHC, GB18030 or JOHAB; standard_conforming_strings off)"
	out := *d
	out.Effect, out.Message = policy.EffectDeny, msg
	out.Rules = append(slices.Clone(d.Rules), policy.RuleResult{ID: ruleParseSettings, Effect: policy.EffectDeny, Severity: "critical", Message: msg})
	return &out
}

// misreadRefusal is the message for a session the upstream reads with such
// a setting.
func misreadRefusal(name, value string) string {
	return fmt.Sprintf("%s %s is not supported through Vigil: PostgreSQL would read statements differently from the gateway", name, value)
}
