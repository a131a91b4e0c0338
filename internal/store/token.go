package store

import (
	"context"
	"fmt"
	"time"

	"github.com/tripintravel/tripin/internal/booking"
)

// TokenCreate stores a new API token's SHA-256 hash (never the token).
func (db *DB) TokenCreate(ctx context.Context, userID int64, name, hash string, now time.Time) error {
	const q = `INSERT INTO personal_access_tokens (tokenable_type, tokenable_id, name, token, created_at, updated_at)
VALUES ('users', ?, ?, ?, ?, ?)`
	if _, err := db.ExecContext(ctx, db.Rebind(q), userID, name, hash, now, now); err != nil {
		return fmt.Errorf("store: create token: %w", err)
	}
	return nil
}

// TokenUser returns the user owning the unexpired token with this hash.
// It only reads: last_used_at is not touched per request, so that
// authenticating never needs the (on SQLite, single) writer.
func (db *DB) TokenUser(ctx context.Context, hash string, now time.Time) (*booking.User, error) {
	const q = `SELECT u.id, u.name, u.email, u.password, u.is_admin, u.created_at, u.updated_at
FROM personal_access_tokens t JOIN users u ON u.id = t.tokenable_id
WHERE t.token = ? AND t.tokenable_type = 'users' AND (t.expires_at IS NULL OR t.expires_at > ?)`
	u, err := scanUser(db.readQueryRow(ctx, q, hash, now))
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
