package policy

import (
	"github.com/vigil-audit/vigil/internal/classify"
	awsclass "github.com/vigil-audit/vigil/internal/classify/aws"
	kubeclass "github.com/vigil-audit/vigil/internal/classify/kube"
	shellclass "github.com/vigil-audit/vigil/internal/classify/shell"
	sqlclass "github.com/vigil-audit/vigil/internal/classify/sql"
	tfclass "github.com/vigil-audit/vigil/internal/classify/tfplan"
)

// RegisterClassifiers registers Vigil's real parsers with e: the PostgreSQL
// parser for kind sql, the shell parser (mvdan.cc/sh) for kind shell, and
// the decoders of admission requests (kubernetes), CloudTrail-shaped records
// (aws) and Terraform plan JSON (terraform).
func RegisterClassifiers(e *Engine) {
	e.Register(classify.KindShell, func(a *classify.Action) (map[string]any, error) {
		r, err := shellclass.Classify(a.Command)
		if err != nil {
			return nil, err
		}
		return classify.Attrs(r), nil
	})
	e.RegisterShaped(classify.KindSQL, sqlShape, sqlClassifyShaped)
	e.Register(classify.KindKubernetes, func(a *classify.Action) (map[string]any, error) {
		r, err := kubeclass.Classify(a.Kubernetes)
		if err != nil {
			return nil, err
		}
		return classify.Attrs(r), nil
	})
	e.Register(classify.KindAWS, func(a *classify.Action) (map[string]any, error) {
		r, err := awsclass.Classify(a.AWS)
		if err != nil {
			return nil, err
		}
		return classify.Attrs(r), nil
	})
	e.Register(classify.KindTerraform, func(a *classify.Action) (map[string]any, error) {
		r, err := tfclass.Classify(a.TerraformPlan)
		if err != nil {
			return nil, err
		}
		return classify.Attrs(r), nil
	})
}

// sqlShape is the SQL shape key: the text as PostgreSQL's scanner reads it,
// constants left out (sqlclass.ScanShape).
func sqlShape(a *classify.Action) (string, any, bool) {
	sh := sqlclass.ScanShape(a.SQL)
	if sh == nil {
		return "", nil, false
	}
	return sh.Key, sh, true
}

// sqlClassifyShaped classifies SQL; shared is the classifier's proof that
// the attributes hold for every text of the shape (sqlclass.ClassifyShaped).
func sqlClassifyShaped(a *classify.Action, state any) (map[string]any, bool, error) {
	sh, _ := state.(*sqlclass.Shape)
	r, shared, err := sqlclass.ClassifyShaped(a.SQL, sh)
	if err != nil {
		return nil, false, err
	}
	return r.Attrs(), shared, nil
}
