package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// upsertUnnest writes n rows on PostgreSQL with one statement whose
// parameters are one text array per column, unnested and cast to the
// column types. Its text is the same for every batch size, so PostgreSQL
// parses and plans a few dozen parameters instead of one per value: for
// batches of a thousand rows, planning the multi-row VALUES cost more
// than writing the rows.
func (s *Store) upsertUnnest(ctx context.Context, tx *sqlx.Tx, table, columns, conflict string, n int, values func(int) []any) error {
	cols := strings.Split(columns, ", ")
	q, err := s.unnestSQL(ctx, tx, table, cols, conflict)
	if err != nil {
		return err
	}
	arrays := make([][]sql.NullString, len(cols))
	for j := range arrays {
		arrays[j] = make([]sql.NullString, 0, n)
	}
	for i := 0; i < n; i++ {
		for j, v := range values(i) {
			t, err := textValue(v)
			if err != nil {
				return fmt.Errorf("%s.%s: %w", table, cols[j], err)
			}
			arrays[j] = append(arrays[j], t)
		}
	}
	args := make([]any, len(cols))
	for j := range arrays {
		args[j] = pq.Array(arrays[j])
	}
	_, err = tx.ExecContext(ctx, q, args...)
	return err
}

// unnestSQL returns the statement for table, columns and conflict key,
// built once per store from the column types.
func (s *Store) unnestSQL(ctx context.Context, tx *sqlx.Tx, table string, cols []string, conflict string) (string, error) {
	key := table + "\x00" + strings.Join(cols, ",") + "\x00" + conflict
	if q, ok := s.unnest.Load(key); ok {
		return q.(string), nil
	}
	var rows []struct {
		Name string `db:"column_name"`
		Type string `db:"udt_name"`
	}
	if err := tx.SelectContext(ctx, &rows, "SELECT column_name, udt_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1", table); err != nil {
		return "", err
	}
	types := make(map[string]string, len(rows))
	for _, r := range rows {
		types[r.Name] = r.Type
	}
	var b strings.Builder
	b.WriteString("INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") SELECT * FROM unnest(")
	for j, c := range cols {
		t, ok := types[c]
		if !ok {
			return "", fmt.Errorf("table %s has no column %s", table, c)
		}
		if j > 0 {
			b.WriteString(", ")
		}
		b.WriteString("$" + strconv.Itoa(j+1) + "::text[]")
		if t != "text" {
			b.WriteString("::" + t + "[]")
		}
	}
	b.WriteString(")")
	b.WriteString(onConflict(cols, conflict))
	q := b.String()
	s.unnest.Store(key, q)
	return q, nil
}

// textValue renders a row value as PostgreSQL's text input for its column.
func textValue(v any) (sql.NullString, error) {
	switch v := v.(type) {
	case string:
		return sql.NullString{String: v, Valid: true}, nil
	case int:
		return sql.NullString{String: strconv.Itoa(v), Valid: true}, nil
	case int64:
		return sql.NullString{String: strconv.FormatInt(v, 10), Valid: true}, nil
	case sql.NullInt64:
		return sql.NullString{String: strconv.FormatInt(v.Int64, 10), Valid: v.Valid}, nil
	case bool:
		return sql.NullString{String: strconv.FormatBool(v), Valid: true}, nil
	case nil:
		return sql.NullString{}, nil
	}
	return sql.NullString{}, fmt.Errorf("no text form for %T", v)
}
