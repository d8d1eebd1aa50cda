// Package correlate evaluates Sigma correlation rules (specification v2.1)
// over a stream of single-event rule matches, plus Vigil's absence
// extension.
//
// Parse reads the correlation documents of a Sigma file (rules and filters
// in the same file are left to package sigma); New compiles them into an
// Engine; the caller feeds every match of a referenced Sigma rule to
// Engine.Observe, which returns the alerts that match raises.
//
// # Supported rules
//
// Types event_count, value_count, temporal, temporal_ordered, value_sum and
// value_avg, with rules (ids or names), group-by, timespan (Ns, Nm, Nh, Nd),
// condition (gt, gte, lt, lte, eq, neq, several ANDed; field for the value
// types, several value_count fields counted as distinct tuples), aliases and
// generate. value_percentile is rejected as unsupported; unknown keys, types
// and malformed values are errors naming the file and line.
//
// temporal and temporal_ordered without a condition require every rule; with
// one, the condition applies to the number of distinct rules seen (temporal)
// or of steps completed in order (temporal_ordered).
//
// # Absence (Vigil extension)
//
// "The last rule matched, and none of the rules before it matched for the
// same group within timespan before it":
//
//	title: Privilege grant without an approved review
//	id: 6f1c7d0e-0000-4000-8000-000000000001
//	level: high
//	correlation:
//	    type: absence            # Vigil extension, not standard Sigma
//	    rules:
//	        - approved_review    # expected before the trigger (any of these)
//	        - access_request
//	        - privilege_grant    # the trigger: always the last rule
//	    group-by:
//	        - actor
//	    timespan: 24h
//	    aliases:                 # optional, as in Sigma
//	        actor:
//	            privilege_grant: target.user
//	            approved_review: request.user
//	            access_request: actor.user
//
// It reads like a temporal_ordered rule whose earlier steps are missing. It
// needs at least two rules, takes no condition, and fires on the trigger
// match itself (evidence: the trigger event). A predecessor matching at the
// same time as the trigger counts as preceding it. A predecessor that
// arrives after the trigger has fired does not retract the alert.
//
// # Windows
//
// Windows slide, they are not tumbling: each match is evaluated over the
// window [end-timespan, end] of its group, both bounds inclusive, where end is
// the newest match time of the group (the match's own time when matches come
// in order). So two matches exactly timespan apart are in one window; one
// nanosecond more and they are not. Absence looks for predecessors in
// [t-timespan, t] of the trigger time t.
//
// Matches are expected in time order per stream (the audit log read by
// sequence number). A match older than its group's newest match by at most
// timespan is accepted and placed in time order; an older one is ignored and
// counted in Stats.Late. Conditions are evaluated only when a match arrives,
// so lt/lte conditions mean "at that moment", not "by the end of a quiet
// window".
//
// # Deduplication
//
// When a correlation fires for a group with a window ending at f, it does
// not fire again for that group until a window that starts after f, i.e. for
// an evaluation at end > f+timespan. A later alert is thus built only from
// matches after f: consecutive alerts never share evidence, and a sustained
// burst raises at most one alert per timespan per group. The same holds for
// absence: after an unreviewed trigger at f, further unreviewed triggers of
// the group within timespan are not reported separately.
//
// # Chains and generate
//
// A rule of a correlation may name another correlation (by id or name). When
// the inner one fires, its alert is a match of it for the outer one, at the
// alert's end time, with the alert's evidence; the outer group-by fields are
// resolved first against the inner group (by group-by name) and then against
// the event that completed the inner alert. Cycles are errors.
//
// Following the specification's generate (default false), a correlation
// referred to by others alerts on its own only if one of them sets
// generate: true (or Options.IncludeIntermediate is set), and
// Engine.StandAlone tells the caller the same for Sigma rules.
//
// # Fields and aliases
//
// Match.Fields resolves field names from the event. For a match of rule R, a
// group-by (or condition) name that is an alias with an entry for R reads
// R's field; any other name is read as is. Engine.Fields lists the names
// read for a rule. A match lacking a group-by or condition field is ignored
// for that correlation (Stats.MissingFields): it is not grouped under an
// empty value.
//
// # Bounded state
//
// Each group keeps only the matches of its window (twice the timespan for
// absence, so late triggers still see their predecessors); a group whose
// newest match falls out of its window as the stream advances is dropped
// (Stats.Expired). The number of groups over all correlations is capped by
// Options.MaxGroups (default 100,000): a new group beyond it evicts the least
// recently touched one, counted by Engine.CapEvictions for a metric. An
// evicted group loses its matches and its deduplication state. The number of
// matches inside one group's window is not capped.
package correlate
