package faultbench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// RunAndPrint runs the matrix for o, as Run does, and writes it to w: as
// a table (PrintMatrix), or as one JSON line that PrintFile reads back.
// A Dir that does not exist yet is created, and kept after the run.
func RunAndPrint(ctx context.Context, o Options, asJSON bool, w io.Writer) error {
	if o.Dir != "" {
		if err := os.MkdirAll(o.Dir, 0o755); err != nil {
			return fmt.Errorf("bench faults: %w", err)
		}
	}
	m, err := Run(ctx, o)
	if err != nil {
		return err
	}
	if asJSON {
		return json.NewEncoder(w).Encode(m)
	}
	PrintMatrix(w, m)
	return nil
}

// PrintFile writes the matrix a JSON run saved in path to w as a table.
func PrintFile(w io.Writer, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("bench faults: %w", err)
	}
	var m Matrix
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("bench faults: %s: %w", path, err)
	}
	PrintMatrix(w, &m)
	return nil
}
