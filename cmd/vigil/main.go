// Command vigil is the Vigil audit-first access gateway. All logic lives in
// internal packages; this only hands the arguments to the CLI.
package main

import (
	"context"
	"os"

	"github.com/vigil-audit/vigil/internal/cli"
)

func main() {
	os.Exit(cli.Stdio(context.Background()))
}
