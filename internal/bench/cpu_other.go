//go:build !unix

package bench

import "time"

// processCPU is not measured on this platform; the benchmark then reports
// zero CPU per operation.
func processCPU() time.Duration { return 0 }

// maxRSSMB is not measured on this platform.
func maxRSSMB() float64 { return 0 }
