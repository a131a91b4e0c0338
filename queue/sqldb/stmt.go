package sqldb

import (
	"context"
	"database/sql"
	"sync"
)

// stmtKey names a statement prepared on one pool.
type stmtKey struct {
	pool  *sql.DB
	query string
}

// preparedStmts caches statements of the booking hot path on SQLite, where
// modernc.org/sqlite parses and plans every unprepared statement again
// (tens of microseconds) and, on the single writer, every other booking
// waits for that. PostgreSQL's pgx caches statements itself and MySQL
// interpolates parameters client-side, so they do without.
var preparedStmts sync.Map // stmtKey → *sql.Stmt, or false while preparing

// cachedStmt returns query prepared on pool, or nil while it is not
// prepared yet. It never prepares inline: on the writer pool that would
// wait for the connection the caller's own transaction holds. Instead the
// first caller starts preparing in the background, which takes the
// connection between two transactions.
func (db *DB) cachedStmt(pool *sql.DB, query string) *sql.Stmt {
	if db.Dialect != SQLite {
		return nil
	}
	k := stmtKey{pool, query}
	if v, ok := preparedStmts.Load(k); ok {
		st, _ := v.(*sql.Stmt)
		return st
	}
	if _, loaded := preparedStmts.LoadOrStore(k, false); !loaded {
		go func() {
			st, err := pool.PrepareContext(context.Background(), query)
			if err != nil {
				preparedStmts.Delete(k)
				return
			}
			preparedStmts.Store(k, st)
		}()
	}
	return nil
}

// TxExec runs a statement in tx, prepared once where that pays.
func (db *DB) TxExec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	if st := db.cachedStmt(db.DB, query); st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, db.Rebind(query), args...)
}

// TxQueryRow runs a one-row query in tx, prepared once where that pays.
func (db *DB) TxQueryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	if st := db.cachedStmt(db.DB, query); st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, db.Rebind(query), args...)
}

// TxQuery runs a query in tx, prepared once per process on SQLite (as
// TxExec does), so that the queue driver's small inserts inside a
// booking's transaction are not parsed and planned again each time. The
// query uses ? placeholders.
func (db *DB) TxQuery(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	if st := db.cachedStmt(db.DB, query); st != nil {
		return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return tx.QueryContext(ctx, db.Rebind(query), args...)
}

// ReadQueryRow runs a one-row query on the read pool, prepared once where
// that pays.
func (db *DB) ReadQueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := db.cachedStmt(db.Read, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return db.Read.QueryRowContext(ctx, db.Rebind(query), args...)
}
