package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/tripintravel/tripin/internal/booking"
)

// TokenCreate stores a new API token's SHA-256 hash (never the token),
// which authenticates until expiresAt (never, when zero).
func (db *DB) TokenCreate(ctx context.Context, userID int64, name, hash string, now, expiresAt time.Time) error {
	const q = `INSERT INTO personal_access_tokens (tokenable_type, tokenable_id, name, token, expires_at, created_at, updated_at)
VALUES ('users', ?, ?, ?, ?, ?, ?)`
	var exp any
	if !expiresAt.IsZero() {
		exp = expiresAt.UTC()
	}
	if _, err := db.ExecContext(ctx, db.Rebind(q), userID, name, hash, exp, now, now); err != nil {
		return fmt.Errorf("store: create token: %w", err)
	}
	return nil
}

// TokenUser returns the user owning the token with this hash, if it has
// not expired by now. A token without an expiry (issued before tokens had
// one) authenticates only if it was created after issuedAfter: the token
// lifetime applies to it too. It only reads: last_used_at is not touched
// per request, so that authenticating never needs the (on SQLite, single)
// writer.
func (db *DB) TokenUser(ctx context.Context, hash string, now, issuedAfter time.Time) (*booking.User, error) {
	const q = `SELECT u.id, u.name, u.email, u.password, u.is_admin, u.created_at, u.updated_at
FROM personal_access_tokens t JOIN users u ON u.id = t.tokenable_id
WHERE t.token = ? AND t.tokenable_type = 'users'
  AND (t.expires_at > ? OR (t.expires_at IS NULL AND t.created_at > ?))`
	u, err := scanUser(db.readQueryRow(ctx, q, hash, now.UTC(), issuedAfter.UTC()))
	return u, userErr(err)
}

// TokenDelete revokes the token with this hash. Revoking an unknown token
// is not an error.
func (db *DB) TokenDelete(ctx context.Context, hash string) error {
	if _, err := db.ExecContext(ctx, db.Rebind(`DELETE FROM personal_access_tokens WHERE token = ?`), hash); err != nil {
		return fmt.Errorf("store: delete token: %w", err)
	}
	return nil
}

// TokenDeleteUser revokes every token of a user (API and dashboard) and
// returns how many there were.
func (db *DB) TokenDeleteUser(ctx context.Context, userID int64) (int64, error) {
	var n int64
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = tokenDeleteUserTx(ctx, db, tx, userID)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: delete tokens: %w", err)
	}
	return n, nil
}

func tokenDeleteUserTx(ctx context.Context, db *DB, tx *sql.Tx, userID int64) (int64, error) {
	res, err := tx.ExecContext(ctx, db.Rebind(`DELETE FROM personal_access_tokens WHERE tokenable_type = 'users' AND tokenable_id = ?`), userID)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// UserSetPassword stores a user's new password hash and revokes every
// token of the user, in one transaction: whoever held a token before the
// change holds nothing after it.
func (db *DB) UserSetPassword(ctx context.Context, userID int64, hash string, now time.Time) error {
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.Rebind(`UPDATE users SET password = ?, updated_at = ? WHERE id = ?`), hash, now, userID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			return userErr(sql.ErrNoRows)
		}
		_, err = tokenDeleteUserTx(ctx, db, tx, userID)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set password: %w", err)
	}
	return nil
}

// TokenPruneUnexpiring deletes the tokens without an expiry (issued
// before tokens had one) created before p.Before. They no longer
// authenticate once the token lifetime has passed (TokenUser).
func (db *DB) TokenPruneUnexpiring(ctx context.Context, p PruneParams) (int64, error) {
	n, err := db.pruneChunks(ctx, pruneQuery{table: "personal_access_tokens", column: "created_at", before: p.Before.UTC(),
		where: "t.expires_at IS NULL"}, p.ChunkSize)
	if err != nil {
		return n, fmt.Errorf("store: prune tokens without expiry: %w", err)
	}
	return n, nil
}
