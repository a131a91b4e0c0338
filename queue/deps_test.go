package queue_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestQueueImportsNoApplicationPackage: the queue is a library that other
// modules import, so none of its packages, nor their tests, may depend on
// a package of this module outside queue/ (booking, store, mail, payment,
// httpapi, dashboard, notify, expiry, schedule, cli, config and every other
// internal/ package).
func TestQueueImportsNoApplicationPackage(t *testing.T) {
	const module = "github.com/tripintravel/tripin"
	for _, args := range [][]string{
		{"list", "-deps", module + "/queue/..."},
		{"list", "-deps", "-test", module + "/queue/..."},
	} {
		out, err := exec.Command(goBinary(t), args...).CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		var queuePkgs int
		for _, pkg := range strings.Fields(string(out)) {
			// Test variants print as "pkg [pkg.test]", "pkg_test" or
			// "pkg.test".
			pkg = strings.TrimSuffix(strings.TrimSuffix(strings.Trim(pkg, "[]"), ".test"), "_test")
			if pkg != module && !strings.HasPrefix(pkg, module+"/") {
				continue
			}
			if pkg == module+"/queue" || strings.HasPrefix(pkg, module+"/queue/") {
				queuePkgs++
				continue
			}
			t.Errorf("go %s: the queue depends on %s", strings.Join(args, " "), pkg)
		}
		if queuePkgs == 0 {
			t.Fatalf("go %s listed no queue package:\n%s", strings.Join(args, " "), out)
		}
	}
}

// goBinary returns the go command that runs this test.
func goBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := exec.LookPath(p); err != nil {
		t.Fatalf("no go command: %v", err)
	}
	return p
}
