package faultbench

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// PrintMatrix writes m as a Markdown table, then one note per row.
func PrintMatrix(w io.Writer, m *Matrix) {
	mode := "short"
	if m.Long {
		mode = "long"
	}
	fmt.Fprintf(w, "Fault matrix: backend %s, %s run, %s\n\n", m.Backend, mode, m.Date)
	fmt.Fprintln(w, "| Fault | Jobs | Lost | Run twice | Failed by the fault | Recovery | Disk high-water | Status |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---|")
	for _, r := range m.Rows {
		if r.Status == "n/a" || r.Status == "skipped" || r.Status == "error" {
			fmt.Fprintf(w, "| %s | – | – | – | – | – | – | %s |\n", r.Fault, r.Status)
			continue
		}
		rec := "–"
		switch {
		case r.RecoveryMs >= 1000:
			rec = fmt.Sprintf("%.1f s", float64(r.RecoveryMs)/1000)
		case r.RecoveryMs >= 0:
			rec = fmt.Sprintf("%d ms", r.RecoveryMs)
		}
		status := r.Status
		if !r.Recovered {
			status += ", not recovered"
		}
		twice := "–"
		if r.Twice >= 0 {
			twice = strconv.Itoa(r.Twice)
		}
		fmt.Fprintf(w, "| %s | %d | %d | %s | %d | %s | %s | %s |\n",
			r.Fault, r.Jobs, r.Lost, twice, r.Failed, rec, humanBytes(r.DiskHighBytes)+" "+diskLabel(r.Disk), status)
	}
	fmt.Fprintln(w)
	for _, r := range m.Rows {
		var parts []string
		if r.Note != "" {
			parts = append(parts, r.Note)
		}
		if r.Held > 0 {
			parts = append(parts, fmt.Sprintf("the worker was running %d jobs", r.Held))
		}
		if r.Bookings > 0 || r.Refused > 0 {
			b := fmt.Sprintf("bookings: %d created, %d refused", r.Bookings, r.Refused)
			if r.RefusedAnswer != "" {
				b += " (" + r.RefusedAnswer + ")"
			}
			parts = append(parts, b)
		}
		if r.Recovery != "" {
			parts = append(parts, "recovery = "+r.Recovery)
		}
		if r.Disk != "" {
			parts = append(parts, "disk = "+r.Disk)
		}
		parts = append(parts, "took "+strconv.FormatFloat(float64(r.DurationMs)/1000, 'f', 1, 64)+" s")
		fmt.Fprintf(w, "- %s (%s): %s\n", r.Fault, r.Status, strings.Join(parts, "; "))
	}
}

// diskLabel names the disk measure in a few words, for the table.
func diskLabel(disk string) string {
	switch {
	case strings.HasPrefix(disk, "Redis data dir"):
		return "(own Redis data dir + SQLite)"
	case strings.HasPrefix(disk, "data dir"):
		return "(own server's data dir)"
	case strings.HasPrefix(disk, "Redis used_memory"):
		return "(Redis used_memory + SQLite)"
	case strings.HasPrefix(disk, "SQLite"):
		return "(SQLite files)"
	case strings.HasPrefix(disk, "pg_database_size"):
		return "(pg_database_size)"
	case strings.HasPrefix(disk, "InnoDB"):
		return "(InnoDB tablespaces)"
	}
	return ""
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
