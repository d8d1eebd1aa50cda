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
	e.Register(classify.KindSQL, func(a *classify.Action) (map[string]any, error) {
		r, err := sqlclass.Classify(a.SQL)
		if err != nil {
			return nil, err
		}
		return r.Attrs(), nil
	})
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
