package faultbench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// ownServer is a database or Redis server the bench started itself, on a
// free port of 127.0.0.1 with a data directory of its own: the only kind
// of server the restart row restarts (besides --restart-cmd).
type ownServer struct {
	kind    string // mysql, pgsql or redis
	dataDir string
	dir     string
	port    int
	args    []string
	bin     string
	cred    *syscall.Credential
	srv     *server
	// dsn is the server's admin DSN (Redis: its URL).
	dsn string
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// errNoServer says the server's binaries are not installed here.
var errNoServer = errors.New("server binaries not found")

// startOwnServer initialises a data directory under dir (inside root,
// the bench's own directory) and starts the server of kind on it.
func startOwnServer(ctx context.Context, kind, root, dir string) (*ownServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &ownServer{kind: kind, dir: dir, dataDir: filepath.Join(dir, "data"), port: port}
	p := strconv.Itoa(port)
	switch kind {
	case "redis":
		if s.bin, err = exec.LookPath("redis-server"); err != nil {
			return nil, fmt.Errorf("%w: %v", errNoServer, err)
		}
		if err := os.MkdirAll(s.dataDir, 0o755); err != nil {
			return nil, err
		}
		// Persistence on, as OPERATIONS.md asks of production: an
		// append-only file synced every second, and a clean shutdown
		// saves the rest.
		s.args = []string{"--port", p, "--bind", "127.0.0.1", "--dir", s.dataDir, "--daemonize", "no",
			"--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--maxmemory-policy", "noeviction"}
		s.dsn = "redis://127.0.0.1:" + p + "/0"
	case "pgsql":
		bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
		if len(bins) == 0 {
			return nil, fmt.Errorf("%w: no /usr/lib/postgresql/*/bin/postgres", errNoServer)
		}
		s.bin = bins[len(bins)-1]
		initdb := filepath.Join(filepath.Dir(s.bin), "initdb")
		// PostgreSQL refuses to run as root: run it as the postgres user
		// when the bench is root.
		if os.Geteuid() == 0 {
			u, err := user.Lookup("postgres")
			if err != nil {
				return nil, fmt.Errorf("%w: running as root and no postgres user: %v", errNoServer, err)
			}
			uid, _ := strconv.Atoi(u.Uid)
			gid, _ := strconv.Atoi(u.Gid)
			s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
			if err := os.Chown(dir, uid, gid); err != nil {
				return nil, err
			}
			// The directories the bench created between its root and dir
			// are 0700 (os.MkdirTemp): let the server's user through.
			// Nothing above the bench's root is touched.
			for d := filepath.Dir(dir); strings.HasPrefix(d, root+string(filepath.Separator)); d = filepath.Dir(d) {
				if err := os.Chmod(d, 0o755); err != nil {
					return nil, err
				}
			}
		}
		cmd := exec.CommandContext(ctx, initdb, "-D", s.dataDir, "-A", "trust", "-U", "postgres", "--no-sync")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("initdb: %v: %s", err, out)
		}
		s.args = []string{"-D", s.dataDir, "-p", p, "-k", dir, "-c", "listen_addresses=127.0.0.1",
			"-c", "fsync=on", "-c", "max_connections=200", "-c", "shared_buffers=32MB"}
		s.dsn = "postgres://postgres@127.0.0.1:" + p + "/postgres?sslmode=disable"
	case "mysql":
		bin, err := exec.LookPath("mariadbd")
		if err != nil {
			if bin, err = exec.LookPath("mysqld"); err != nil {
				return nil, fmt.Errorf("%w: %v", errNoServer, err)
			}
		}
		s.bin = bin
		install, err := exec.LookPath("mariadb-install-db")
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errNoServer, err)
		}
		cmd := exec.CommandContext(ctx, install, "--no-defaults", "--datadir="+s.dataDir, "--user="+currentUser(),
			"--auth-root-authentication-method=normal", "--skip-test-db")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("mariadb-install-db: %v: %s", err, out)
		}
		s.args = []string{"--no-defaults", "--datadir=" + s.dataDir, "--port=" + p, "--bind-address=127.0.0.1",
			"--socket=" + filepath.Join(dir, "mysqld.sock"), "--pid-file=" + filepath.Join(dir, "mysqld.pid"),
			"--user=" + currentUser(), "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=32M",
			"--max-connections=300", "--skip-name-resolve"}
		s.dsn = "root@tcp(127.0.0.1:" + p + ")/mysql"
	default:
		return nil, fmt.Errorf("no server for %s", kind)
	}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "root"
}

