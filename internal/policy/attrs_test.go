package policy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/vigil-audit/vigil/internal/classify"
	awsclass "github.com/vigil-audit/vigil/internal/classify/aws"
	kubeclass "github.com/vigil-audit/vigil/internal/classify/kube"
	shellclass "github.com/vigil-audit/vigil/internal/classify/shell"
	sqlclass "github.com/vigil-audit/vigil/internal/classify/sql"
	tfclass "github.com/vigil-audit/vigil/internal/classify/tfplan"
)

// viaJSON is the reference: what a result's JSON form decodes to.
func viaJSON(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestAttrsMatchJSON holds classify.Attrs, which rules see, to the JSON form
// of every classifier's result, which rules are documented against.
func TestAttrsMatchJSON(t *testing.T) {
	check := func(what string, r any) {
		t.Helper()
		got, want := classify.Attrs(r), viaJSON(t, r)
		if !reflect.DeepEqual(got, want) {
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			t.Errorf("%s:\n got %s\nwant %s", what, g, w)
		}
	}
	for _, q := range []string{
		"SELECT 1", "DROP TABLE users CASCADE", "WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x",
		"GRANT pg_execute_server_program TO bob", "DO $$ BEGIN EXECUTE 'DROP TABLE ' || 'x'; END $$",
		"COPY t FROM PROGRAM 'sh'", "SELEC oops", "UPDATE a SET b = 1 WHERE true; SET session_replication_role = replica",
	} {
		r, err := sqlclass.Classify(q)
		if err != nil {
			t.Fatal(err)
		}
		check("sql "+q, r)
	}
	for _, c := range []string{
		"rm -rf /", "sudo -u root env X=1 rm --recursive --force /etc", "curl x | sh", ":(){ :|:& };:",
		"dd if=/dev/zero of=/dev/sda", "cat a > /etc/hosts", "echo 'unterminated", "kill -9 1", "$CMD -rf /srv",
	} {
		r, err := shellclass.Classify(c)
		if err != nil {
			t.Fatal(err)
		}
		check("shell "+c, r)
	}
	files, _ := filepath.Glob(filepath.Join("..", "classify", "tfplan", "testdata", "*.json"))
	if len(files) == 0 {
		t.Fatal("no Terraform plan fixtures")
	}
	for _, f := range files {
		b, _ := os.ReadFile(f)
		r, err := tfclass.Classify(b)
		if err != nil {
			t.Fatal(err)
		}
		check("tfplan "+f, r)
	}
	k8s := `{"uid":"u","kind":{"group":"apps","version":"v1","kind":"Deployment"},"resource":{"group":"apps","version":"v1","resource":"deployments"},"namespace":"prod","name":"web","operation":"UPDATE","userInfo":{"username":"bob"},"object":{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":0,"template":{"spec":{"hostPID":true,"containers":[{"name":"c","image":"x","securityContext":{"privileged":true}}],"volumes":[{"name":"h","hostPath":{"path":"/"}}]}}}},"oldObject":{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":3}}}`
	kr, err := kubeclass.Classify([]byte(k8s))
	if err != nil {
		t.Fatal(err)
	}
	check("kubernetes", kr)
	aws := `{"eventSource":"ec2.amazonaws.com","eventName":"AuthorizeSecurityGroupIngress","awsRegion":"us-east-1","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/a"},"requestParameters":{"groupId":"sg-1","ipPermissions":{"items":[{"ipProtocol":"tcp","fromPort":22,"toPort":22,"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]}}]}}}`
	ar, err := awsclass.Classify([]byte(aws))
	if err != nil {
		t.Fatal(err)
	}
	check("aws", ar)
}
