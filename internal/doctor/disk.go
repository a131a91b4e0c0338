package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tripintravel/tripin/internal/store"
)

// checkDisk reports, for an SQLite database, a directory with less than
// MinFreeBytes free (a full disk stops every booking and every job) and
// a WAL file over MaxWALBytes (checkpoints are not keeping up). A server
// database's disk is its server's to watch.
func checkDisk(_ context.Context, p *Params) Result {
	if p.DB == nil {
		if p.Config != nil && p.Config.DBConnection != "sqlite" {
			return skipped("the %s server's disk is watched on that server", p.Config.DBConnection)
		}
		return noDatabase()
	}
	if p.DB.Dialect != store.SQLite {
		return skipped("the %s server's disk is watched on that server", p.DB.Dialect)
	}
	if p.DB.Name == ":memory:" {
		return skipped("the database is in memory")
	}
	dir := filepath.Dir(p.DB.Name)
	var lines []string
	free, freeErr := freeBytes(dir)
	switch {
	case errors.Is(freeErr, errUnsupported):
	case freeErr != nil:
		lines = append(lines, fmt.Sprintf("cannot read the free space of %s: %v", dir, freeErr))
	case free < p.MinFreeBytes:
		lines = append(lines, fmt.Sprintf("%s has %s free (less than %s): a full disk stops every write; free some space",
			dir, FormatBytes(free), FormatBytes(p.MinFreeBytes)))
	}
	wal := p.DB.Name + "-wal"
	var walSize int64
	st, err := os.Stat(wal)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		lines = append(lines, fmt.Sprintf("cannot read the WAL file %s: %v", wal, err))
	default:
		walSize = st.Size()
		if walSize > p.MaxWALBytes {
			lines = append(lines, fmt.Sprintf("the WAL file %s holds %s (more than %s): checkpoints are not keeping up, usually behind a long-running read",
				wal, FormatBytes(walSize), FormatBytes(p.MaxWALBytes)))
		}
	}
	if len(lines) > 0 {
		return problems(lines...)
	}
	if freeErr != nil {
		return ok("WAL %s", FormatBytes(walSize))
	}
	return ok("%s free in %s, WAL %s", FormatBytes(free), dir, FormatBytes(walSize))
}

var errUnsupported = errors.New("not supported on this system")

// FormatBytes renders n in binary units: "512 B", "16.0 MiB", "3.2 GiB".
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
