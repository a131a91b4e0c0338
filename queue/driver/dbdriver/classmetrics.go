package dbdriver

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tripintravel/tripin/queue/driver"
	"github.com/tripintravel/tripin/queue/sqldb"
)

// classMetricSums are job_class_metrics' columns that add up when two
// points of the same key meet; max_wait_ms takes the larger value.
var classMetricSums = func() []string {
	cols := []string{"processed", "failed", "runtime_us", "wait_ms"}
	for i := range driver.RuntimeBuckets {
		cols = append(cols, fmt.Sprintf("runtime_b%02d", i))
	}
	return cols
}()

// classMetricCols are job_class_metrics' columns in the order the
// statements below write and read them.
var classMetricCols = append([]string{"kind", "queue", "period_seconds", "period_start", "max_wait_ms"}, classMetricSums...)

// classMetricUpsert is the upsert's tail in the dialect: sums add up,
// max_wait_ms is raised.
func (b *Base) classMetricUpsert() string {
	var set []string
	switch b.d() {
	case sqldb.MySQL:
		for _, c := range classMetricSums {
			set = append(set, c+" = "+c+" + VALUES("+c+")")
		}
		set = append(set, "max_wait_ms = GREATEST(max_wait_ms, VALUES(max_wait_ms))")
		return " ON DUPLICATE KEY UPDATE " + strings.Join(set, ", ")
	default:
		greatest := "GREATEST"
		if b.d() == sqldb.SQLite {
			greatest = "MAX"
		}
		for _, c := range classMetricSums {
			set = append(set, c+" = job_class_metrics."+c+" + excluded."+c)
		}
		set = append(set, "max_wait_ms = "+greatest+"(job_class_metrics.max_wait_ms, excluded.max_wait_ms)")
		return " ON CONFLICT (kind, queue, period_seconds, period_start) DO UPDATE SET " + strings.Join(set, ", ")
	}
}

// classMetricArgs are m's values in classMetricCols' order, for a point of
// span seconds starting at start.
func classMetricArgs(m *driver.JobClassMetric, span, start int64) []any {
	args := []any{m.Kind, m.Queue, span, start, m.MaxWaitMS, m.Processed, m.Failed, m.RuntimeUS, m.WaitMS}
	for _, c := range m.Runtime {
		args = append(args, c)
	}
	return args
}

// JobClassMetricsRecord adds minute points to job_class_metrics, in one
// transaction, in key order so that two workers flushing at once take the
// rows' locks in the same order.
func (b *Base) JobClassMetricsRecord(ctx context.Context, points []*driver.JobClassMetric) error {
	if len(points) == 0 {
		return nil
	}
	sorted := slices.Clone(points)
	slices.SortFunc(sorted, func(x, y *driver.JobClassMetric) int {
		return cmp.Or(cmp.Compare(x.Kind, y.Kind), cmp.Compare(x.Queue, y.Queue), x.Start.Compare(y.Start))
	})
	query := b.q("INSERT INTO job_class_metrics (" + strings.Join(classMetricCols, ", ") + ") VALUES (" +
		placeholders(len(classMetricCols)) + ")" + b.classMetricUpsert())
	err := b.DB.InTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, query)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, m := range sorted {
			start := m.Start.Unix() - m.Start.Unix()%60
			if _, err := stmt.ExecContext(ctx, classMetricArgs(m, 60, start)...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("queue: record job class metrics: %w", err)
	}
	return nil
}

