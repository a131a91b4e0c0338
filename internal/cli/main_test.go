package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"
)

// mainArgsEnv, when set to a JSON list of arguments, makes the test binary
// run Main with them and exit with its code instead of running tests, so
// that a test can start the real command line (signal handling included)
// as a child process without building the tripin binary.
const mainArgsEnv = "TRIPIN_CLI_TEST_MAIN_ARGS"

func TestMain(m *testing.M) {
	if a := os.Getenv(mainArgsEnv); a != "" {
		var args []string
		if err := json.Unmarshal([]byte(a), &args); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", mainArgsEnv, err)
			os.Exit(2)
		}
		os.Exit(Main(args))
	}
	os.Exit(m.Run())
}
