package tripinpgsql

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Listen holds a dedicated connection (outside the pool) that LISTENs on
// Channel and calls fn with the queue of every job inserted, until ctx
// ends, then returns nil. A lost connection (or a database that is down
// when Listen starts) is retried with backoff; notifications sent while it
// was down are lost, which the engine's polling covers.
func (d *Driver) Listen(ctx context.Context, fn func(queue string)) error {
	var cfg *pgx.ConnConfig
	backoff := 100 * time.Millisecond
	for {
		var err error
		if cfg == nil {
			cfg, err = d.connConfig(ctx)
		}
		start := time.Now()
		if err == nil {
			err = listenOnce(ctx, cfg, fn)
		}
		if ctx.Err() != nil {
			return nil
		}
		if err == nil || time.Since(start) > 10*time.Second {
			backoff = 100 * time.Millisecond // it worked for a while
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// connConfig borrows a pooled connection to learn how to open another.
func (d *Driver) connConfig(ctx context.Context) (*pgx.ConnConfig, error) {
	conn, err := d.DB.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var cfg *pgx.ConnConfig
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return errors.New("not a pgx connection")
		}
		cfg = c.Conn().Config().Copy()
		// The copy still carries the pooled connection's notification
		// hook; pgx installs its own when the hook is nil.
		cfg.OnNotification = nil
		return nil
	})
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// listenOnce connects, listens and delivers until the connection fails or
// ctx ends.
func listenOnce(ctx context.Context, cfg *pgx.ConnConfig, fn func(queue string)) error {
	connectCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.ConnectConfig(connectCtx, cfg)
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return err
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if n != nil {
			fn(n.Payload)
		}
	}
}
