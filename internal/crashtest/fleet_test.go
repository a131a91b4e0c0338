package crashtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/mail/mailtest"
	"github.com/tripintravel/tripin/internal/store"
)

// TestManyProcesses runs the deployment of a site on two servers against
// one MariaDB and one PostgreSQL: server A runs `serve --no-worker
// --no-scheduler`, two `queue work` and one `schedule work`; server B one
// of each. Each server is a network namespace of its own with its own
// address (when `ip netns` works here; else plain processes on this
// host), reaching the database and the SMTP server through a relay on
// its link. Under booking load sent to both servers, it shows that each
// scheduled task runs once per tick, that `queue pause` and `queue
// restart` reach every worker within the worker's poll interval, that the
// dashboard lists every worker and scheduler, and that killing server A
// whole (SIGKILL to its four processes) loses no booking, no job and no
// email.
//
// A run lasts one to two minutes per backend (20 s of load and the waits
// for two ticks); TRIPIN_LONG_TESTS=1 makes the load 240 s.
func TestManyProcesses(t *testing.T) {
	long := os.Getenv(longTestsEnv) == "1"
	if testing.Short() && !long {
		t.Skip("starts seven processes per backend for a minute or more")
	}
	var backends []store.Dialect
	if os.Getenv("TRIPIN_TEST_MYSQL_DSN") != "" {
		backends = append(backends, store.MySQL)
	}
	if os.Getenv("TRIPIN_TEST_PGSQL_DSN") != "" {
		backends = append(backends, store.PgSQL)
	}
	if len(backends) == 0 {
		t.Skip("needs TRIPIN_TEST_MYSQL_DSN or TRIPIN_TEST_PGSQL_DSN")
	}
	phase := 20 * time.Second
	if long {
		phase = 240 * time.Second
	}
	hosts := newFleetHosts(t)
	for _, d := range backends {
		t.Run(string(d), func(t *testing.T) { testManyProcesses(t, d, hosts, phase) })
	}
}

// fleetPoll is the workers' poll interval (`queue work --sleep`): how
// long an idle worker may wait before it looks at the queue, its pauses
// and its restart signal again.
const fleetPoll = 3 * time.Second

// fleetHost is one "server": a network namespace with its own address,
// or this host when namespaces cannot be made.
type fleetHost struct {
	name   string
	ns     string // "" when the processes run on this host
	hostIP string // this host's end of the link
	ip     string // the server's own address
}

func newFleetHosts(t *testing.T) []*fleetHost {
	hosts := []*fleetHost{{name: "A"}, {name: "B"}}
	n := os.Getpid() % 250
	for i, h := range hosts {
		ns := fmt.Sprintf("trp%d%s", os.Getpid(), strings.ToLower(h.name))
		veth := fmt.Sprintf("vt%d%s", os.Getpid(), strings.ToLower(h.name))
		hostIP := fmt.Sprintf("10.213.%d.%d", n, 4*i+1)
		ip := fmt.Sprintf("10.213.%d.%d", n, 4*i+2)
		steps := [][]string{
			{"netns", "add", ns},
			{"link", "add", veth, "type", "veth", "peer", "name", veth + "n"},
			{"link", "set", veth + "n", "netns", ns},
			{"addr", "add", hostIP + "/30", "dev", veth},
			{"link", "set", veth, "up"},
			{"netns", "exec", ns, "ip", "addr", "add", ip + "/30", "dev", veth + "n"},
			{"netns", "exec", ns, "ip", "link", "set", veth + "n", "up"},
			{"netns", "exec", ns, "ip", "link", "set", "lo", "up"},
		}
		var failed error
		for _, s := range steps {
			if out, err := exec.Command("ip", s...).CombinedOutput(); err != nil {
				failed = fmt.Errorf("ip %s: %v: %s", strings.Join(s, " "), err, bytes.TrimSpace(out))
				break
			}
		}
		t.Cleanup(func() {
			_ = exec.Command("ip", "link", "del", veth).Run()
			_ = exec.Command("ip", "netns", "del", ns).Run()
		})
		if failed != nil {
			t.Logf("no network namespaces here (%v): every server runs as plain processes on this host", failed)
			for _, h := range hosts {
				h.ns, h.hostIP, h.ip = "", "127.0.0.1", "127.0.0.1"
			}
			return hosts
		}
		h.ns, h.hostIP, h.ip = ns, hostIP, ip
	}
	t.Logf("servers in network namespaces: A at %s, B at %s", hosts[0].ip, hosts[1].ip)
	return hosts
}

