package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/vigil-audit/vigil/internal/review"
)

// TestReviewsAPI: who may list, see, approve and deny a review, and the
// status each refusal maps to.
func TestReviewsAPI(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	rv, _, err := e.reviews.Open(ctx, review.Request{
		Requester: "user-ugo", Connection: "prod-db", Environment: "production", Kind: "sql",
		Fingerprint: "fp-1", Statement: "ALTER TABLE t DROP COLUMN c",
		Rules: []review.Rule{{ID: "sql.drop-column", Message: "dropping a column"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	list := func(token, query string) []review.Review {
		t.Helper()
		r := e.get("/v1/reviews"+query, token)
		var body struct{ Reviews []review.Review }
		if r.status != http.StatusOK || json.Unmarshal(r.body, &body) != nil {
			t.Fatalf("GET /v1/reviews%s: %d %s", query, r.status, r.body)
		}
		return body.Reviews
	}
	if got := list(e.admin, "?status=pending"); len(got) != 1 || got[0].ID != rv.ID || got[0].Rules[0].ID != "sql.drop-column" {
		t.Fatalf("admin's pending list = %+v", got)
	}
	if got := list(e.user, ""); len(got) != 1 {
		t.Fatalf("the requester's own list = %+v", got)
	}
	e.get("/v1/reviews?status=open", e.admin).wantError(t, http.StatusBadRequest,
		`parameter status: "open" is not one of pending, approved, denied, expired`)
	e.get("/v1/reviews/rv-none", e.admin).wantError(t, http.StatusNotFound, `review "rv-none": no such review`)

	approve := func(token, id, body string) response {
		return e.do("POST", "/v1/reviews/"+id+"/approve", token, []byte(body))
	}
	approve(e.user, rv.ID, "").wantError(t, http.StatusForbidden,
		"review "+rv.ID+": not allowed to decide this review: user-ugo requested it and cannot approve it")
	approve(e.auditor, rv.ID, "").wantError(t, http.StatusForbidden,
		"review "+rv.ID+`: not allowed to decide this review: role "auditor" is not an approver role (admin)`)
	approve(e.admin, rv.ID, `{"comment": 7}`).wantError(t, http.StatusBadRequest,
		`request body: json: cannot unmarshal number into Go struct field .comment of type string (want {"comment": "..."} or nothing)`)
	approve(e.admin, "rv-none", "").wantError(t, http.StatusNotFound, `review "rv-none": no such review`)
	if e.do("POST", "/v1/reviews/"+rv.ID+"/approve", "", nil).status != http.StatusUnauthorized {
		t.Fatal("approval without a token was not refused with 401")
	}

	r := approve(e.admin, rv.ID, `{"comment": "ticket OPS-1"}`)
	var got review.Review
	if r.status != http.StatusOK || json.Unmarshal(r.body, &got) != nil || got.Status != review.StatusApproved ||
		len(got.Approvals) != 1 || got.Approvals[0].User != "admin-al" || got.Approvals[0].Comment != "ticket OPS-1" {
		t.Fatalf("approve: %d %s", r.status, r.body)
	}
	e.do("POST", "/v1/reviews/"+rv.ID+"/deny", e.admin, nil).wantError(t, http.StatusConflict,
		"review "+rv.ID+": review is not pending: it is approved")

	// Another user's review is invisible to a plain user.
	other, _, err := e.reviews.Open(ctx, review.Request{Requester: "someone", Connection: "prod-db", Kind: "sql", Fingerprint: "fp-2", Statement: "GRANT x TO y"})
	if err != nil {
		t.Fatal(err)
	}
	e.get("/v1/reviews/"+other.ID, e.user).wantError(t, http.StatusNotFound, `review "`+other.ID+`": no such review`)
	if got := list(e.user, ""); len(got) != 1 || got[0].ID != rv.ID {
		t.Fatalf("user-ugo's list shows others' reviews: %+v", got)
	}
	// The last list was recorded before it was answered.
	if last := e.last(); last.Source != "vigil/api" || last.Action != "GET /v1/reviews" || last.Actor.User != "user-ugo" {
		t.Fatalf("last event = %s %s by %s; want the list read by user-ugo", last.Source, last.Action, last.Actor.User)
	}
}
