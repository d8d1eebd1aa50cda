package pgwire_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"

	"github.com/vigil-audit/vigil/internal/gateway/pgwire"
)

var tpsRe = regexp.MustCompile(`(?m)^tps = ([0-9.]+)`)

// TestPgbenchRatios measures pgbench throughput directly and through the
// gateway in both audit modes, and prints the ratios. It runs only with
// VIGIL_BENCH=1 (bench/pgbench.sh). VIGIL_BENCH_SECONDS sets each run's
// duration (default 10), VIGIL_BENCH_SCALE the pgbench scale (default 10),
// and VIGIL_BENCH_PROFILE a directory for a CPU profile of each gateway run.
func TestPgbenchRatios(t *testing.T) {
	if os.Getenv("VIGIL_BENCH") != "1" {
		t.Skip("set VIGIL_BENCH=1 (bench/pgbench.sh)")
	}
	pgbench := needTool(t, "pgbench")
	secs := envInt("VIGIL_BENCH_SECONDS", 10)
	scale := envInt("VIGIL_BENCH_SCALE", 10)
	profDir := os.Getenv("VIGIL_BENCH_PROFILE")
	e := newEnvWith(t, envOptions{audit: pgwire.AuditStandard, more: map[string]string{"strict": pgwire.AuditStrict}})
	if out, err := exec.Command(pgbench, "-i", "-q", "-s", strconv.Itoa(scale), e.direct).CombinedOutput(); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	run := func(target, label string, args ...string) float64 {
		t.Helper()
		base := []string{"-n", "-T", strconv.Itoa(secs)}
		var cmd *exec.Cmd
		if target == "direct" {
			cmd = exec.Command(pgbench, append(append(base, args...), e.direct)...)
		} else {
			conn := "prod"
			if target == pgwire.AuditStrict {
				conn = "strict"
			}
			cmd = exec.Command(pgbench, append(append(base, args...),
				"-h", "127.0.0.1", "-p", strconv.Itoa(e.port), "-U", "alice", conn)...)
			cmd.Env = append(os.Environ(), "PGPASSWORD="+e.alice, "PGSSLMODE=disable")
		}
		if profDir != "" && target != "direct" {
			f, err := os.Create(filepath.Join(profDir, target+"-"+label+".pprof"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				t.Fatal(err)
			}
			defer pprof.StopCPUProfile()
		}
		out, err := cmd.CombinedOutput()
		m := tpsRe.FindSubmatch(out)
		if err != nil || m == nil || !strings.Contains(string(out), "number of failed transactions: 0") {
			t.Errorf("pgbench %s %s: %v\n%s", target, label, err, out)
			return 0
		}
		tps, _ := strconv.ParseFloat(string(m[1]), 64)
		return tps
	}
	ratio := func(a, b float64) string {
		if b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.0f%%", 100*a/b)
	}
	var table strings.Builder
	fmt.Fprintf(&table, "| workload | clients | -M | direct tps | standard tps | standard/direct | strict tps | strict/direct |\n")
	fmt.Fprintf(&table, "|---|---|---|---|---|---|---|---|\n")
	for _, clients := range []int{1, 16} {
		jobs := min(clients, 2)
		for _, mode := range []string{"simple", "extended", "prepared"} {
			label := fmt.Sprintf("S-%s-c%d", mode, clients)
			args := []string{"-S", "-M", mode, "-c", strconv.Itoa(clients), "-j", strconv.Itoa(jobs)}
			d := run("direct", label, args...)
			std := run(pgwire.AuditStandard, label, args...)
			st := run(pgwire.AuditStrict, label, args...)
			fmt.Fprintf(&table, "| select-only (-S) | %d | %s | %.0f | %.0f | %s | %.0f | %s |\n", clients, mode, d, std, ratio(std, d), st, ratio(st, d))
			t.Logf("%s: direct %.0f, standard %.0f (%s), strict %.0f (%s)", label, d, std, ratio(std, d), st, ratio(st, d))
		}
	}
	for _, clients := range []int{1, 16} {
		label := fmt.Sprintf("tpcb-simple-c%d", clients)
		args := []string{"-M", "simple", "-c", strconv.Itoa(clients), "-j", strconv.Itoa(min(clients, 2))}
		d := run("direct", label, args...)
		st := run(pgwire.AuditStrict, label, args...)
		fmt.Fprintf(&table, "| TPC-B-like (default) | %d | simple | %.0f | | | %.0f | %s |\n", clients, d, st, ratio(st, d))
		t.Logf("%s: direct %.0f, strict %.0f (%s)", label, d, st, ratio(st, d))
	}
	fmt.Printf("\npgbench, scale %d, %d s per run\n\n%s\n", scale, secs, table.String())
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