// relay forwards the connections made to a port on host's end of the link
// to target on this host's loopback, where the test servers listen; it
// returns the address to dial from inside the server.
func (h *fleetHost) relay(t *testing.T, target string) string {
	if h.ns == "" {
		return target
	}
	ln, err := net.Listen("tcp", h.hostIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer u.Close()
				go func() { _, _ = io.Copy(u, c); u.(*net.TCPConn).CloseWrite() }()
				_, _ = io.Copy(c, u)
			}()
		}
	}()
	return ln.Addr().String()
}

// fleetProc is one tripin process of the fleet.
type fleetProc struct {
	*worker
	host *fleetHost
	kind string
	// ended is set when the test stops the process on purpose (restart,
	// kill): its exit is then no failure.
	ended bool
}

type fleet struct {
	t        *testing.T
	b        *backend
	env      map[*fleetHost][]string
	procs    []*fleetProc
	smtp     *mailtest.Server
	apiPort  int
	adminPwd string
}

// start runs tripin args on host h as the process called name.
func (f *fleet) start(h *fleetHost, name, kind string, args ...string) *fleetProc {
	argv := append([]string{f.b.bin}, args...)
	if h.ns != "" {
		argv = append([]string{"ip", "netns", "exec", h.ns}, argv...)
	}
	w := startProc(f.t, f.b.dir, name, argv, append(slices.Clip(f.env[h]), "LOG_FILE="+filepath.Join(f.b.dir, name+".log")))
	p := &fleetProc{worker: w, host: h, kind: kind}
	f.procs = append(f.procs, p)
	return p
}

func (f *fleet) startWorker(h *fleetHost, name string) *fleetProc {
	return f.start(h, name, "worker", "queue", "work", "--queue", "notifications,default,emails",
		"--sleep", strconv.Itoa(int(fleetPoll.Seconds())), "--quiet")
}

func (f *fleet) base(h *fleetHost) string {
	return "http://" + net.JoinHostPort(h.ip, strconv.Itoa(f.apiPort+map[string]int{"A": 0, "B": 1}[h.name]))
}

// fleetBooking is a booking the API answered 201 for.
type fleetBooking struct {
	ID   int64  `json:"id"`
	Code string `json:"code"`
}

