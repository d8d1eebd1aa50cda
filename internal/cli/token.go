package cli

import (
	"context"
	"fmt"

	"github.com/vigil-audit/vigil/internal/auth"
)

func runToken(ctx context.Context, e *env, args []string) error {
	return subcommand(ctx, e, "token", args, map[string]func(context.Context, *env, []string) error{
		"create": runTokenCreate,
	})
}

func runTokenCreate(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "token create", "token create [--data DIR | --config FILE] --user NAME --role admin|auditor|user")
	var sf storeFlags
	sf.register(fs.StringVar)
	user := fs.String("user", "", "the user the token authenticates")
	role := fs.String("role", "", "admin, auditor or user")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *user == "" {
		return usagef("token create: --user is required")
	}
	if !auth.ValidRole(*role) {
		return usagef("token create: --role must be admin, auditor or user (got %q)", *role)
	}
	cfg, err := sf.loadConfig()
	if err != nil {
		return err
	}
	if err := ensureDataDir(cfg.Data); err != nil {
		return err
	}
	_, _, st, err := openSigned(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	secret, err := auth.Create(ctx, st, *user, *role)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, secret)
	return nil
}
