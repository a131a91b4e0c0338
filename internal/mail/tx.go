package mail

import (
	"context"
	"database/sql"
)

type txKey struct{}

// ContextWithTx returns a context carrying tx, the transaction an email job
// is dispatched in. The dispatch functions attach it.
//
// It matters only with QUEUE_CONNECTION=sync, where InsertTx runs the job
// at once, inside the dispatching transaction and before it commits: the
// booking the job needs exists only in that transaction, and on SQLite
// another connection would wait for it forever. With a real queue the job
// runs later, in a worker, and its context carries no transaction.
func ContextWithTx(ctx context.Context, tx *sql.Tx) context.Context {
	if tx == nil {
		return ctx
	}
	return context.WithValue(ctx, txKey{}, tx)
}

// TxFromContext returns the dispatching transaction of a job run inline
// (see ContextWithTx). BookingLoader implementations read through it when
// it is there.
func TxFromContext(ctx context.Context) (*sql.Tx, bool) {
	tx, ok := ctx.Value(txKey{}).(*sql.Tx)
	return tx, ok && tx != nil
}
