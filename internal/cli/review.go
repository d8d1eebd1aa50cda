package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigil-audit/vigil/internal/review"
)

const reviewUsage = "review list [--status pending|approved|denied|expired] | show ID | approve ID [--comment TEXT] | deny ID [--comment TEXT]  (--server URL --token T, or VIGIL_SERVER and VIGIL_TOKEN)"

// runReview lists and decides review requests through a running server's
// API: the reviews live in the audit log, which the server holds.
func runReview(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usagef("usage: vigil %s", reviewUsage)
	}
	sub, args := args[0], args[1:]
	var id string
	if sub != "list" && len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	fs := newFlags(e, "review "+sub, reviewUsage)
	serverURL := fs.String("server", os.Getenv("VIGIL_SERVER"), "the running vigil serve (default $VIGIL_SERVER, else http://127.0.0.1:8080)")
	token := fs.String("token", os.Getenv("VIGIL_TOKEN"), "your API token (default $VIGIL_TOKEN)")
	var status, comment *string
	asJSON := fs.Bool("json", false, "print the server's JSON answer")
	switch sub {
	case "list":
		status = fs.String("status", "", "only reviews with this status")
	case "approve", "deny":
		comment = fs.String("comment", "", "a comment recorded with the decision")
	case "show":
	default:
		return usagef("review: unknown subcommand %q (list, show, approve, deny)", sub)
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return err
		}
		return &exitError{code: exitUsage}
	}
	if id == "" && sub != "list" {
		if fs.NArg() != 1 {
			return usagef("review %s: want one review id", sub)
		}
		id = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return usagef("review %s: unexpected argument %q", sub, fs.Arg(0))
	}
	if *token == "" {
		return usagef("review %s: needs --token or VIGIL_TOKEN", sub)
	}
	base := strings.TrimSuffix(*serverURL, "/")
	if base == "" {
		base = "http://127.0.0.1:8080"
	}
	c := &apiClient{base: base, token: *token}

	var out []byte
	var err error
	switch sub {
	case "list":
		q := url.Values{}
		if *status != "" {
			q.Set("status", *status)
		}
		out, err = c.do(ctx, http.MethodGet, "/v1/reviews?"+q.Encode(), nil)
	case "show":
		out, err = c.do(ctx, http.MethodGet, "/v1/reviews/"+url.PathEscape(id), nil)
	case "approve", "deny":
		body, _ := json.Marshal(map[string]string{"comment": *comment})
		out, err = c.do(ctx, http.MethodPost, "/v1/reviews/"+url.PathEscape(id)+"/"+sub, body)
	}
	if err != nil {
		return fmt.Errorf("review %s: %w", sub, err)
	}
	if *asJSON {
		_, err := e.stdout.Write(out)
		return err
	}
	if sub == "list" {
		var l struct{ Reviews []*review.Review }
		if err := json.Unmarshal(out, &l); err != nil {
			return fmt.Errorf("review list: server answer: %w", err)
		}
		printReviews(e.stdout, l.Reviews)
		return nil
	}
	var r review.Review
	if err := json.Unmarshal(out, &r); err != nil {
		return fmt.Errorf("review %s: server answer: %w", sub, err)
	}
	printReview(e.stdout, &r)
	return nil
}

func printReviews(w io.Writer, rs []*review.Review) {
	if len(rs) == 0 {
		fmt.Fprintln(w, "no reviews")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tREQUESTER\tCONNECTION\tAPPROVALS\tCREATED\tSTATEMENT")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\n", r.ID, r.Status, r.Requester, r.Connection,
			len(r.Approvals), r.Required, r.Created.Local().Format(time.DateTime), oneLine(r.Statement, 60))
	}
	tw.Flush()
}

func printReview(w io.Writer, r *review.Review) {
	fmt.Fprintf(w, "review %s: %s\n", r.ID, r.Status)
	fmt.Fprintf(w, "  requested by %s on %s at %s\n", r.Requester, r.Connection, r.Created.Local().Format(time.DateTime))
	for _, rule := range r.Rules {
		fmt.Fprintf(w, "  rule %s: %s\n", rule.ID, rule.Message)
	}
	fmt.Fprintf(w, "  statement: %s\n", oneLine(r.Statement, 500))
	fmt.Fprintf(w, "  approvals: %d of %d", len(r.Approvals), r.Required)
	for _, v := range r.Approvals {
		fmt.Fprintf(w, "; %s", v.User)
	}
	fmt.Fprintln(w)
	if r.Denial != nil {
		fmt.Fprintf(w, "  denied by %s: %s\n", r.Denial.User, r.Denial.Comment)
	}
	if !r.ApprovedUntil.IsZero() {
		fmt.Fprintf(w, "  %s may run it on %s until %s\n", r.Requester, r.Connection, r.ApprovedUntil.Local().Format(time.DateTime))
	} else if r.Status == review.StatusPending {
		fmt.Fprintf(w, "  open for approval until %s\n", r.Expires.Local().Format(time.DateTime))
	}
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}

// apiClient calls a running server's API with a bearer token.
type apiClient struct {
	base, token string
}

func (c *apiClient) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("server answered %s: %s", resp.Status, e.Error)
		}
		return nil, fmt.Errorf("server answered %s: %s", resp.Status, bytes.TrimSpace(b))
	}
	return b, nil
}
