package pgwire_test

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-audit/vigil/internal/gateway/pgwire"
)

var (
	tpsRe = regexp.MustCompile(`(?m)^tps = ([0-9.]+)`)
	txRe  = regexp.MustCompile(`(?m)^number of transactions actually processed: ([0-9]+)`)
)

// benchGCPercent is what vigil serve sets unless GOGC is set (internal/cli).
const benchGCPercent = 400

// TestPgbenchRatios measures pgbench throughput directly and through the
// gateway in both audit modes, and prints the ratios. It runs only with
// VIGIL_BENCH=1 (bench/pgbench.sh).
//
// Each row is measured in rounds: direct, the baselines (a bare relay and,
// when installed, PgBouncer: baseline_test.go), standard, strict (TPC-B: no
// standard), one after the other, VIGIL_BENCH_SECONDS each (default 5),
// VIGIL_BENCH_ROUNDS times (default 3). A ratio is computed per round from
// runs a few seconds apart, and the row reports the median of the rounds'
// ratios with their range, so that load from other processes moves a
// ratio much less than it moves the tps of one run. The gateway's own CPU
// time (this process's rusage; pgbench and PostgreSQL are other processes)
// is reported per transaction.
//
// Like vigil serve, the process runs with GOGC=400 unless GOGC is set.
// VIGIL_BENCH_SCALE sets the pgbench scale (default 10), VIGIL_BENCH_ROWS a
// regular expression selecting rows by label (e.g. "S-simple-c1|tpcb"),
// and VIGIL_BENCH_PROFILE a directory for a CPU profile of each gateway
// run (target-label-rN.pprof; merge the rounds with go tool pprof).
func TestPgbenchRatios(t *testing.T) {
	if os.Getenv("VIGIL_BENCH") != "1" {
		t.Skip("set VIGIL_BENCH=1 (bench/pgbench.sh)")
	}
	pgbench := needTool(t, "pgbench")
	secs := envInt("VIGIL_BENCH_SECONDS", 5)
	rounds := envInt("VIGIL_BENCH_ROUNDS", 3)
	scale := envInt("VIGIL_BENCH_SCALE", 10)
	profDir := os.Getenv("VIGIL_BENCH_PROFILE")
	var rows *regexp.Regexp
	if s := os.Getenv("VIGIL_BENCH_ROWS"); s != "" {
		rows = regexp.MustCompile(s)
	}
	gogc := os.Getenv("GOGC")
	if gogc == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(benchGCPercent))
		gogc = strconv.Itoa(benchGCPercent) + " (as vigil serve)"
	}
	e := newEnvWith(t, envOptions{audit: pgwire.AuditStandard, more: map[string]string{"strict": pgwire.AuditStrict}})
	if out, err := exec.Command(pgbench, "-i", "-q", "-s", strconv.Itoa(scale), e.direct).CombinedOutput(); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	// The baselines, measured in the same rounds: a bare relay and, when
	// installed, PgBouncer.
	baselines := map[string]string{}
	if u, err := url.Parse(e.direct); err == nil {
		baselines["relay"] = viaPort(t, e.direct, startRelay(t, u.Host))
	}
	// cpuOf reads the CPU time of the process serving a target: this one
	// (the gateway and the relay), or pgbouncer's.
	cpuOf := map[string]func() time.Duration{}
	if port, cpu := startPgbouncer(t, e.direct); port != 0 {
		baselines["pgbouncer"] = viaPort(t, e.direct, port)
		cpuOf["pgbouncer"] = cpu
	}

	// run runs pgbench once; it returns tps and, through the gateway, the
	// gateway's CPU time per transaction in µs.
	run := func(target, label string, round int, args ...string) (tps, cpuUS float64) {
		t.Helper()
		base := []string{"-n", "-T", strconv.Itoa(secs)}
		var cmd *exec.Cmd
		if dsn, ok := baselines[target]; ok || target == "direct" {
			if !ok {
				dsn = e.direct
			}
			cmd = exec.Command(pgbench, append(append(base, args...), dsn)...)
		} else {
			conn := "prod"
			if target == pgwire.AuditStrict {
				conn = "strict"
			}
			cmd = exec.Command(pgbench, append(append(base, args...),
				"-h", "127.0.0.1", "-p", strconv.Itoa(e.port), "-U", "alice", conn)...)
			cmd.Env = append(os.Environ(), "PGPASSWORD="+e.alice, "PGSSLMODE=disable")
		}
		if profDir != "" && (target == pgwire.AuditStandard || target == pgwire.AuditStrict) {
			f, err := os.Create(filepath.Join(profDir, fmt.Sprintf("%s-%s-r%d.pprof", target, label, round)))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				t.Fatal(err)
			}
			defer pprof.StopCPUProfile()
		}
		cpuNow := selfCPU
		if f := cpuOf[target]; f != nil {
			cpuNow = f
		}
		cpu0 := cpuNow()
		out, err := cmd.CombinedOutput()
		cpu := cpuNow() - cpu0
		m := tpsRe.FindSubmatch(out)
		n := txRe.FindSubmatch(out)
		if err != nil || m == nil || n == nil || !strings.Contains(string(out), "number of failed transactions: 0") {
			t.Errorf("pgbench %s %s: %v\n%s", target, label, err, out)
			return 0, 0
		}
		tps, _ = strconv.ParseFloat(string(m[1]), 64)
		if txs, _ := strconv.ParseFloat(string(n[1]), 64); txs > 0 {
			cpuUS = float64(cpu.Microseconds()) / txs
		}
		return tps, cpuUS
	}

	type result struct {
		tps, cpu, ratio []float64
	}
	measure := func(label string, targets []string, args ...string) map[string]*result {
		res := map[string]*result{}
		for _, tg := range targets {
			res[tg] = &result{}
		}
		for r := 1; r <= rounds; r++ {
			var direct float64
			for _, tg := range targets {
				tps, cpu := run(tg, label, r, args...)
				rs := res[tg]
				rs.tps = append(rs.tps, tps)
				if tg == "direct" {
					direct = tps
					continue
				}
				rs.cpu = append(rs.cpu, cpu)
				if direct > 0 {
					rs.ratio = append(rs.ratio, 100*tps/direct)
				}
			}
		}
		var log strings.Builder
		fmt.Fprintf(&log, "%s: direct %.0f tps", label, median(res["direct"].tps))
		for _, tg := range targets[1:] {
			rs := res[tg]
			fmt.Fprintf(&log, ", %s %.0f tps %s (%s) %.0f µs CPU/tx", tg, median(rs.tps), pct(rs.ratio), spread(rs.ratio), median(rs.cpu))
		}
		t.Log(log.String())
		return res
	}

	// ratio formats a baseline's median ratio with its range, and its CPU
	// time per transaction, or "–" when it was not measured.
	ratio := func(res map[string]*result, tg string) string {
		if rs := res[tg]; rs != nil {
			return fmt.Sprintf("%s (%s), %.0f µs", pct(rs.ratio), spread(rs.ratio), median(rs.cpu))
		}
		return "–"
	}
	withBaselines := func(targets ...string) []string {
		out := []string{"direct"}
		for _, b := range []string{"relay", "pgbouncer"} {
			if baselines[b] != "" {
				out = append(out, b)
			}
		}
		return append(out, targets...)
	}
	var table strings.Builder
	fmt.Fprintf(&table, "| workload | clients | -M | direct tps | bare relay/direct, CPU/tx | pgbouncer/direct, CPU/tx | standard tps | standard/direct (range) | gateway CPU µs/tx | strict tps | strict/direct (range) | gateway CPU µs/tx |\n")
	fmt.Fprintf(&table, "|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	start := time.Now()
	for _, clients := range []int{1, 16} {
		jobs := min(clients, 2)
		for _, mode := range []string{"simple", "extended", "prepared"} {
			label := fmt.Sprintf("S-%s-c%d", mode, clients)
			if rows != nil && !rows.MatchString(label) {
				continue
			}
			args := []string{"-S", "-M", mode, "-c", strconv.Itoa(clients), "-j", strconv.Itoa(jobs)}
			res := measure(label, withBaselines(pgwire.AuditStandard, pgwire.AuditStrict), args...)
			std, st := res[pgwire.AuditStandard], res[pgwire.AuditStrict]
			fmt.Fprintf(&table, "| select-only (-S) | %d | %s | %.0f | %s | %s | %.0f | %s (%s) | %.0f | %.0f | %s (%s) | %.0f |\n",
				clients, mode, median(res["direct"].tps), ratio(res, "relay"), ratio(res, "pgbouncer"),
				median(std.tps), pct(std.ratio), spread(std.ratio), median(std.cpu),
				median(st.tps), pct(st.ratio), spread(st.ratio), median(st.cpu))
		}
	}
	for _, clients := range []int{1, 16} {
		label := fmt.Sprintf("tpcb-simple-c%d", clients)
		if rows != nil && !rows.MatchString(label) {
			continue
		}
		args := []string{"-M", "simple", "-c", strconv.Itoa(clients), "-j", strconv.Itoa(min(clients, 2))}
		res := measure(label, withBaselines(pgwire.AuditStrict), args...)
		st := res[pgwire.AuditStrict]
		fmt.Fprintf(&table, "| TPC-B-like (default) | %d | simple | %.0f | %s | %s | | | | %.0f | %s (%s) | %.0f |\n",
			clients, median(res["direct"].tps), ratio(res, "relay"), ratio(res, "pgbouncer"),
			median(st.tps), pct(st.ratio), spread(st.ratio), median(st.cpu))
	}
	fmt.Printf("\npgbench, scale %d, %d rounds of %d s per target (direct, baselines, standard, strict interleaved), GOGC=%s, %s in all\n"+
		"tps: median over rounds; ratio: median of the per-round ratios (min-max); CPU: the gateway process's CPU time per transaction, median\n"+
		"bare relay: bytes copied both ways, nothing parsed or recorded; pgbouncer: PgBouncer in session mode (– when not installed)\n\n%s\n",
		scale, rounds, secs, gogc, time.Since(start).Round(time.Second), table.String())
}

// selfCPU is this process's user + system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func pct(xs []float64) string {
	if len(xs) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", median(xs))
}

func spread(xs []float64) string {
	if len(xs) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f–%.0f", slices.Min(xs), slices.Max(xs))
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
