package faultbench

import "context"

func runFullDisk(ctx context.Context, o *Options, dir string) Result  { return na("todo") }
func runSustained(ctx context.Context, o *Options, dir string) Result { return na("todo") }
