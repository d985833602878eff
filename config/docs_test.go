package config

import (
	"flag"
	"os"
	"strings"
	"testing"
)

// update rewrites the generated blocks instead of checking them: `just config-docs`.
var update = flag.Bool("update", false, "rewrite the settings blocks generated from Settings")

// settingsDocs are the files with a block generated from Settings, and how each block is made.
// The block sits between the begin and end marker lines; the rest of each file is hand-written.
var settingsDocs = []struct {
	path, begin, end string
	render           func() string
}{
	{"README.md", "<!-- settings:begin -->", "<!-- settings:end -->", markdownTable},
	{"../.env.example", "# settings:begin", "# settings:end", envExample},
}

// markdownTable is the configuration table: variable, default, meaning.
func markdownTable() string {
	var b strings.Builder
	b.WriteString("| variable | default | meaning |\n|---|---|---|\n")
	for _, s := range Settings {
		def := "(none)"
		if s.Default != "" {
			def = "`" + s.Default + "`"
		}
		help := strings.ReplaceAll(s.Help, "|", `\|`)
		b.WriteString("| `" + s.Name + "` | " + def + " | " + help + " |\n")
	}
	return b.String()
}

// envExample lists every variable commented out at its default, so a copy of the file changes
// nothing until a line is uncommented.
func envExample() string {
	var b strings.Builder
	for _, s := range Settings {
		b.WriteString("# " + s.Help + "\n# " + s.Name + "=" + s.Default + "\n")
	}
	return b.String()
}

// TestSettingsDocs fails when a generated block drifts from Settings; with -update it rewrites
// the blocks (`just config-docs`).
func TestSettingsDocs(t *testing.T) {
	for _, doc := range settingsDocs {
		raw, err := os.ReadFile(doc.path)
		if err != nil {
			t.Fatal(err)
		}
		text := string(raw)
		head, rest, ok1 := strings.Cut(text, doc.begin+"\n")
		_, tail, ok2 := strings.Cut(rest, doc.end+"\n")
		if !ok1 || !ok2 {
			t.Fatalf("%s: no %q ... %q block", doc.path, doc.begin, doc.end)
		}
		want := head + doc.begin + "\n" + doc.render() + doc.end + "\n" + tail
		if want == text {
			continue
		}
		if !*update {
			t.Errorf("%s is out of step with config/settings.go: run `just config-docs` and commit the result", doc.path)
			continue
		}
		if err := os.WriteFile(doc.path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
