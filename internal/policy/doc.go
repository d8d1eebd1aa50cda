// Package policy decides on Actions: it loads rules (YAML with CEL
// expressions), compiles and type-checks them at load, evaluates them against
// an Action and its classifier attributes, and returns a Decision that
// explains itself. It also runs the rules' inline tests. The built-in rule
// packs live in the subpackage builtin.
//
// # Rule files
//
// A rule file is one YAML document with a "rules" list:
//
//	rules:
//	  - id: sql.drop                  # unique across every loaded file
//	    description: Every DROP statement.
//	    match: sql.statements.exists(s, s.command.startsWith("DROP"))   # CEL, must be bool
//	    environments: [production]    # optional scope: the rule applies only
//	    connections: [prod-db]        #   when the action's environment, connection
//	    roles: [developer]            #   and one of the actor's roles are listed
//	    effect: deny                  # allow | deny | review | alert | log
//	    severity: critical            # info | low | medium | high | critical (default medium)
//	    message: DROP is denied.      # default: description, then id
//	    except: actor.user == "dba"   # CEL bool, or a list of tuples:
//	    # except:
//	    #   - {field: actor.user, values: [deployer]}
//	    #   - {field: actor.roles, values: [dba]}   # a list field: holds one of values
//	    mode: enforce                 # enforce (default) | dry-run
//	    tests:
//	      - name: drop table
//	        input: {kind: sql, environment: production, actor: {user: alice}, sql: "DROP TABLE t"}
//	        attrs: {statements: [{command: DROP TABLE}]}   # optional: skip the classifier
//	        expect: {effect: deny, rule: sql.drop}          # rule: must be among the matched
//
// Unknown keys, wrong types, unknown effects, duplicate ids, CEL that does not
// parse or type-check, a match or except that is not bool: all are errors
// naming the file and line (of the match or except key for CEL), and Load
// reports every one of them.
//
// Tuples in except are Falco-style exceptions: each is {field, values}; the
// rule does not apply when any tuple holds, that is when the field's value is
// one of values (or, for a list such as actor.roles, contains one of them).
// They are compiled to CEL and type-checked like the rest.
//
// # CEL environment
//
// Variables:
//
//	action       the Action: kind, actor{user, roles, groups}, connection,
//	             environment, sql, command, and kubernetes, aws, terraform_plan
//	             (decoded JSON; an empty map when absent)
//	actor        action.actor
//	kind         action.kind ("sql", "shell", "kubernetes", "aws", "terraform")
//	environment  action.environment
//	connection   action.connection
//	sql, shell, k8s, aws, tf
//	             map(string, dyn): the classifier attributes of the action's
//	             kind (sql for kind sql, k8s for kubernetes, tf for terraform);
//	             an empty map for the other kinds
//
// action and actor are typed objects, so a misspelt field (actor.usr) is a
// load error. The classifier maps are dyn: read optional attributes with the
// optional syntax, sql.?privilege_escalation.orValue([]), or has().
//
// Functions: the CEL standard library; optional types; the cel-go extension
// libraries strings (lowerAscii, upperAscii, split, ...), lists, sets
// (sets.contains, sets.intersects) and network (ip, cidr, isIP, isCIDR,
// cidr(c).containsIP(...)); and
//
//	glob(path, pattern) bool         path.Match per "/" segment; a "**" segment
//	                                 matches any number of segments:
//	                                 glob("/var/lib/postgresql/15/main", "/var/lib/postgresql/**")
//	cidrContains(cidr, addr) bool    addr is an IP or a CIDR inside cidr:
//	                                 cidrContains("10.0.0.0/8", "10.1.2.3");
//	                                 a malformed addr is false, a malformed cidr an error
//
// # Which rules run
//
// A rule whose match refers to classifier variables applies only to actions
// of those kinds (a rule reading sql is never evaluated for a shell command);
// a rule that refers to none applies to every kind. Then the scope
// (environments, connections, roles) is checked, then match, then except.
//
// A fixture file is a YAML document with a top-level "tests" list (rules
// optional): tests of no one rule, decided by every rule loaded, run after
// the inline ones.
//
// # Decision
//
// Precedence: deny > review > allow. Alert and log rules are reported in
// Decision.Rules but never change the effect; neither do dry-run rules, which
// are reported with the effect they would have had and dry_run: true. When no
// enforced allow, deny or review rule matches, the Defaults decide: the
// connection's default, else the environment's, else the fallback, else allow.
// An action naming a connection of Defaults.ConnectionEnvironment is decided
// in that connection's environment.
//
// # Evaluation errors
//
// Expressions are type-checked at load, but dyn data can still fail at run
// time (a key missing from a map, a bad glob pattern). Such an error fails
// closed for deny, review, alert and log rules: the rule counts as matched (an
// except that fails counts as not excepting), and the error is appended to its
// RuleResult message. It fails open for allow rules: an allow rule that cannot
// be evaluated does not match. So an evaluation error can only make a
// decision stricter, never let through what another rule or a default would
// stop; the price is that a carelessly written deny rule can deny actions it
// was not meant for, which its inline tests should catch.
package policy
