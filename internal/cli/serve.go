package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/vigil-audit/vigil/internal/auditlog"
	"github.com/vigil-audit/vigil/internal/auth"
	"github.com/vigil-audit/vigil/internal/config"
	"github.com/vigil-audit/vigil/internal/detect"
	"github.com/vigil-audit/vigil/internal/detect/builtin"
	"github.com/vigil-audit/vigil/internal/event"
	"github.com/vigil-audit/vigil/internal/gateway/pgwire"
	"github.com/vigil-audit/vigil/internal/ingest/jsonl"
	"github.com/vigil-audit/vigil/internal/ingest/sources"
	"github.com/vigil-audit/vigil/internal/ingest/tail"
	"github.com/vigil-audit/vigil/internal/review"
	"github.com/vigil-audit/vigil/internal/server"
)

// Log keys.
const (
	keyAddr   = "addr"
	keyData   = "data"
	keyOrigin = "origin"
	keySize   = "size"
	keyErr    = "err"
	keyCount  = "count"
)

const shutdownTimeout = 15 * time.Second

// serveGCPercent is the GOGC that serve runs with unless GOGC is set.
const serveGCPercent = 400

func runServe(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "serve", "serve [--config FILE] [--data DIR] [--http ADDR] [--store URL] [--rules PATH]... [--no-builtin]")
	var sf storeFlags
	sf.register(fs.StringVar)
	httpAddr := fs.String("http", "", "HTTP listen address (overrides the config's http.listen)")
	var rf ruleFlags
	rf.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg, err := sf.loadConfig()
	if err != nil {
		return err
	}
	if *httpAddr != "" {
		cfg.HTTP.Listen = *httpAddr
	}
	logger := newLogger(cfg, os.Stderr)
	if os.Getenv("GOGC") == "" {
		// The append path allocates per event; a server with memory to spare
		// trades it for less GC work (measured: +25-35% appends/s on 2 cores).
		debug.SetGCPercent(serveGCPercent)
	}

	if err := ensureDataDir(cfg.Data); err != nil {
		return err
	}
	unlock, err := lockDataDir(cfg.Data)
	if err != nil {
		return err
	}
	defer unlock()
	signer, verifier, st, err := openSigned(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	lg, err := auditlog.Open(ctx, auditlog.Options{
		Store: st, Signer: signer, Verifier: verifier, Logger: logger.With("component", "auditlog"),
		Metrics: auditlog.NewMetrics(reg), MaxBatch: cfg.Audit.MaxBatch, CheckpointEvery: uint64(cfg.Audit.CheckpointEvery),
	})
	if err != nil {
		return err
	}
	defer lg.Close()

	if n, err := st.CountTokens(ctx, auth.RoleAdmin); err != nil {
		return err
	} else if n == 0 {
		secret, err := auth.Create(ctx, st, "admin", auth.RoleAdmin)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Created the first admin token (shown once, store it now):\n\n  %s\n\n", secret)
	}

	eng, _, err := rf.engine(policyDefaults(cfg))
	if err != nil {
		return err
	}
	if err := eng.RegisterMetrics(reg); err != nil {
		return fmt.Errorf("policy metrics: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTP.Listen, err)
	}
	reviews := review.New(lg, review.Config{
		Approvers: cfg.Reviews.Approvers, Expiry: cfg.Reviews.Expiry,
		Window: cfg.Reviews.Window, ApproverRoles: cfg.Reviews.ApproverRoles,
	})
	go func() { // fold the existing review events before they are first needed
		if err := reviews.Refresh(ctx); err != nil {
			logger.Error("reviews: fold the log", keyErr, err)
		}
	}()
	srv := server.New(server.Options{
		Log: lg, Auth: auth.NewAuthenticator(st), Logger: logger.With("component", "server"),
		Gatherer: reg, MaxBody: cfg.HTTP.MaxBody, Policy: eng, Reviews: reviews,
	})
	hs := &http.Server{
		Handler:           srv,
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      cfg.HTTP.WriteTimeout,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if _, err := lg.Append(ctx, []event.Event{lifecycleEvent("start", cfg.HTTP.Listen)}); err != nil {
		return fmt.Errorf("record start: %w", err)
	}
	logger.Info("serving", keyAddr, "http://"+ln.Addr().String(), keyData, cfg.Data, keyOrigin, lg.Origin(), keySize, lg.Head().Size)
	fmt.Fprintf(e.stdout, "vigil: serving on http://%s (data %s, log %s)\n", ln.Addr(), cfg.Data, lg.Origin())

	sigCtx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.Retention.Events > 0 {
		dropExpired(sigCtx, lg, cfg.Retention.Events, logger) // once before serving, then every interval
		go every(sigCtx, cfg.Retention.Interval, func() { dropExpired(sigCtx, lg, cfg.Retention.Events, logger) })
	}
	{
		rules, corr, err := loadSigmaWith(cfg.Detect.Rules, false, cfg.Detect.Placeholders, builtin.Options{
			FailedAccessCount: cfg.Detect.FailedAccess.Count, FailedAccessWindow: cfg.Detect.FailedAccess.Window})
		if err != nil {
			return fmt.Errorf("detect.rules: %w", err)
		}
		sinks, err := alertSinks(cfg, logger)
		if err != nil {
			return err
		}
		if corr != nil {
			reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "vigil_detect_correlation_cap_evictions_total",
				Help: "Correlation groups dropped because the cap on distinct group keys was reached.",
			}, func() float64 { return float64(corr.CapEvictions()) }))
		}
		runner := &detect.Runner{Log: lg, Rules: rules, Correlations: corr, Sinks: sinks, Suppress: cfg.Detect.Suppress,
			SuppressRules: cfg.Detect.SuppressRules,
			Logger:        logger.With("component", "detect"), Metrics: detect.NewMetrics(reg)}
		go runner.Run(sigCtx)
		logger.Info("detections", keyCount, len(rules.Rules()))
	}
	if cfg.Audit.VerifyEvery > 0 {
		// Each result is recorded as an event, so that a failure raises the
		// built-in alert.
		vlog := logger.With("component", "verify")
		go every(sigCtx, cfg.Audit.VerifyEvery, func() {
			if err := verifyOnce(sigCtx, lg, vlog); err != nil && sigCtx.Err() == nil {
				vlog.Error("periodic verification", keyErr, err)
			}
		})
	}
	for _, tc := range cfg.Ingest.Tail {
		name := tc.Source
		if tc.Mapping != "" {
			if _, err := jsonl.ParseMapping(tc.Mapping); err != nil {
				return fmt.Errorf("ingest.tail mapping %q: %w", tc.Mapping, err)
			}
			name += ":" + tc.Mapping
		}
		parser, ok := sources.Parser(name)
		if !ok {
			return fmt.Errorf("ingest.tail: unknown source %q", tc.Source)
		}
		tl := &tail.Tailer{Parser: parser, Path: tc.Path, Interval: tc.Interval, Log: lg,
			Logger: logger.With("component", "tail"), Whole: tc.Source == "cloudtrail"}
		go tl.Run(sigCtx)
	}
	serveErr := make(chan error, 2)
	var gw *pgwire.Server
	if addr := cfg.Gateway.Postgres.Listen; addr != "" {
		gcfg := pgwire.Config{Listen: addr, Connections: map[string]pgwire.Connection{}, Auth: cfg.Gateway.Postgres.Auth}
		tlsCfg, tlsInfo, err := pgwire.LoadTLS(cfg.Gateway.Postgres.TLSCert, cfg.Gateway.Postgres.TLSKey, cfg.Data)
		if err != nil {
			return err
		}
		gcfg.TLS = tlsCfg
		logger.Info("postgres gateway tls", "cert", tlsInfo.CertFile, "sha256", tlsInfo.Fingerprint, "self_signed", tlsInfo.Generated, "created", tlsInfo.Created)
		if gcfg.RedactKey, err = pgwire.LoadRedactKey(cfg.Data); err != nil {
			return err
		}
		for _, c := range cfg.Connections {
			pw, err := c.Upstream.Password()
			if err != nil {
				return fmt.Errorf("connection %s: %w", c.Name, err)
			}
			port := c.Upstream.Port
			if port == 0 {
				port = 5432
			}
			gcfg.Connections[c.Name] = pgwire.Connection{Name: c.Name, Environment: c.Environment, Audit: c.Audit,
				Roles: c.Roles, Users: c.Users, RedactLiterals: c.RedactLiterals,
				Upstream: pgwire.Upstream{Host: c.Upstream.Host, Port: port, Database: c.Upstream.Database,
					User: c.Upstream.User, Password: pw, SSLMode: c.Upstream.SSLMode, SSLRootCert: c.Upstream.SSLRootCert}}
			// Settings a session would only trip over at its login, such as
			// an unreadable sslrootcert, stop the start instead.
			if _, err := gcfg.Connections[c.Name].Upstream.Config(); err != nil {
				return fmt.Errorf("connection %s: %w", c.Name, err)
			}
		}
		gln, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("gateway: listen on %s: %w", addr, err)
		}
		gw = pgwire.New(gcfg, pgwire.Deps{Log: lg, Auth: auth.NewAuthenticator(st), Policy: eng, Reviews: reviews, Logger: logger.With("component", "gateway")})
		go func() {
			if err := gw.Serve(gln); err != nil && !errors.Is(err, pgwire.ErrServerClosed) {
				serveErr <- fmt.Errorf("gateway: %w", err)
			}
		}()
		logger.Info("postgres gateway", keyAddr, gln.Addr().String(), keyCount, len(gcfg.Connections))
		fmt.Fprintf(e.stdout, "vigil: PostgreSQL gateway on %s (%d connections)\n", gln.Addr(), len(gcfg.Connections))
	}
	go func() { serveErr <- hs.Serve(ln) }()
	select {
	case err := <-serveErr:
		return fmt.Errorf("http server: %w", err)
	case <-sigCtx.Done():
	}
	// From here a second signal kills the process at once (default handling).
	stop()
	logger.Info("shutting down: draining requests and appends")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	shutdownErr := hs.Shutdown(sctx)
	if gw != nil {
		if err := gw.Shutdown(sctx); err != nil {
			logger.Warn("gateway shutdown", keyErr, err)
		}
	}
	if _, err := lg.Append(sctx, []event.Event{lifecycleEvent("stop", cfg.HTTP.Listen)}); err != nil {
		logger.Warn("record stop", keyErr, err)
	}
	if err := lg.Close(); err != nil {
		return err
	}
	if shutdownErr != nil && !errors.Is(shutdownErr, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", shutdownErr)
	}
	logger.Info("stopped", keySize, lg.Head().Size)
	return nil
}

