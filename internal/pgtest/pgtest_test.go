package pgtest

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestStart(t *testing.T) {
	srv := Start(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
	var fsync, maxConns string
	if err := conn.QueryRow(ctx, "SELECT current_setting('fsync'), current_setting('max_connections')").Scan(&fsync, &maxConns); err != nil {
		t.Fatal(err)
	}
	if fsync != "on" || maxConns != "600" {
		t.Errorf("fsync=%s max_connections=%s, want on and 600", fsync, maxConns)
	}

	dsn := srv.CreateDB(t, "audit")
	db, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	var name string
	if err := db.QueryRow(ctx, "SELECT current_database()").Scan(&name); err != nil || name != "audit" {
		t.Fatalf("current_database() = %q, %v", name, err)
	}
	if a, b := srv.NewDB(t), srv.NewDB(t); a == b {
		t.Errorf("NewDB returned %s twice", a)
	}
}

func TestStopRemovesEverything(t *testing.T) {
	srv := StartWith(t, Options{NoFsync: true, ExtraConf: []string{"work_mem=8MB"}})
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, srv.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	var fsync, workMem string
	err = conn.QueryRow(ctx, "SELECT current_setting('fsync'), current_setting('work_mem')").Scan(&fsync, &workMem)
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fsync != "off" || workMem != "8MB" {
		t.Errorf("fsync=%s work_mem=%s, want off and 8MB", fsync, workMem)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(srv.dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists after Stop: %v", srv.dir, err)
	}
	if _, err := pgx.Connect(ctx, srv.DSN("postgres")); err == nil {
		t.Error("server still accepts connections after Stop")
	}
	if err := srv.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestShared(t *testing.T) {
	a, b := Shared(t), Shared(t)
	if a != b {
		t.Fatal("Shared started two servers")
	}
	conn, err := pgx.Connect(context.Background(), a.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	conn.Close(context.Background())
}
