package dbdriver_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tripintravel/tripin/queue/driver/dbdriver"
)

func TestRetryRetriesLockConflicts(t *testing.T) {
	for _, conflict := range []error{
		&mysql.MySQLError{Number: 1213, Message: "Deadlock found when trying to get lock"},
		&mysql.MySQLError{Number: 1205, Message: "Lock wait timeout exceeded"},
		&pgconn.PgError{Code: "40P01"},
		&pgconn.PgError{Code: "40001"},
	} {
		calls := 0
		err := dbdriver.Retry(context.Background(), func() error {
			calls++
			if calls < 4 {
				return fmt.Errorf("claim: %w", conflict)
			}
			return nil
		})
		if err != nil || calls != 4 {
			t.Errorf("%v: Retry = %v after %d calls, want success on the 4th", conflict, err, calls)
		}
	}
}

func TestRetryReturnsOtherErrors(t *testing.T) {
	boom := errors.New("syntax error")
	calls := 0
	err := dbdriver.Retry(context.Background(), func() error { calls++; return boom })
	if !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("Retry = %v after %d calls, want the error at once", err, calls)
	}
}

func TestRetryStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	deadlock := &mysql.MySQLError{Number: 1213}
	start := time.Now()
	err := dbdriver.Retry(ctx, func() error { return deadlock })
	if !errors.As(err, new(*mysql.MySQLError)) {
		t.Fatalf("Retry = %v, want the last deadlock", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("Retry kept going %v after its context ended", time.Since(start))
	}
}

func TestSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int64{0: 0, -time.Second: 0, time.Millisecond: 1, time.Second: 1, 1500 * time.Millisecond: 2, time.Minute: 60} {
		if got := dbdriver.Seconds(d); got != want {
			t.Errorf("Seconds(%v) = %d, want %d", d, got, want)
		}
	}
}