func lifecycleEvent(what, addr string) event.Event {
	host, _ := os.Hostname()
	return event.Event{
		Source: "vigil", ClassUID: event.ClassAPIActivity, Activity: "other",
		Actor:    event.Actor{User: "vigil", Type: "system"},
		Action:   "server." + what,
		Resource: event.Resource{Type: "vigil_server", Name: host},
		Outcome:  event.OutcomeSuccess,
		Attrs:    map[string]any{"listen": addr, "pid": os.Getpid()},
	}
}

// every calls fn every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn()
	}
}

// dropExpired drops the payloads of events older than keep, keeping their
// leaf and node hashes so that the log still verifies.
func dropExpired(ctx context.Context, lg *auditlog.Log, keep time.Duration, logger *slog.Logger) {
	n, err := lg.Store().DropPayloads(ctx, time.Now().Add(-keep))
	switch {
	case err != nil && ctx.Err() == nil:
		logger.Error("retention", keyErr, err)
	case n > 0:
		logger.Info("retention dropped payloads", keyCount, n)
	}
}

// lockDataDir takes an exclusive lock so that two servers never append to one
// log. The kernel releases it when the process dies.
func lockDataDir(dir string) (func(), error) {
	path := filepath.Join(dir, "vigil.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data directory %s is in use by another vigil serve", dir)
	}
	return func() { f.Close() }, nil
}

