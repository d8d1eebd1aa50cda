// Package github parses GitHub audit log events, as exported (a JSON array) and
// as streamed (JSON lines), into Vigil events. The mapping is documented in
// docs/sources.md.
package github

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/ingest"
)

// Source is the event source GitHub audit events get.
const Source = "github"

// Parser parses GitHub audit log input.
type Parser struct {
	// Now is the time given to Normalize, for records without a timestamp; nil
	// means time.Now.
	Now func() time.Time
}

var _ ingest.Parser = (*Parser)(nil)

// Source returns "github".
func (p *Parser) Source() string { return Source }

// Parse reads GitHub audit events from r.
func (p *Parser) Parse(r io.Reader, name string, emit func(event.Event) error) (ingest.Stats, error) {
	return ingest.Run(r, name, ingest.Format{Convert: Convert, Now: p.Now}, emit)
}

type auditEvent struct {
	Action        string      `json:"action"`
	Actor         string      `json:"actor"`
	ActorIP       string      `json:"actor_ip"`
	ActorIsBot    ingest.Lazy `json:"actor_is_bot"`
	ActorLocation *struct {
		CountryCode string `json:"country_code"`
	} `json:"actor_location"`
	Timestamp              ingest.Lazy `json:"@timestamp"`
	AtSignTimestamp        ingest.Lazy `json:"at_sign_timestamp"` // @timestamp, renamed by some exporters
	CreatedAt              ingest.Lazy `json:"created_at"`
	DocumentID             string      `json:"_document_id"`
	Org                    ingest.Lazy `json:"org"`
	Repo                   ingest.Lazy `json:"repo"`
	Repository             ingest.Lazy `json:"repository"`
	Team                   ingest.Lazy `json:"team"`
	Business               ingest.Lazy `json:"business"`
	User                   ingest.Lazy `json:"user"`
	UserAgent              string      `json:"user_agent"`
	OperationType          string      `json:"operation_type"`
	ProgrammaticAccessType string      `json:"programmatic_access_type"`
	HashedToken            string      `json:"hashed_token"`
	TokenID                ingest.Lazy `json:"token_id"`
	ExternalIdentityNameID string      `json:"external_identity_nameid"`
}

// Convert maps one GitHub audit event. Raw is left for the caller to set.
func Convert(raw []byte) (event.Event, error) {
	var a auditEvent
	if err := ingest.Decode(raw, &a); err != nil {
		return event.Event{}, err
	}
	if a.Action == "" {
		return event.Event{}, errors.New("no action: not a GitHub audit event")
	}
	attrs := make(map[string]any, 8)
	ev := event.Event{
		Source:  Source,
		Action:  a.Action,
		Outcome: event.OutcomeSuccess,
		Attrs:   attrs,
		Actor: event.Actor{
			User:      a.Actor,
			Type:      "human",
			SrcIP:     a.ActorIP,
			UserAgent: a.UserAgent,
		},
	}
	if ev.Actor.User == "" {
		ev.Actor.User, ev.Actor.Type = ingest.Unknown, ""
	}
	if a.ActorIsBot.String() == "true" || strings.HasSuffix(a.Actor, "[bot]") ||
		strings.Contains(a.ProgrammaticAccessType, "server-to-server") {
		ev.Actor.Type = "service"
	}
	ev.Activity, ev.ClassUID = classify(a.Action)
	if strings.Contains(a.Action, "fail") {
		ev.Outcome = event.OutcomeFailure
	}
	org, repo, business := a.Org.String(), cmp.Or(a.Repo.String(), a.Repository.String()), a.Business.String()
	switch {
	case repo != "":
		ev.Resource = event.Resource{Type: "repository", Name: repo}
	case a.Team.String() != "":
		ev.Resource = event.Resource{Type: "team", Name: a.Team.String()}
	case org != "":
		ev.Resource = event.Resource{Type: "organization", Name: org}
	case business != "":
		ev.Resource = event.Resource{Type: "enterprise", Name: business}
	case a.User.String() != "":
		ev.Resource = event.Resource{Type: "user", Name: a.User.String()}
	}
	ev.Target = cmp.Or(org, business)
	ingest.SetAttr(attrs, "github.org", org)
	ingest.SetAttr(attrs, "github.business", business)
	ingest.SetAttr(attrs, "github.user", a.User.String())
	ingest.SetAttr(attrs, "github.document_id", a.DocumentID)
	ingest.SetAttr(attrs, "github.operation_type", a.OperationType)
	ingest.SetAttr(attrs, "github.programmatic_access_type", a.ProgrammaticAccessType)
	ingest.SetAttr(attrs, "github.hashed_token", a.HashedToken)
	ingest.SetAttr(attrs, "github.token_id", a.TokenID.String())
	ingest.SetAttr(attrs, "github.external_identity_nameid", a.ExternalIdentityNameID)
	if l := a.ActorLocation; l != nil {
		ingest.SetAttr(attrs, "github.actor_country", l.CountryCode)
	}
	t, err := timestamp(&a)
	if err != nil {
		return event.Event{}, err
	}
	if t.IsZero() {
		attrs["ingest.time_missing"] = true
	}
	ev.Time = t
	return ev, nil
}

// timestamp reads @timestamp, else created_at: milliseconds since the epoch as
// GitHub writes them, or a date as some exporters rewrite them.
func timestamp(a *auditEvent) (time.Time, error) {
	for _, f := range []struct {
		name string
		v    ingest.Lazy
	}{{"@timestamp", a.Timestamp}, {"at_sign_timestamp", a.AtSignTimestamp}, {"created_at", a.CreatedAt}} {
		if f.v.IsNull() {
			continue
		}
		s := f.v.String()
		var t time.Time
		var err error
		if f.v[0] != '"' || strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' }) < 0 {
			t, err = ingest.EpochTime(json.Number(s))
		} else {
			t, err = ingest.ParseTime(s)
		}
		if err != nil {
			return time.Time{}, fmt.Errorf("%s: %w", f.name, err)
		}
		return t, nil
	}
	return time.Time{}, nil
}

// Actions that grant or take away access (OCSF User Access Management).
var accessSuffixes = []string{
	"add_member", "remove_member", "update_member", "invite_member", "add_admin", "remove_admin",
	"add_outside_collaborator", "remove_outside_collaborator", "update_member_repository_permission",
	"promote_to_owner", "demote_to_member", "add_repository", "remove_repository",
}

// classify maps "category.operation" to an activity, from the operation's
// first word, and an OCSF class.
func classify(action string) (string, int) {
	op := action[strings.LastIndexByte(action, '.')+1:]
	word, _, _ := strings.Cut(op, "_")
	activity := ingest.Verb(word)
	if activity == "other" {
		switch word {
		case "access", "visibility", "rename", "transfer", "archived", "unarchived", "config",
			"policy", "enforce", "disable", "enable", "archive", "override":
			activity = "update"
		}
	}
	for _, s := range accessSuffixes {
		if strings.HasSuffix(op, s) {
			switch {
			case strings.HasPrefix(op, "add") || strings.HasPrefix(op, "invite") || strings.HasPrefix(op, "promote"):
				activity = "grant"
			case strings.HasPrefix(op, "remove") || strings.HasPrefix(op, "demote"):
				activity = "revoke"
			}
			return activity, event.ClassUserAccessMgmt
		}
	}
	return activity, event.ClassAPIActivity
}