// JobClassMetricsList returns the minutes and hours that start at or after
// p.Since, oldest first.
func (b *Base) JobClassMetricsList(ctx context.Context, p *driver.JobClassMetricsListParams) ([]*driver.JobClassMetric, error) {
	if p == nil {
		p = &driver.JobClassMetricsListParams{}
	}
	query := "SELECT " + strings.Join(classMetricCols, ", ") + " FROM job_class_metrics WHERE period_start >= ?"
	args := []any{int64(0)}
	if !p.Since.IsZero() {
		args[0] = p.Since.Unix() - p.Since.Unix()%60
	}
	if p.Kind != "" {
		query += " AND kind = ?"
		args = append(args, p.Kind)
	}
	if p.Queue != "" {
		query += " AND queue = ?"
		args = append(args, p.Queue)
	}
	query += " ORDER BY period_start, kind, queue, period_seconds"
	rows, err := b.reader().QueryContext(ctx, b.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("queue: list job class metrics: %w", err)
	}
	defer rows.Close()
	var out []*driver.JobClassMetric
	for rows.Next() {
		var m driver.JobClassMetric
		var span, start int64
		dest := []any{&m.Kind, &m.Queue, &span, &start, &m.MaxWaitMS, &m.Processed, &m.Failed, &m.RuntimeUS, &m.WaitMS}
		for i := range m.Runtime {
			dest = append(dest, &m.Runtime[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("queue: list job class metrics: %w", err)
		}
		m.Start, m.Span = unixTime(start), time.Duration(span)*time.Second
		out = append(out, &m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("queue: list job class metrics: %w", err)
	}
	return out, nil
}

// JobClassMetricsRollup merges the minutes of each hour that ended more
// than p.OlderThan ago into one hour point per job class and queue, oldest
// hour first, each hour in one short transaction that adds the hour's
// point (to one already there, if minutes came late) and deletes its
// minutes. On MySQL and PostgreSQL the minutes are locked first, so that
// two rollups at once cannot both add the same minutes.
func (b *Base) JobClassMetricsRollup(ctx context.Context, p *driver.JobClassMetricsRollupParams) (int, error) {
	if p == nil {
		return 0, errors.New("queue: roll up job class metrics: no params")
	}
	at, err := b.cutoff(ctx, p.OlderThan)
	if err != nil {
		return 0, fmt.Errorf("queue: roll up job class metrics: %w", err)
	}
	cut := at.Unix() - at.Unix()%3600
	first := b.q("SELECT MIN(period_start) FROM job_class_metrics WHERE period_seconds = 60 AND period_start < ?")
	sums := make([]string, len(classMetricSums))
	for i, c := range classMetricSums {
		sums[i] = "SUM(" + c + ")"
	}
	merge := b.q("INSERT INTO job_class_metrics (" + strings.Join(classMetricCols, ", ") + ")" +
		" SELECT kind, queue, 3600, MIN(period_start) - MIN(period_start) % 3600, MAX(max_wait_ms), " + strings.Join(sums, ", ") +
		" FROM job_class_metrics WHERE period_seconds = 60 AND period_start >= ? AND period_start < ?" +
		" GROUP BY kind, queue" + b.classMetricUpsert())
	lock := b.q("SELECT kind FROM job_class_metrics WHERE period_seconds = 60 AND period_start >= ? AND period_start < ? FOR UPDATE")
	del := b.q("DELETE FROM job_class_metrics WHERE period_seconds = 60 AND period_start >= ? AND period_start < ?")
	total := 0
	for {
		var oldest sql.NullInt64
		// Read on the writer, which sees what the last transaction deleted.
		if err := b.DB.QueryRowContext(ctx, first, cut).Scan(&oldest); err != nil {
			return total, fmt.Errorf("queue: roll up job class metrics: %w", err)
		}
		if !oldest.Valid {
			return total, nil
		}
		hour := oldest.Int64 - oldest.Int64%3600
		var n int64
		err := b.DB.InTx(ctx, func(tx *sql.Tx) error {
			if b.d() != sqldb.SQLite {
				rows, err := tx.QueryContext(ctx, lock, hour, hour+3600)
				if err != nil {
					return err
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, merge, hour, hour+3600); err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, del, hour, hour+3600)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("queue: roll up job class metrics: %w", err)
		}
		total += int(n)
	}
}

// JobClassMetricsPrune deletes the minutes and hours that started more
// than olderThan ago.
func (b *Base) JobClassMetricsPrune(ctx context.Context, olderThan time.Duration) (int, error) {
	at, err := b.cutoff(ctx, olderThan)
	if err != nil {
		return 0, fmt.Errorf("queue: prune job class metrics: %w", err)
	}
	n, err := b.exec(ctx, "DELETE FROM job_class_metrics WHERE period_start < ?", at.Unix())
	if err != nil {
		return 0, fmt.Errorf("queue: prune job class metrics: %w", err)
	}
	return n, nil
}
