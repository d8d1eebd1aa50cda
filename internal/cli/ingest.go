package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/vigil-audit/vigil/internal/auditlog"
	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/ingest"
	"github.com/vigil-audit/vigil/internal/ingest/sources"
)

// ingestBatch is how many events go into one append (or one POST).
const ingestBatch = 1000

// runIngest reads external audit logs into the audit log: directly into a data
// directory no server is using, or through a running server's API.
func runIngest(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "ingest", "ingest --source cloudtrail|k8s-audit|github|pgaudit|auditd|jsonl[:MAPPING] [--data DIR | --config FILE | --server URL --token T] PATH...")
	var sf storeFlags
	sf.register(fs.StringVar)
	source := fs.String("source", "", "the format of the input")
	serverURL := fs.String("server", "", "a running vigil serve (http://host:port) to send the events to")
	token := fs.String("token", "", "API token for --server")
	if err := fs.Parse(args); err != nil {
		return &exitError{code: exitUsage}
	}
	p, ok := sources.Parser(*source)
	if !ok {
		return usagef("ingest: --source must be one of %s (got %q)", strings.Join(sources.Names(), ", "), *source)
	}
	if fs.NArg() == 0 {
		return usagef("ingest: name at least one file or directory (- for standard input)")
	}

	// send appends a batch and returns the first seq and how many went in
	// (records already in the log are left out).
	var send func([]event.Event) (uint64, int, error)
	if *serverURL != "" {
		if *token == "" {
			return usagef("ingest: --server needs --token")
		}
		send = postSender(ctx, strings.TrimSuffix(*serverURL, "/"), *token)
	} else {
		cfg, err := sf.loadConfig()
		if err != nil {
			return err
		}
		if err := ensureDataDir(cfg.Data); err != nil {
			return err
		}
		unlock, err := lockDataDir(cfg.Data)
		if err != nil {
			return fmt.Errorf("%w; send to the running server with --server and --token", err)
		}
		defer unlock()
		signer, verifier, st, err := openSigned(ctx, cfg)
		if err != nil {
			return err
		}
		defer st.Close()
		lg, err := auditlog.Open(ctx, auditlog.Options{Store: st, Signer: signer, Verifier: verifier, MaxBatch: ingestBatch})
		if err != nil {
			return err
		}
		defer lg.Close()
		send = func(evs []event.Event) (uint64, int, error) {
			keys := make([]string, len(evs))
			for i := range evs {
				keys[i] = ingest.DedupKey(&evs[i])
			}
			first, appended, err := lg.AppendUnique(ctx, evs, keys)
			return first, len(appended), err
		}
	}

	var buf []event.Event
	appended, dups := 0, 0
	firstSeq, lastSeq := uint64(0), uint64(0)
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		first, n, err := send(buf)
		if err != nil {
			return fmt.Errorf("append %d events: %w", len(buf), err)
		}
		if n > 0 {
			if appended == 0 {
				firstSeq = first
			}
			lastSeq = first + uint64(n) - 1
		}
		appended += n
		dups += len(buf) - n
		buf = buf[:0]
		return nil
	}
	stats, err := ingest.ParsePaths(p, fs.Args(), func(ev event.Event) error {
		buf = append(buf, ev)
		if len(buf) >= ingestBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	deadLetters := 0
	if err == nil && stats.Rejected > 0 {
		// Rejected records are kept in the log as dead letters (they are not
		// records: the counts below leave them out).
		dl := ingest.DeadLetters(p.Source(), stats)
		if _, _, err = send(dl); err == nil {
			deadLetters = len(dl)
		}
	}
	fmt.Fprintf(e.stderr, "ingest %s: %d accepted, %d rejected, %d skipped; %d appended, %d already in the log", p.Source(),
		stats.Accepted, stats.Rejected, stats.Skipped, appended, dups)
	if appended > 0 {
		fmt.Fprintf(e.stderr, " (seq %d..%d)", firstSeq, lastSeq)
	}
	if deadLetters > 0 {
		fmt.Fprintf(e.stderr, "; %d rejected records kept as dead letters (source %s)", deadLetters, ingest.DeadLetterSource)
	}
	fmt.Fprintln(e.stderr)
	for i, r := range stats.Rejects {
		if i == 20 {
			fmt.Fprintf(e.stderr, "  ... and %d more rejected\n", stats.Rejected-20)
			break
		}
		fmt.Fprintf(e.stderr, "  rejected %s\n", r)
	}
	if err != nil {
		return err
	}
	if stats.Rejected > 0 {
		return &exitError{code: exitFail}
	}
	return nil
}

// postSender sends events to a server's POST /v1/events as JSON lines. The
// server does not de-duplicate those: use POST /v1/ingest/{source} with the
// original records for that.
func postSender(ctx context.Context, base, token string) func([]event.Event) (uint64, int, error) {
	client := &http.Client{Timeout: 60 * time.Second}
	send := func(evs []event.Event) (uint64, error) {
		var body bytes.Buffer
		enc := json.NewEncoder(&body)
		for i := range evs {
			if err := enc.Encode(&evs[i]); err != nil {
				return 0, err
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/events", &body)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/x-ndjson")
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("server answered %s: %s", resp.Status, bytes.TrimSpace(b))
		}
		var res struct {
			FirstSeq uint64 `json:"first_seq"`
		}
		if err := json.Unmarshal(b, &res); err != nil {
			return 0, fmt.Errorf("server answer: %w", err)
		}
		return res.FirstSeq, nil
	}
	return func(evs []event.Event) (uint64, int, error) {
		first, err := send(evs)
		return first, len(evs), err
	}
}
