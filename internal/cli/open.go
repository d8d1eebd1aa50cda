package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/vigil-audit/vigil/internal/auditlog"
	"github.com/vigil-audit/vigil/internal/config"
	"github.com/vigil-audit/vigil/internal/store"
	"github.com/vigil-audit/vigil/internal/store/postgres"
	"github.com/vigil-audit/vigil/internal/store/sqlite"
)

// storeFlags are the flags every command that opens the store shares.
type storeFlags struct {
	config string
	data   string
	store  string // a postgres:// URL overriding the configured store
}

func (s *storeFlags) register(fsAdd func(p *string, name, value, usage string)) {
	fsAdd(&s.config, "config", "", "path to vigil.yaml (default: none, built-in defaults)")
	fsAdd(&s.data, "data", "", "data directory (overrides the config's data)")
	fsAdd(&s.store, "store", "", "PostgreSQL URL of the store (overrides the config's store)")
}

// loadConfig reads the config file if one was named, then applies flag overrides.
func (s *storeFlags) loadConfig() (*config.Config, error) {
	cfg := config.Default()
	if s.config != "" {
		c, err := config.Load(s.config)
		if err != nil {
			return nil, err
		}
		cfg = c
	}
	if s.data != "" {
		cfg.Data = s.data
	}
	if s.store != "" {
		if !strings.HasPrefix(s.store, "postgres://") && !strings.HasPrefix(s.store, "postgresql://") {
			return nil, usagef("--store: want a postgres:// URL")
		}
		cfg.Store = config.Store{Driver: config.DriverPostgres, DSN: s.store}
	}
	return cfg, nil
}

// defaultOrigin names a new log: "vigil/<hostname>".
func defaultOrigin() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "localhost"
	}
	return "vigil/" + strings.Map(func(r rune) rune {
		if r <= ' ' || r == '+' {
			return '-'
		}
		return r
	}, h)
}

// keys returns the log's signing keys from the data directory, creating them on
// first use (create=false refuses to create them).
func keys(cfg *config.Config, create bool) (note.Signer, note.Verifier, error) {
	_, err := os.Stat(filepath.Join(cfg.Data, auditlog.SignerKeyFile))
	exists := err == nil
	if !exists && !create {
		return nil, nil, fmt.Errorf("no signing key in %s: is this a Vigil data directory?", cfg.Data)
	}
	origin := cfg.Log.Origin
	if !exists && origin == "" {
		origin = defaultOrigin()
	}
	return auditlog.LoadOrCreateKey(cfg.Data, origin)
}

// openStore opens the configured backend for the log named origin.
func openStore(ctx context.Context, cfg *config.Config, origin string, create bool) (store.Store, error) {
	switch cfg.Store.Driver {
	case config.DriverPostgres:
		dsn, err := cfg.StoreDSN()
		if err != nil {
			return nil, err
		}
		return postgres.Open(ctx, dsn, origin)
	default:
		path := filepath.Join(cfg.Data, "vigil.db")
		if !create {
			if _, err := os.Stat(path); err != nil {
				return nil, fmt.Errorf("no audit log at %s: %w", path, err)
			}
		}
		return sqlite.Open(ctx, path)
	}
}

// openSigned returns the log's keys and its store, creating both on first use.
func openSigned(ctx context.Context, cfg *config.Config) (note.Signer, note.Verifier, store.Store, error) {
	signer, verifier, err := keys(cfg, true)
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := openStore(ctx, cfg, signer.Name(), true)
	if err != nil {
		return nil, nil, nil, err
	}
	return signer, verifier, st, nil
}

// ensureDataDir creates the data directory, private to its owner.
func ensureDataDir(dir string) error {
	if dir == "" {
		return errors.New("empty data directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	return nil
}

func newLogger(cfg *config.Config, w *os.File) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.Log.SlogLevel()}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
