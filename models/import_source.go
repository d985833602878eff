package models

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/driver/pgdriver"
)

// maxImportLine bounds one line of a JSON Lines file; a longer line is a failed row.
const maxImportLine = 64 << 10

// JSONLSource reads JSON Lines, one object per line with the old table's five fields:
// {"id","email","password_hash","created_at","status"}. Blank lines are ignored; a line that
// is not such an object is a row that fails, not an error.
type JSONLSource struct {
	r   *bufio.Reader
	pos int64
}

// NewJSONLSource returns a source reading r.
func NewJSONLSource(r io.Reader) *JSONLSource {
	return &JSONLSource{r: bufio.NewReaderSize(r, maxImportLine)}
}

type jsonlRow struct {
	ID           *string `json:"id"`
	Email        *string `json:"email"`
	PasswordHash *string `json:"password_hash"`
	CreatedAt    *string `json:"created_at"`
	Status       *string `json:"status"`
}

// Next returns the next non-blank line as a row.
func (s *JSONLSource) Next() (ImportRow, error) {
	for {
		line, tooLong, err := s.line()
		if err != nil {
			return ImportRow{}, err
		}
		s.pos++
		row := ImportRow{Pos: s.pos}
		if tooLong {
			row.Unreadable = fmt.Sprintf("line longer than %d bytes", maxImportLine)
			return row, nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		var v jsonlRow
		if err := json.Unmarshal(line, &v); err != nil {
			// Name the row by its id if that much can be read.
			var idOnly struct {
				ID string `json:"id"`
			}
			_ = json.Unmarshal(line, &idOnly)
			row.ID = truncate(idOnly.ID, 40)
			row.Unreadable = "not a JSON object of string fields"
			return row, nil //nolint:nilerr // an unreadable line is a failed row, reported, not an error of the stream
		}
		fields := [...]struct {
			name string
			v    **string
		}{{"id", &v.ID}, {"email", &v.Email}, {"password_hash", &v.PasswordHash}, {"created_at", &v.CreatedAt}, {"status", &v.Status}}
		for _, f := range fields {
			if *f.v == nil {
				if row.Unreadable == "" {
					row.Unreadable = fmt.Sprintf("field %q missing or null", f.name)
				}
				*f.v = new(string)
			}
		}
		row.ID, row.Email, row.PasswordHash, row.CreatedAt, row.Status = *v.ID, *v.Email, *v.PasswordHash, *v.CreatedAt, *v.Status
		return row, nil
	}
}

// line returns the next line without its newline; a line over the buffer is skipped to its end
// and reported as too long. It returns io.EOF only when no line is left.
func (s *JSONLSource) line() ([]byte, bool, error) {
	line, err := s.r.ReadSlice('\n')
	switch {
	case err == nil:
		return line, false, nil
	case errors.Is(err, bufio.ErrBufferFull):
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = s.r.ReadSlice('\n')
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, false, err
		}
		return nil, true, nil
	case errors.Is(err, io.EOF) && len(line) > 0:
		return line, false, nil // the last line has no newline
	}
	return nil, false, err
}

// PostgresSource reads the old service's users table with one COPY … TO STDOUT (CSV), so the
// rows are one consistent snapshot and arrive as a stream.
type PostgresSource struct {
	total  int64
	rows   *csv.Reader
	pipe   *io.PipeReader
	done   chan error
	cancel context.CancelFunc
	pos    int64
	ended  bool
}

// oldUsersCopySQL selects the old table's five columns. Timestamps print in UTC, ISO style,
// which parseImportTime reads.
const oldUsersCopySQL = `COPY (SELECT id, email, password_hash, created_at, status FROM users) TO STDOUT WITH (FORMAT csv)`

// NewPostgresSource counts the old table's rows (for progress) and starts copying them out of
// db. Close it when done.
func NewPostgresSource(ctx context.Context, db *bun.DB) (*PostgresSource, error) {
	ctx, cancel := context.WithCancel(ctx)
	conn, err := db.Conn(ctx)
	if err != nil {
		cancel()
		return nil, Unavailable("old postgres", err)
	}
	s := &PostgresSource{done: make(chan error, 1), cancel: cancel}
	for _, q := range []string{"SET TimeZone = 'UTC'", "SET DateStyle = 'ISO, YMD'"} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			conn.Close()
			cancel()
			return nil, fmt.Errorf("old database: %w", err)
		}
	}
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&s.total); err != nil {
		conn.Close()
		cancel()
		return nil, fmt.Errorf("old database: count users: %w", err)
	}
	pr, pw := io.Pipe()
	go func() {
		defer conn.Close()
		_, err := pgdriver.CopyTo(ctx, conn, pw, oldUsersCopySQL)
		pw.CloseWithError(err) // nil: the reader sees io.EOF
		s.done <- err
	}()
	s.pipe = pr
	s.rows = csv.NewReader(bufio.NewReaderSize(pr, 64<<10))
	s.rows.FieldsPerRecord = 5
	s.rows.ReuseRecord = true
	return s, nil
}

// Total is the number of rows in the old table when the import started.
func (s *PostgresSource) Total() int64 { return s.total }

// Next returns the next row of the old table.
func (s *PostgresSource) Next() (ImportRow, error) {
	if s.ended {
		return ImportRow{}, io.EOF
	}
	rec, err := s.rows.Read()
	if errors.Is(err, io.EOF) {
		s.ended = true
		if copyErr := <-s.done; copyErr != nil {
			return ImportRow{}, fmt.Errorf("old database: %w", copyErr)
		}
		return ImportRow{}, io.EOF
	}
	if err != nil {
		return ImportRow{}, fmt.Errorf("old database: %w", err)
	}
	s.pos++
	return ImportRow{Pos: s.pos, ID: rec[0], Email: rec[1], PasswordHash: rec[2], CreatedAt: rec[3], Status: rec[4]}, nil
}

// Close stops the copy if it is still running.
func (s *PostgresSource) Close() error {
	s.cancel()
	_ = s.pipe.Close() // a COPY still writing gets an error instead of blocking
	return nil
}