// alertSinks builds the configured alert destinations.
func alertSinks(cfg *config.Config, logger *slog.Logger) ([]detect.Sink, error) {
	var out []detect.Sink
	for i, sk := range cfg.Alerts.Sinks {
		env := func(name string) (string, error) {
			if name == "" {
				return "", nil
			}
			v, ok := os.LookupEnv(name)
			if !ok {
				return "", fmt.Errorf("alerts.sinks[%d]: environment variable %s is not set", i, name)
			}
			return v, nil
		}
		if sk.Type == "log" {
			out = append(out, detect.LogSink{Logger: logger.With("component", "alerts")})
			continue
		}
		secret, err := env(sk.SecretEnv)
		if err != nil {
			return nil, err
		}
		key, err := env(sk.RoutingKeyEnv)
		if err != nil {
			return nil, err
		}
		out = append(out, &detect.Webhook{URL: sk.URL, Format: sk.Type, Secret: []byte(secret), RoutingKey: key,
			MinSeverity: sk.MinSeverity, Rules: sk.Rules})
	}
	return out, nil
}

func verifyOnce(ctx context.Context, lg *auditlog.Log, logger *slog.Logger) error {
	start := time.Now()
	rep, err := lg.VerifyLive(ctx)
	if err != nil {
		return err
	}
	ev := event.Event{
		Source: "vigil", ClassUID: event.ClassComplianceFinding, Activity: "other",
		Actor:    event.Actor{User: "vigil", Type: "system"},
		Action:   "audit.verify",
		Resource: event.Resource{Type: "audit_log", Name: lg.Origin()},
		Outcome:  event.OutcomeSuccess,
		Attrs: map[string]any{"entries": rep.Entries, "head_size": rep.Head.Size, "checkpoints": rep.Checkpoints,
			"duration_ms": time.Since(start).Milliseconds()},
	}
	if !rep.OK() {
		ev.Outcome = event.OutcomeFailure
		ev.Attrs["first_problem"] = rep.Problems[0].String()
		ev.Attrs["problems"] = len(rep.Problems)
		logger.Error("AUDIT LOG VERIFICATION FAILED", "first_problem", rep.Problems[0].String())
	}
	_, err = lg.Append(ctx, []event.Event{ev})
	return err
}
