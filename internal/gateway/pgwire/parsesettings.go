package pgwire

import (
	"fmt"
	"slices"
	"strings"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"

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

// decoders are the client encodings other than UTF8 and SQL_ASCII that the
// gateway reads, by the name PostgreSQL reports: all keep ASCII bytes
// ASCII, so they only change what non-ASCII bytes mean. The gateway decodes
// a statement in one of them to UTF-8 before classifying and recording it
// (and forwards the original bytes): otherwise a byte that is a letter to
// PostgreSQL would make the text unparseable to the gateway, out of the
// reach of every rule but the one for unparseable text. A server encoding
// with no decoder here (EUC_TW, EUC_JIS_2004, MULE_INTERNAL) is refused as a
// client encoding, like the client-only ones.
var decoders = map[string]encoding.Encoding{
	"LATIN1": charmap.ISO8859_1, "LATIN2": charmap.ISO8859_2, "LATIN3": charmap.ISO8859_3,
	"LATIN4": charmap.ISO8859_4, "LATIN5": charmap.ISO8859_9, "LATIN6": charmap.ISO8859_10,
	"LATIN7": charmap.ISO8859_13, "LATIN8": charmap.ISO8859_14, "LATIN9": charmap.ISO8859_15,
	"LATIN10": charmap.ISO8859_16, "ISO_8859_5": charmap.ISO8859_5, "ISO_8859_6": charmap.ISO8859_6,
	"ISO_8859_7": charmap.ISO8859_7, "ISO_8859_8": charmap.ISO8859_8,
	"WIN866": charmap.CodePage866, "WIN874": charmap.Windows874, "WIN1250": charmap.Windows1250,
	"WIN1251": charmap.Windows1251, "WIN1252": charmap.Windows1252, "WIN1253": charmap.Windows1253,
	"WIN1254": charmap.Windows1254, "WIN1255": charmap.Windows1255, "WIN1256": charmap.Windows1256,
	"WIN1257": charmap.Windows1257, "WIN1258": charmap.Windows1258,
	"KOI8R": charmap.KOI8R, "KOI8U": charmap.KOI8U,
	"EUC_JP": japanese.EUCJP, "EUC_KR": korean.EUCKR, "EUC_CN": simplifiedchinese.GBK,
}

// readsAsUTF8 reports whether statements in client encoding enc reach the
// classifier as they are ("" is what a server that reports none means).
func readsAsUTF8(enc string) bool { return enc == "" || enc == "UTF8" || enc == "SQL_ASCII" }

// toUTF8 is text, sent in client encoding enc, as UTF-8. Text that does not
// decode is returned as it is (and then likely unparseable).
func toUTF8(enc, text string) string {
	if readsAsUTF8(enc) {
		return text
	}
	e := decoders[enc]
	if e == nil {
		return text
	}
	out, err := e.NewDecoder().String(text)
	if err != nil {
		return text
	}
	return out
}

// misreadSetting reports whether the upstream reporting name = value
// (ParameterStatus) means PostgreSQL reads statements differently from the
// gateway.
func misreadSetting(name, value string) bool {
	switch name {
	case "client_encoding":
		return sqlclass.UnsafeClientEncoding(value) || !readsAsUTF8(value) && decoders[value] == nil
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
