package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/example/authapi/config"
	"github.com/example/authapi/models"
)

// rowsFailed ends an import that ran but could not import every row: exit status 1, with the
// summary already printed as the last line.
type rowsFailed struct{ n int64 }

func (e rowsFailed) Error() string { return fmt.Sprintf("%d row(s) failed", e.n) }

// importTimeout bounds one import's statements: a million rows take well under a minute,
// a large table on a slow disk may take many.
const importTimeout = 2 * time.Hour

// usersImport runs `users import --from-postgres URL | --file PATH|- [--dry-run]`. Progress,
// each failed row and the summary go to stderr; the summary is the last line.
func (cli CLI) usersImport(ctx context.Context, cfg config.Config, args []string) error {
	fs := flag.NewFlagSet("users import", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fromPG := fs.String("from-postgres", "", "URL of the old service's database")
	file := fs.String("file", "", "JSON Lines file, - for stdin")
	dryRun := fs.Bool("dry-run", false, "report without writing")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return usageError{fmt.Sprintf("users import: bad arguments %q", strings.Join(args, " "))}
	}
	if (*fromPG == "") == (*file == "") {
		return usageError{"users import needs one of --from-postgres URL or --file PATH|-"}
	}

	// One connection, for as long as the import takes (DB_TIMEOUT is sized for requests).
	db := OpenDB(config.DB{URL: cfg.DB.URL, MaxConnections: 1, QueryTimeout: importTimeout})
	defer db.Close()
	progress := newImportProgress(cli.Stderr)

	var src models.ImportSource
	switch {
	case *fromPG != "":
		old := OpenDB(config.DB{URL: *fromPG, MaxConnections: 2, QueryTimeout: importTimeout})
		defer old.Close()
		pg, err := models.NewPostgresSource(ctx, old)
		if err != nil {
			return err
		}
		defer pg.Close()
		src = pg
		progress.total, progress.unit = pg.Total(), "rows"
	case *file == "-":
		stdin := cli.Stdin
		if stdin == nil {
			stdin = os.Stdin
		}
		src = models.NewJSONLSource(stdin)
	default:
		f, err := os.Open(*file)
		if err != nil {
			return fmt.Errorf("users import: %w", err)
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			progress.total, progress.unit = st.Size(), "bytes"
		}
		src = models.NewJSONLSource(progress.countBytes(f))
	}

	res, err := models.NewImporter(db, cfg.Limits.BcryptMaxCost).WithEvents(NewEventWriter(cfg, db)).Run(ctx, src, *dryRun, models.ImportObserver{
		Read: progress.read, Phase: progress.phase, Failed: progress.failed,
	})
	if err != nil {
		progress.clear()
		return err
	}
	if *dryRun {
		progress.line("dry run: nothing was written")
	}
	progress.line(fmt.Sprintf("done in %s", time.Since(progress.start).Round(100*time.Millisecond)))
	progress.line(fmt.Sprintf("imported %d, skipped %d, failed %d", res.Imported, res.Skipped, res.Failed))
	if res.Failed > 0 {
		return rowsFailed{res.Failed}
	}
	return nil
}

// importProgress writes the import's progress to w: a bar redrawn in place when w is a
// terminal, a plain line every few seconds otherwise (a log, a pipe, CI).
type importProgress struct {
	w     io.Writer
	tty   bool
	total int64  // 0: unknown (stdin)
	unit  string // what total counts: "rows" or "bytes"
	bytes atomic.Int64
	start time.Time

	mu    sync.Mutex
	rows  int64
	last  time.Time
	drawn bool // a bar is on the screen's last line
}

func newImportProgress(w io.Writer) *importProgress {
	f, ok := w.(*os.File)
	return &importProgress{w: w, tty: ok && isatty.IsTerminal(f.Fd()), start: time.Now()}
}

// countBytes counts what is read through r, for the bar of a file whose size is known.
func (p *importProgress) countBytes(r io.Reader) io.Reader { return countingReader{r, &p.bytes} }

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

func (p *importProgress) read(rows int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rows = rows
	every := 5 * time.Second
	if p.tty {
		every = 100 * time.Millisecond
	}
	if time.Since(p.last) < every {
		return
	}
	p.last = time.Now()
	done := rows
	if p.unit == "bytes" {
		done = p.bytes.Load()
	}
	elapsed := time.Since(p.start).Round(100 * time.Millisecond)
	if !p.tty {
		pct := ""
		if p.total > 0 {
			pct = fmt.Sprintf(" (%d%%)", 100*done/p.total)
		}
		fmt.Fprintf(p.w, "read %d rows%s in %s\n", rows, pct, elapsed)
		return
	}
	const width = 30
	if p.total > 0 {
		filled := int(min(width, width*done/p.total))
		fmt.Fprintf(p.w, "\r\033[K[%s%s] %3d%% %d rows %s", strings.Repeat("#", filled), strings.Repeat(".", width-filled),
			100*done/p.total, rows, elapsed)
	} else {
		fmt.Fprintf(p.w, "\r\033[K%d rows %s", rows, elapsed)
	}
	p.drawn = true
}

func (p *importProgress) phase(what string) {
	p.line(fmt.Sprintf("%s… (at %s)", what, time.Since(p.start).Round(100*time.Millisecond)))
}

func (p *importProgress) failed(f models.ImportFailure) {
	id := f.ID
	switch {
	case id == "":
		id = "(no id)"
	case strings.Trim(id, "0123456789abcdefABCDEF-") != "":
		id = strconv.Quote(id) // as given in a file: keep control characters off the terminal
	}
	p.line(fmt.Sprintf("failed %s (row %d): %s", id, f.Pos, f.Reason))
}

// line prints one whole line, under any bar, which the next read redraws.
func (p *importProgress) line(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
	fmt.Fprintln(p.w, s)
}

func (p *importProgress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
}

func (p *importProgress) clearLocked() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}
