package config

import (
	"errors"
	"fmt"
	"os"

	"github.com/joho/godotenv"
)

// Diagnose reads the configuration as Load does, but instead of stopping
// at the first bad value it returns every error found together with the
// configuration, in which each failing key keeps its default. It is for
// the commands that report on a deployment (`tripin doctor`, `tripin
// about`): they must run, and say what is wrong, when the configuration
// would stop any other command. The configuration is nil only when the
// .env file cannot be read.
func Diagnose(envFile string) (*Config, []*Error) {
	vals := map[string]string{}
	if envFile != "" {
		fileVals, err := godotenv.Read(envFile)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, []*Error{{Key: envFile, Reason: fmt.Sprintf("cannot read: %v", err)}}
		}
		for k, v := range fileVals {
			vals[k] = v
		}
	}
	for _, k := range Keys {
		if v, ok := os.LookupEnv(k); ok {
			vals[k] = v
		}
	}
	return DiagnoseMap(vals)
}

// DiagnoseMap is Diagnose over explicit values, as FromMap is Load's.
func DiagnoseMap(vals map[string]string) (*Config, []*Error) {
	p := &parser{vals: vals}
	c, _ := parse(p)
	if c == nil {
		c = p.partial
	}
	errs := p.errs
	// What stops serve and the workers is a problem of the deployment
	// too, though other commands run without it.
	var req *Error
	if c != nil && errors.As(c.RequireMidtrans(), &req) {
		errs = append(errs, req)
	}
	return c, errs
}
