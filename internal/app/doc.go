// Package app wires Tripin together: the queue driver of the configured
// database, and the transaction hooks that tie bookings to their jobs.
package app
