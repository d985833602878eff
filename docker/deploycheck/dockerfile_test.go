package deploycheck

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// TestDockerfile parses docker/Dockerfile with BuildKit's own parser (no Docker engine here)
// and checks what the issue asks of the image.
func TestDockerfile(t *testing.T) {
	f, err := os.Open(filepath.Join(dockerDir(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ast, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("Dockerfile does not parse: %v", err)
	}
	stages, _, err := instructions.Parse(ast.AST, nil)
	if err != nil {
		t.Fatalf("Dockerfile instructions: %v", err)
	}
	if len(stages) < 2 {
		t.Fatalf("%d stages, want a builder and a runtime stage", len(stages))
	}
	builder, runtime := stages[0], stages[len(stages)-1]

	t.Run("OKBuilder", func(t *testing.T) {
		var runs []string
		for _, c := range builder.Commands {
			if r, ok := c.(*instructions.RunCommand); ok {
				runs = append(runs, r.String()) // the whole line, flags such as --mount included
			}
		}
		all := strings.Join(runs, "\n")
		for _, want := range []string{"go mod download", "CGO_ENABLED=0", "-trimpath", "-X main.version=", "--mount=type=cache,target=/go/pkg/mod"} {
			if !strings.Contains(all, want) {
				t.Errorf("builder stage lacks %q:\n%s", want, all)
			}
		}
	})

	t.Run("OKRuntime", func(t *testing.T) {
		if !strings.HasPrefix(runtime.BaseName, "gcr.io/distroless/static") || !strings.HasSuffix(runtime.BaseName, ":nonroot") {
			t.Errorf("runtime base %q, want distroless static nonroot", runtime.BaseName)
		}
		var exposed []string
		var user, health, entrypoint string
		for _, c := range runtime.Commands {
			switch c := c.(type) {
			case *instructions.ExposeCommand:
				exposed = append(exposed, c.Ports...)
			case *instructions.UserCommand:
				user = c.User
			case *instructions.HealthCheckCommand:
				health = strings.Join(c.Health.Test, " ")
			case *instructions.EntrypointCommand:
				entrypoint = strings.Join(c.CmdLine, " ")
			}
		}
		for _, setting := range []string{"PORT", "ADMIN_PORT"} {
			if p := strconv.Itoa(defaultPort(t, setting)); !slices.Contains(exposed, p) {
				t.Errorf("EXPOSE %v lacks %s default %s", exposed, setting, p)
			}
		}
		if user == "" || user == "root" || strings.HasPrefix(user, "0") {
			t.Errorf("USER %q, want a non-root user", user)
		}
		// The image has no curl: the binary's own healthcheck subcommand asks /readyz.
		if health != "CMD /authapi healthcheck" || entrypoint != "/authapi" {
			t.Errorf("HEALTHCHECK %q, ENTRYPOINT %q", health, entrypoint)
		}
	})
}
