package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Decode unmarshals one record into v and describes a failure in terms of the
// record rather than Go types.
func Decode(raw []byte, v any) error {
	err := json.Unmarshal(raw, v)
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("invalid JSON at byte %d of the record: %w", se.Offset, err)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "(record)"
		}
		return fmt.Errorf("field %s: JSON %s where %s was expected: %w", field, te.Value, kind(te.Type.Kind().String()), err)
	}
	return fmt.Errorf("decode record: %w", err)
}

func kind(k string) string {
	switch k {
	case "struct", "map":
		return "an object"
	case "slice":
		return "an array"
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	}
	return "a " + k
}

// timeLayouts are the layouts ParseTime accepts, RFC 3339 first. Values without
// a zone are taken as UTC (some exports drop the zone: "2022-11-29 00:09:04.38").
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04:05.999999999 -0700 MST",
}

// ParseTime parses a timestamp as audit sources write them.
func ParseTime(s string) (time.Time, error) {
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	// "2024-12-17 00:00:00000000": a fraction written without its dot.
	if len(s) > 19 && (s[10] == ' ' || s[10] == 'T') && s[19] >= '0' && s[19] <= '9' {
		return ParseTime(s[:19] + "." + s[19:])
	}
	return time.Time{}, fmt.Errorf("cannot parse time %q", Clip(s))
}

// EpochTime reads a JSON number or numeric string of milliseconds (or, when it
// is too small to be milliseconds after 2001, seconds) since the Unix epoch;
// fractions are kept.
func EpochTime(n json.Number) (time.Time, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(string(n)), 64)
	if err != nil || f < 0 || f > 1e15 {
		return time.Time{}, fmt.Errorf("cannot read %q as a Unix time", Clip(string(n)))
	}
	if f < 1e11 { // seconds: 1e11 ms is 1973, 1e11 s is year 5138
		return time.Unix(0, int64(f*1e9)).UTC(), nil
	}
	return time.UnixMilli(0).Add(time.Duration(f * 1e6)).UTC(), nil
}

// Clip shortens a value quoted in an error message to 64 bytes.
func Clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// SetAttr sets attrs[k] to v unless v is empty, so that events carry no
// empty attributes.
func SetAttr(attrs map[string]any, k, v string) {
	if v != "" {
		attrs[k] = v
	}
}

// Unknown is the actor recorded for a record that names none: the event is
// kept, since dropping an action because its author is unknown would hide it.
const Unknown = "unknown"

// Verb maps an API verb to an event activity from its leading word, such as
// "Create" in "CreateUser" or "delete" in "delete"; it returns "other" when the
// word is not known.
func Verb(word string) string {
	if a, ok := verbs[strings.ToLower(word)]; ok {
		return a
	}
	return "other"
}

var verbs = map[string]string{
	"create": "create", "put": "create", "run": "create", "attach": "create", "add": "create",
	"upload": "create", "copy": "create", "import": "create", "register": "create", "post": "create",
	"invite": "create", "allocate": "create", "issue": "create", "request": "create",
	"delete": "delete", "terminate": "delete", "remove": "delete", "detach": "delete",
	"destroy": "delete", "deregister": "delete", "deletecollection": "delete", "release": "delete",
	"update": "update", "modify": "update", "set": "update", "stop": "update", "start": "update",
	"patch": "update", "enable": "update", "disable": "update", "change": "update", "reset": "update",
	"tag": "update", "untag": "update", "associate": "update", "disassociate": "update",
	"authorize": "update", "revoke": "update", "reboot": "update", "rename": "update", "edit": "update",
	"transfer": "update", "archive": "update", "unarchive": "update", "restore": "update",
	"get": "read", "list": "read", "describe": "read", "watch": "read", "lookup": "read",
	"search": "read", "head": "read", "download": "read", "clone": "read", "fetch": "read",
	"view": "read", "export": "read", "select": "read", "batchget": "read", "scan": "read", "query": "read",
	"consolelogin": "logon", "login": "logon", "logout": "logoff", "assumerole": "logon",
	"invoke": "execute", "send": "execute", "exec": "execute", "execute": "execute", "impersonate": "execute",
	"approve": "approve", "reject": "reject",
}
