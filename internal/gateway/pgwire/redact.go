package pgwire

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v6"
)

// Literal redaction (Connection.RedactLiterals).
//
// The recorded text is the parser's normalized form (pg_query.Normalize:
// constants replaced by $1, $2, ...). The normalizer leaves some literals in
// place: utility statements (COMMENT ON ... IS '...', CREATE SERVER ...
// OPTIONS, COPY ... FROM 'file', PREPARE, ALTER SYSTEM, column DEFAULTs) and
// comments. So the normalized text is scanned once more with PostgreSQL's
// lexer: every constant token left (strings of every spelling, bit strings,
// numbers) becomes a further $n, and every comment is removed. When a
// constant had to be replaced, sql.fingerprint is left out too. Text that does
// not parse or scan is withheld whole: the event says so and records its
// length and a keyed fingerprint (HMAC-SHA256 with Config.RedactKey), which
// shows repeats of one text without letting a reader of the log confirm a
// guess of it.

// withheldText is the recorded text of a statement withheld whole.
const withheldText = "[withheld by redact_literals: the text does not parse, so its literals cannot be separated]"

// redaction is what a redacted statement records.
type redaction struct {
	text     string // the normalized text, or withheldText
	withheld bool
	// scrubbed counts the literals (not comments) the normalizer left and
	// the lexer pass replaced.
	scrubbed int
}

// redactSQL returns what is recorded of sql on a connection that redacts
// literals. normalized is the classifier's normalized form when it has one
// ("" otherwise: it is computed here); unparseable is the classifier's
// verdict.
func redactSQL(sql, normalized string, unparseable bool) redaction {
	if unparseable {
		return redaction{text: withheldText, withheld: true}
	}
	if normalized == "" && strings.TrimSpace(sql) != "" {
		n, err := pg_query.Normalize(sql)
		if err != nil {
			return redaction{text: withheldText, withheld: true}
		}
		normalized = n
	}
	text, n, ok := scrubLiterals(normalized)
	if !ok {
		return redaction{text: withheldText, withheld: true}
	}
	return redaction{text: text, scrubbed: n}
}

// scrubLiterals replaces the constant tokens left in a normalized text with
// parameters numbered after the highest already there, and removes comments.
// ok is false when the text does not scan.
func scrubLiterals(text string) (out string, scrubbed int, ok bool) {
	res, err := pg_query.Scan(text)
	if err != nil {
		return "", 0, false
	}
	next := 0
	for _, tok := range res.Tokens {
		if tok.Token == pg_query.Token_PARAM {
			if n, err := strconv.Atoi(strings.TrimPrefix(text[tok.Start:tok.End], "$")); err == nil && n > next {
				next = n
			}
		}
	}
	var b strings.Builder
	pos := 0
	for _, tok := range res.Tokens {
		if int(tok.Start) < pos || int(tok.End) > len(text) || tok.Start > tok.End {
			return "", 0, false
		}
		var repl string
		switch tok.Token {
		case pg_query.Token_SCONST, pg_query.Token_USCONST, pg_query.Token_BCONST, pg_query.Token_XCONST,
			pg_query.Token_ICONST, pg_query.Token_FCONST:
			next++
			repl = "$" + strconv.Itoa(next)
			scrubbed++
		case pg_query.Token_SQL_COMMENT, pg_query.Token_C_COMMENT:
			repl = " "
		default:
			continue
		}
		b.WriteString(text[pos:tok.Start])
		b.WriteString(repl)
		pos = int(tok.End)
	}
	b.WriteString(text[pos:])
	// The lexer's tokens cover every character but white space; anything
	// else between them (it never happens) would be text the scan did not
	// vouch for, so the whole text is withheld.
	if !coveredByTokens(text, res.Tokens) {
		return "", 0, false
	}
	return b.String(), scrubbed, true
}

// coveredByTokens reports whether every byte of text outside the tokens is
// white space.
func coveredByTokens(text string, toks []*pg_query.ScanToken) bool {
	pos := 0
	gap := func(s string) bool { return strings.TrimSpace(s) == "" }
	for _, t := range toks {
		if int(t.Start) < pos || int(t.End) > len(text) {
			return false
		}
		if !gap(text[pos:t.Start]) {
			return false
		}
		pos = int(t.End)
	}
	return gap(text[pos:])
}

// textFingerprint is the keyed fingerprint of a withheld text.
func textFingerprint(key []byte, sql string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(sql))
	return hex.EncodeToString(m.Sum(nil))
}

// redactAttrs sets the statement attributes of an intent event on a
// connection that redacts literals.
func (ss *session) redactAttrs(attrs map[string]any, sql, normalized string, unparseable bool) {
	r := redactSQL(sql, normalized, unparseable)
	attrs["sql.text"] = r.text
	attrs["sql.redacted"] = true
	if r.withheld {
		attrs["sql.text_withheld"] = true
		attrs["sql.text_length"] = len(sql)
		attrs["sql.text_hmac"] = textFingerprint(ss.srv.cfg.RedactKey, sql)
		delete(attrs, "sql.fingerprint")
	}
	if r.scrubbed > 0 {
		// pg_query's fingerprint may hash the literals the normalizer kept
		// (COMMENT ON ... IS '...'): a guess of them could be confirmed
		// against it. Without a fingerprint such a statement cannot be
		// matched to a review, so one that needs review stays refused.
		delete(attrs, "sql.fingerprint")
	}
}

// withheldError replaces an upstream error message under RedactLiterals:
// PostgreSQL's messages quote values ("invalid input syntax for type
// integer: \"...\""). The SQLSTATE is kept.
func withheldError(code string) string {
	return fmt.Sprintf("[withheld by redact_literals: SQLSTATE %s]", code)
}

// RedactKeyFile holds Config.RedactKey in the data directory.
const RedactKeyFile = "gateway-redact.key"

// LoadRedactKey returns the key of withheld-text fingerprints kept in dataDir
// (RedactKeyFile, mode 0600), creating it on the first call, so that the
// fingerprints of one node compare across restarts.
func LoadRedactKey(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, RedactKeyFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, 32)
		rand.Read(key)
		if err := writeFileAtomic(path, []byte(hex.EncodeToString(key)+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("gateway redact key: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("gateway redact key: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) < 16 {
		return nil, fmt.Errorf("gateway redact key: %s is not a hex key of at least 16 bytes", path)
	}
	return key, nil
}
