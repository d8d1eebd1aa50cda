package cli

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-audit/vigil/internal/auditlog"
	"github.com/vigil-audit/vigil/internal/store"
)

func runAudit(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "audit", args, map[string]func(context.Context, *env, []string) error{
		"verify":     runAuditVerify,
		"checkpoint": runAuditCheckpoint,
		"export":     runAuditExport,
		"pubkey":     runAuditPubkey,
	})
}

// openForReading opens an existing log's store and its verifier key: from the
// data directory, or from --pubkey when the store is named by URL.
func openForReading(ctx context.Context, sf *storeFlags, pubkey string) (store.Store, note.Verifier, error) {
	cfg, err := sf.loadConfig()
	if err != nil {
		return nil, nil, err
	}
	var v note.Verifier
	if pubkey != "" {
		v, err = auditlog.LoadVerifier(pubkey)
	} else {
		_, v, err = keys(cfg, false)
	}
	if err != nil {
		return nil, nil, err
	}
	st, err := openStore(ctx, cfg, v.Name(), false)
	if err != nil {
		return nil, nil, err
	}
	return st, v, nil
}

func runAuditVerify(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "audit verify", "audit verify [--data DIR | --config FILE | --store URL --pubkey FILE] [--trusted CHECKPOINT_FILE]")
	var sf storeFlags
	sf.register(fs.StringVar)
	trustedPath := fs.String("trusted", "", "a checkpoint kept outside the data directory; truncation and rewrites before it are detected")
	pubkey := fs.String("pubkey", "", "verifier key file (default: signing.pub in the data directory)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var trusted []byte
	if *trustedPath != "" {
		b, err := os.ReadFile(*trustedPath)
		if err != nil {
			return usagef("audit verify: read trusted checkpoint: %v", err)
		}
		trusted = b
	}
	st, v, err := openForReading(ctx, &sf, *pubkey)
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	rep, err := auditlog.Verify(ctx, st, v, trusted)
	if err != nil {
		return err
	}
	took := time.Since(start).Round(time.Millisecond)
	if rep.OK() {
		fmt.Fprintf(e.stdout, "ok: %d entries of %s verified against the signed head (size %d, root %s) and %d checkpoints in %s\n",
			rep.Entries, v.Name(), rep.Head.Size, base64.StdEncoding.EncodeToString(rep.Head.Root), rep.Checkpoints, took)
		if rep.Trusted != nil {
			fmt.Fprintf(e.stdout, "ok: consistent with the trusted checkpoint at size %d\n", rep.Trusted.Size)
		}
		return nil
	}
	first := rep.Problems[0]
	fmt.Fprintf(e.stdout, "FAIL: first bad entry: %s\n", first)
	for _, p := range rep.Problems[1:] {
		fmt.Fprintf(e.stdout, "  also: %s\n", p)
	}
	if rep.More {
		fmt.Fprintf(e.stdout, "  (more problems not listed)\n")
	}
	fmt.Fprintf(e.stdout, "%d entries read in %s\n", rep.Entries, took)
	return &exitError{code: exitFail}
}

func runAuditCheckpoint(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "audit checkpoint", "audit checkpoint [--data DIR | --config FILE | --store URL --pubkey FILE]")
	var sf storeFlags
	sf.register(fs.StringVar)
	pubkey := fs.String("pubkey", "", "verifier key file (default: signing.pub in the data directory)")
	if err := parse(fs, args); err != nil {
		return err
	}
	st, v, err := openForReading(ctx, &sf, *pubkey)
	if err != nil {
		return err
	}
	defer st.Close()
	head, ok, err := st.Head(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("the audit log is empty: no checkpoint yet")
	}
	if _, err := auditlog.OpenCheckpoint(head.Note, v); err != nil {
		return fmt.Errorf("the stored head checkpoint does not verify: %w", err)
	}
	_, err = e.stdout.Write(head.Note)
	return err
}

func runAuditPubkey(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "audit pubkey", "audit pubkey [--data DIR | --config FILE]")
	var sf storeFlags
	sf.register(fs.StringVar)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := sf.loadConfig()
	if err != nil {
		return err
	}
	path := filepath.Join(cfg.Data, auditlog.VerifierKeyFile)
	if _, err := auditlog.LoadVerifier(path); err != nil {
		return err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	_, err = e.stdout.Write(b)
	return err
}

func runAuditExport(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "audit export", "audit export [--data DIR | --config FILE | --store URL --pubkey FILE] [--since RFC3339] [--from SEQ]")
	var sf storeFlags
	sf.register(fs.StringVar)
	pubkey := fs.String("pubkey", "", "verifier key file (default: signing.pub in the data directory)")
	sinceS := fs.String("since", "", "only events at or after this time (RFC 3339)")
	from := fs.Uint64("from", 0, "start at this sequence number")
	if err := parse(fs, args); err != nil {
		return err
	}
	var since time.Time
	if *sinceS != "" {
		t, err := time.Parse(time.RFC3339Nano, *sinceS)
		if err != nil {
			return usagef("audit export: --since %q is not an RFC 3339 time", *sinceS)
		}
		since = t
	}
	st, _, err := openForReading(ctx, &sf, *pubkey)
	if err != nil {
		return err
	}
	defer st.Close()
	w := bufio.NewWriterSize(e.stdout, 1<<16)
	err = st.ScanEntries(ctx, *from, func(en *store.Entry) error {
		if !since.IsZero() && en.Meta.Time.Before(since) {
			return nil
		}
		if en.Payload != nil {
			w.Write(en.Payload)
		} else {
			b, _ := json.Marshal(map[string]any{"seq": en.Seq, "time": en.Meta.Time, "leaf_hash": en.LeafHash, "payload_dropped": true})
			w.Write(b)
		}
		return w.WriteByte('\n')
	})
	if err != nil {
		return err
	}
	return w.Flush()
}