func (s *ownServer) start(ctx context.Context) error {
	srv, err := startServer(filepath.Join(s.dir, s.kind+".out"), os.Environ(), s.dir, s.cred, s.bin, s.args...)
	if err != nil {
		return err
	}
	s.srv = srv
	return waitUntil(ctx, time.Minute, s.kind+" server to answer", func() (bool, error) {
		if srv.exited() {
			return false, fmt.Errorf("%s exited: %s", s.kind, srv.tail())
		}
		return s.ping(ctx) == nil, nil
	})
}

func (s *ownServer) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if s.kind == "redis" {
		c := redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(s.port), MaxRetries: -1})
		defer c.Close()
		return c.Ping(ctx).Err()
	}
	driver := "mysql"
	if s.kind == "pgsql" {
		driver = "pgx"
	}
	db, err := sql.Open(driver, s.dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.PingContext(ctx)
}

// restart stops the server as a service manager would (SIGTERM; SIGINT,
// a fast shutdown, for PostgreSQL) and starts it again on the same port
// and data directory.
func (s *ownServer) restart(ctx context.Context) error {
	sig := syscall.SIGTERM
	if s.kind == "pgsql" {
		sig = syscall.SIGINT
	}
	s.srv.stop(sig, time.Minute)
	return s.start(ctx)
}

func (s *ownServer) stop() {
	if s.srv != nil {
		sig := syscall.SIGTERM
		if s.kind == "pgsql" {
			sig = syscall.SIGINT
		}
		s.srv.stop(sig, 30*time.Second)
	}
}

// runRestart runs the FaultLedger workload against a server the bench
// starts itself (or the configured one, with RestartCmd) and restarts the
// server mid-run. It runs in the long version only.
func runRestart(ctx context.Context, o *Options, dir string) Result {
	if o.Backend == "sqlite" {
		return na("SQLite has no server")
	}
	if !o.Long {
		return Result{Status: "skipped", Note: "servers are restarted in the long version only (--long)", RecoveryMs: -1}
	}
	var (
		in      *instance
		err     error
		restart func(context.Context) error
	)
	if o.RestartCmd != "" {
		in, err = newInstance(ctx, o, o.Backend, o.serverDSN(), o.RedisURL, dir, "")
		if err != nil {
			return Result{Status: "error", Note: err.Error(), RecoveryMs: -1}
		}
		restart = func(ctx context.Context) error {
			out, err := exec.CommandContext(ctx, "sh", "-c", o.RestartCmd).CombinedOutput()
			if err != nil {
				return fmt.Errorf("--restart-cmd: %v: %s", err, out)
			}
			return nil
		}
	} else {
		kind := o.Backend
		srv, err := startOwnServer(ctx, kind, o.Dir, dir)
		if errors.Is(err, errNoServer) {
			return Result{Status: "skipped", Note: err.Error(), RecoveryMs: -1}
		}
		if err != nil {
			return Result{Status: "error", Note: "start a server of the bench's own: " + err.Error(), RecoveryMs: -1}
		}
		defer srv.stop()
		serverDSN, redisURL := srv.dsn, ""
		if kind == "redis" {
			serverDSN, redisURL = "", srv.dsn
		}
		in, err = newInstance(ctx, o, o.Backend, serverDSN, redisURL, dir, srv.dataDir)
		if err != nil {
			return Result{Status: "error", Note: err.Error(), RecoveryMs: -1}
		}
		restart = srv.restart
	}
	defer in.close()
	in.restart = restart
	return runProcRow(ctx, in, RowRestart)
}
