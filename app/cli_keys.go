package app

import (
	"fmt"

	"github.com/example/authapi/models"
)

const keysUsage = `usage: authapi keys generate

Prints a new Ed25519 signing key (PKCS#8 PEM) for JWT_SIGNING_KEYS_FILE (JWT_ALG=EdDSA). To rotate
without logging anyone out: add the new key second in the file and deploy (it verifies, and is
listed by /.well-known/jwks.json); once verifiers have fetched it (max-age 300 s), move it first
and deploy (it signs); drop the old key once its last token has expired (JWT_EXPIRY_HOURS).
Reads no configuration.
`

// keys runs `keys generate`. It needs no configuration, like --help.
func (cli CLI) keys(args []string) error {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprint(cli.Stdout, keysUsage)
		return nil
	}
	if len(args) != 1 || args[0] != "generate" {
		return usageError{"keys takes one command: generate"}
	}
	pem, err := models.GenerateSigningKeyPEM()
	if err != nil {
		return err
	}
	_, err = cli.Stdout.Write(pem)
	return err
}