func testManyProcesses(t *testing.T, d store.Dialect, hosts []*fleetHost, phase time.Duration) {
	ctx := context.Background()
	b := newBackend(t, d)
	f := &fleet{t: t, b: b, env: map[*fleetHost][]string{}, smtp: mailtest.Start(t, mailtest.Options{Discard: true})}

	// Customers, tours and an administrator, straight into the database.
	accounts := booking.NewAccounts(booking.AccountsParams{Store: b.db, BcryptCost: 4})
	now := time.Now().UTC().Truncate(time.Microsecond)
	var tokens []string
	for i := range 16 {
		u := &booking.User{Name: fmt.Sprintf("Fleet %d", i), Email: fmt.Sprintf("fleet%d@tripin.test", i), PasswordHash: "!", CreatedAt: now, UpdatedAt: now}
		if err := b.db.UserCreate(ctx, u); err != nil {
			t.Fatal(err)
		}
		tok, err := accounts.IssueToken(ctx, u.ID, "fleet")
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, tok)
	}
	f.adminPwd = "fleet-admin-password"
	if _, err := accounts.CreateUser(ctx, booking.NewUser{Name: "Ops", Email: "ops@tripin.test", Password: f.adminPwd, IsAdmin: true}); err != nil {
		t.Fatal(err)
	}
	var tourIDs []int64
	for i := range 8 {
		tour := &booking.Tour{Title: fmt.Sprintf("Fleet tour %d", i), Destination: "Bali",
			DepartureDate: now.AddDate(0, 2, 0).Format(booking.DateLayout), Price: 1_000_000,
			Capacity: booking.MaxTourCapacity, Quota: booking.MaxTourCapacity, CreatedAt: now, UpdatedAt: now}
		if err := b.db.TourCreate(ctx, tour); err != nil {
			t.Fatal(err)
		}
		tourIDs = append(tourIDs, tour.ID)
	}

	// Each server's environment: the database and the SMTP server through
	// its relay, a 10 s lease so that a killed worker's jobs come back
	// soon.
	// A Slack webhook turns on the queue check, the schedule's task of
	// every minute.
	var hooks atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hooks.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	t.Cleanup(hook.Close)
	dbTarget := dsnAddr(t, d, b.dsn)
	for _, h := range hosts {
		dsn := strings.Replace(b.dsn, dbTarget, h.relay(t, dbTarget), 1)
		smtpHost, smtpPort, _ := net.SplitHostPort(h.relay(t, f.smtp.Addr()))
		hookAddr := h.relay(t, strings.TrimPrefix(hook.URL, "http://"))
		f.env[h] = append(b.env(10),
			"DB_URL="+dsn, "LOG_LEVEL=info", "NOTIFY_SLACK_WEBHOOK_URL=http://"+hookAddr+"/hook", "MIDTRANS_SERVER_KEY=SB-Mid-server-fleet",
			"MAIL_MAILER=smtp", "MAIL_HOST="+smtpHost, "MAIL_PORT="+smtpPort, "MAIL_ENCRYPTION=none",
			"BOOKING_MAX_PENDING_PER_USER=0", "BOOKING_RATE_LIMIT=0", "BOOKING_MAX_QUANTITY=0",
			"LOGIN_RATE_LIMIT=0", "LOGIN_IP_RATE_LIMIT=0", "REGISTER_RATE_LIMIT=0")
	}
	f.apiPort = freePort(t)
	A, B := hosts[0], hosts[1]
	serveA := f.start(A, "serve-a", "web", "serve", "--no-worker", "--no-scheduler", "--addr", strings.TrimPrefix(f.base(A), "http://"))
	serveB := f.start(B, "serve-b", "web", "serve", "--no-worker", "--no-scheduler", "--addr", strings.TrimPrefix(f.base(B), "http://"))
	workers := []*fleetProc{f.startWorker(A, "worker-a1"), f.startWorker(A, "worker-a2"), f.startWorker(B, "worker-b1")}
	schedA := f.start(A, "schedule-a", "scheduler", "schedule", "work")
	f.start(B, "schedule-b", "scheduler", "schedule", "work")
	client := &http.Client{Timeout: 10 * time.Second}
	for _, s := range []*fleetProc{serveA, serveB} {
		waitFor(t, time.Minute, s.name+" healthy", []*worker{s.worker}, func() bool {
			resp, err := client.Get(f.base(s.host) + "/healthz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		})
	}
	testStart := time.Now()

	// The load: four clients per server, each booking back to back with a
	// pause, until stopped; every 201 is kept.
	var (
		mu       sync.Mutex
		created  []fleetBooking
		refused  atomic.Int64
		stopLoad = make(chan struct{})
		loadDone sync.WaitGroup
	)
	for _, h := range hosts {
		for c := range 4 {
			loadDone.Add(1)
			go func() {
				defer loadDone.Done()
				for i := 0; ; i++ {
					select {
					case <-stopLoad:
						return
					case <-time.After(20 * time.Millisecond):
					}
					body := fmt.Sprintf(`{"tour_id":%d,"quantity":1}`, tourIDs[(c+i)%len(tourIDs)])
					req, _ := http.NewRequest("POST", f.base(h)+"/api/bookings", strings.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Authorization", "Bearer "+tokens[(c*7+i)%len(tokens)])
					resp, err := client.Do(req)
					if err != nil {
						refused.Add(1)
						continue
					}
					rb, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusCreated {
						refused.Add(1)
						continue
					}
					var out struct {
						Data fleetBooking `json:"data"`
					}
					if err := json.Unmarshal(rb, &out); err != nil || out.Data.ID == 0 {
						t.Errorf("a 201 without a booking: %s", rb)
						continue
					}
					mu.Lock()
					created = append(created, out.Data)
					mu.Unlock()
				}
			}()
		}
	}
	stopTheLoad := func() {
		select {
		case <-stopLoad:
		default:
			close(stopLoad)
			loadDone.Wait()
		}
	}
	defer stopTheLoad()
	nCreated := func() int { mu.Lock(); defer mu.Unlock(); return len(created) }
	live := func() []*worker {
		var out []*worker
		for _, p := range f.procs {
			if !p.ended {
				out = append(out, p.worker)
			}
		}
		return out
	}
	time.Sleep(phase / 2)
	if nCreated() == 0 {
		t.Fatalf("no booking was created in %s (%d refused)", phase/2, refused.Load())
	}

	// Pause: once the pause is stored, every worker must stop taking the
	// emails queue's jobs within its poll interval (plus the jobs it had
	// already started, a few seconds at most).
	sent := func() int {
		return b.count(t, "SELECT COUNT(*) FROM sent_emails WHERE kind = 'invoice'")
	}
	// The settle time is the poll interval and a margin for the jobs
	// already claimed, generous because a loaded host slows them: the
	// check is that sending stops, and the log says when.
	b.run(t, "queue", "pause", "emails")
	settle := fleetPoll + 10*time.Second
	time.Sleep(settle)
	before, bookedBefore := sent(), nCreated()
	time.Sleep(2 * fleetPoll)
	after, bookedAfter := sent(), nCreated()
	t.Logf("paused emails: %d invoices sent %.0f s after the pause, %d %.0f s after; %d bookings made meanwhile",
		before, settle.Seconds(), after, (settle + 2*fleetPoll).Seconds(), bookedAfter-bookedBefore)
	if after != before {
		t.Errorf("%d invoices were sent between %s and %s after `queue pause emails`", after-before, settle, settle+2*fleetPoll)
	}
	if bookedAfter == bookedBefore {
		t.Errorf("no booking was made while the emails queue was paused: the pause proved nothing")
	}
	b.run(t, "queue", "resume", "emails")

	// Restart: every worker exits after its poll interval (plus the
	// running jobs' time); they are started again, as systemd would. The
	// log gives each worker's time (0.9–3.4 s in the runs of
	// docs/BENCHMARKS.md); the test fails only a worker that never sees the
	// signal, as a loaded host may stretch any bound on time.
	for _, w := range workers {
		w.ended = true
	}
	b.run(t, "queue", "restart")
	restarted := time.Now()
	const restartBound = fleetPoll + 60*time.Second
	for _, w := range workers {
		select {
		case <-w.done:
			t.Logf("%s exited %.1f s after `queue restart`", w.name, time.Since(restarted).Seconds())
		case <-time.After(restartBound - time.Since(restarted)):
			t.Fatalf("%s still runs %s after `queue restart`", w.name, restartBound)
		}
	}
	workers = []*fleetProc{f.startWorker(A, "worker-a1b"), f.startWorker(A, "worker-a2b"), f.startWorker(B, "worker-b1b")}

	// The dashboard, on server B, lists the three workers and two
	// schedulers by process id.
	waitFor(t, 30*time.Second, "the dashboard to list every process", live(), func() bool {
		page := f.dashboard(B, "/admin/workers")
		for _, p := range f.procs {
			if (p.kind == "worker" || p.kind == "scheduler") && !p.exited() && !pidListed(page, p.cmd.Process.Pid) {
				return false
			}
		}
		return true
	})

	// A tick of the scheduler with both servers up, then the kill.
	lastRun := func() int64 {
		var tick int64
		_ = b.db.QueryRowContext(ctx, "SELECT COALESCE(MAX(tick), 0) FROM schedule_runs WHERE outcome IN ('ran', 'dispatched')").Scan(&tick)
		return tick
	}
	waitTick := func(after int64, what string) {
		deadline := time.Now().Add(75 * time.Second)
		for lastRun() <= after {
			if time.Now().After(deadline) {
				var dump strings.Builder
				rows, err := b.db.QueryContext(ctx, "SELECT name, tick, outcome, host, COALESCE(error, '') FROM schedule_runs")
				if err == nil {
					for rows.Next() {
						var name, outcome, host, msg string
						var tick int64
						_ = rows.Scan(&name, &tick, &outcome, &host, &msg)
						fmt.Fprintf(&dump, "  %s %d %s %s %s\n", name, tick, outcome, host, msg)
					}
					rows.Close()
				}
				for _, n := range []string{"schedule-a", "schedule-b"} {
					lg, _ := os.ReadFile(filepath.Join(b.dir, n+".log"))
					if len(lg) > 3000 {
						lg = lg[len(lg)-3000:]
					}
					fmt.Fprintf(&dump, "%s.log:\n%s\n", n, lg)
				}
				t.Fatalf("waiting for %s: no task ran in 75 s\nschedule_runs:\n%s", what, dump.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitTick(0, "a scheduler tick with both servers up")
	tickBeforeKill := lastRun()

	// Kill server A whole, mid-load.
	killedAt := nCreated()
	for _, p := range f.procs {
		if p.host == A && !p.exited() {
			p.ended = true
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
		}
	}
	t.Logf("killed server A (web, 2 workers, scheduler) after %d bookings", killedAt)
	_ = schedA
	time.Sleep(phase / 2)
	// Server B's scheduler alone runs the next tick.
	waitTick(tickBeforeKill, "a scheduler tick after the kill")
	stopTheLoad()
	total := nCreated()
	if total <= killedAt {
		t.Fatalf("no booking was made after server A was killed")
	}

	// Drain: every booking gets its invoice, within the lease of the
	// killed workers' jobs and the time to send the backlog.
	waitFor(t, 3*time.Minute, "every invoice", live(), func() bool {
		return b.count(t, "SELECT COUNT(*) FROM jobs WHERE queue = 'emails'") == 0 && sent() >= total
	})

	// No booking lost: every 201 is in the table, with its invoice sent
	// once and its expiry job waiting.
	mu.Lock()
	defer mu.Unlock()
	inDB := b.ids(t, "SELECT id FROM bookings")
	invoiced := b.ids(t, "SELECT booking_id FROM sent_emails WHERE kind = 'invoice'")
	lost, noMail := 0, 0
	for _, c := range created {
		if !inDB[c.ID] {
			lost++
		}
		if !invoiced[c.ID] {
			noMail++
		}
	}
	if lost > 0 || noMail > 0 {
		t.Errorf("of %d bookings answered 201: %d missing from the database, %d without an invoice", len(created), lost, noMail)
	}
	expiry := b.count(t, "SELECT COUNT(*) FROM jobs WHERE queue = 'default' AND payload LIKE '%ExpireBooking%'")
	if expiry != len(inDB) {
		t.Errorf("%d expiry jobs wait for %d bookings", expiry, len(inDB))
	}
	if n := b.count(t, "SELECT COUNT(*) FROM failed_jobs"); n != 0 {
		t.Errorf("%d failed jobs", n)
	}
	if got := f.smtp.Accepted(); got < len(inDB) {
		t.Errorf("the SMTP server accepted %d messages for %d bookings", got, len(inDB))
	}

	// Each scheduled task ran once per tick: one row that ran or
	// dispatched it per (task, tick), the other scheduler recording that
	// another server had it.
	rows, err := b.db.QueryContext(ctx, "SELECT name, tick, outcome, host FROM schedule_runs")
	if err != nil {
		t.Fatal(err)
	}
	runs := map[string]int{}
	ticks := map[int64]bool{}
	otherServer := 0
	for rows.Next() {
		var name, outcome, host string
		var tick int64
		if err := rows.Scan(&name, &tick, &outcome, &host); err != nil {
			t.Fatal(err)
		}
		ticks[tick] = true
		if outcome == "ran" || outcome == "dispatched" || outcome == "failed" {
			runs[fmt.Sprintf("%s@%d", name, tick)]++
		}
	}
	rows.Close()
	// The scheduler that loses a tick's lock logs it and records nothing.
	for _, name := range []string{"schedule-a", "schedule-b"} {
		lg, _ := os.ReadFile(filepath.Join(b.dir, name+".log"))
		otherServer += bytes.Count(lg, []byte("another server took this tick"))
	}
	for k, n := range runs {
		if n != 1 {
			t.Errorf("%s ran %d times", k, n)
		}
	}
	if len(runs) == 0 {
		t.Errorf("no scheduled task ran in %s", time.Since(testStart).Round(time.Second))
	}
	t.Logf("%s: %d bookings answered 201 (%d before the kill; %d requests refused or cut off), %d in the database, %d invoiced; "+
		"%d task runs over %d ticks, %d skipped as run by the other server; %s",
		d, len(created), killedAt, refused.Load(), len(inDB), len(invoiced), len(runs), len(ticks), otherServer, time.Since(testStart).Round(time.Second))
}

// dashboard logs in as the administrator on server h and returns the page.
func (f *fleet) dashboard(h *fleetHost, path string) string {
	t := f.t
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := c.Get(f.base(h) + "/admin/login?next=" + url.QueryEscape(path))
	if err != nil {
		t.Logf("dashboard: %v", err)
		return ""
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="_csrf" value="([^"]+)"`).FindSubmatch(body)
	if m == nil {
		t.Logf("dashboard: no login form (%d)", resp.StatusCode)
		return ""
	}
	resp, err = c.PostForm(f.base(h)+"/admin/login", url.Values{"_csrf": {string(m[1])}, "email": {"ops@tripin.test"},
		"password": {f.adminPwd}, "next": {path}})
	if err != nil {
		t.Logf("dashboard: %v", err)
		return ""
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	return string(body)
}

// pidListed tells whether the workers page has a row for process pid (its
// PID cell).
func pidListed(page string, pid int) bool {
	return strings.Contains(page, `<td class="n">`+strconv.Itoa(pid)+`</td>`)
}

// dsnAddr returns the host:port the DSN dials.
func dsnAddr(t *testing.T, d store.Dialect, dsn string) string {
	if d == store.MySQL {
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Addr
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// freePort returns a port that nothing listens on, and whose successor is
// free too, for the two servers. It is drawn below the kernel's ephemeral
// range (32768 and up here), so that no outgoing connection of a server's
// own processes can hold it when its web process binds it.
func freePort(t *testing.T) int {
	for range 200 {
		p := 20000 + mrand.IntN(12000)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		ln.Close()
		if ln2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+1)); err == nil {
			ln2.Close()
			return p
		}
	}
	t.Fatal("no two free ports")
	return 0
}
