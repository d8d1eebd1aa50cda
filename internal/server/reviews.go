package server

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"

	"github.com/vigil-audit/vigil/internal/auth"
	"github.com/vigil-audit/vigil/internal/review"
)

// mayListAll reports whether p sees every review, not only its own: the
// log's readers and the approvers.
func (s *Server) mayListAll(p auth.Principal) bool {
	return auth.CanRead(p.Role) || slices.Contains(s.reviews.Config().ApproverRoles, p.Role)
}

// reviewError maps the review package's errors to statuses.
func reviewError(err error) error {
	switch {
	case errors.Is(err, review.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Msg: err.Error()}
	case errors.Is(err, review.ErrForbidden):
		return &Error{Status: http.StatusForbidden, Msg: err.Error()}
	case errors.Is(err, review.ErrConflict):
		return &Error{Status: http.StatusConflict, Msg: err.Error()}
	}
	return err
}

func (s *Server) listReviews(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	status := r.URL.Query().Get("status")
	if !review.ValidStatus(status) {
		return errorf(http.StatusBadRequest, "parameter status: %q is not one of pending, approved, denied, expired", status)
	}
	requester := ""
	if !s.mayListAll(p) {
		requester = p.User
	}
	if err := s.auditRead(r, p, map[string]any{"read.what": "reviews"}); err != nil {
		return err
	}
	list, err := s.reviews.List(r.Context(), status, requester)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"reviews": list})
	return nil
}

func (s *Server) getReview(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	rv, err := s.reviews.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return reviewError(err)
	}
	if !s.mayListAll(p) && rv.Requester != p.User {
		return errorf(http.StatusNotFound, "review %q: %s", r.PathValue("id"), review.ErrNotFound)
	}
	if err := s.auditRead(r, p, map[string]any{"read.what": "review", "review.id": rv.ID}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rv)
	return nil
}

// reviewVote approves or denies a review. The body is optional:
// {"comment": "..."}.
func (s *Server) reviewVote(approve bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
		var body struct {
			Comment string `json:"comment"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&body); err != nil && !errors.Is(err, io.EOF) {
			return errorf(http.StatusBadRequest, "request body: %v (want {\"comment\": \"...\"} or nothing)", err)
		}
		vote := s.reviews.Deny
		if approve {
			vote = s.reviews.Approve
		}
		rv, err := vote(r.Context(), r.PathValue("id"), review.Principal{User: p.User, Role: p.Role}, body.Comment)
		if err != nil {
			return reviewError(err)
		}
		writeJSON(w, http.StatusOK, rv)
		return nil
	}
}
