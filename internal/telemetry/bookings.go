package telemetry

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/store"
)

// BookingSource counts bookings; *store.DB is one.
type BookingSource interface {
	BookingCounts(ctx context.Context) (*store.BookingCounts, error)
}

// WatchBookings makes the scrape report the booking counters, read from
// src. Bookings are created by the web process and paid or expired by
// workers, so only the database knows the totals. Nil stops the reports.
func (m *Metrics) WatchBookings(src BookingSource) {
	m.bookings.watch(src)
}

// knownStatuses are reported even when no booking has them, so that each
// series exists from the first scrape.
var knownStatuses = []booking.Status{
	booking.StatusPending, booking.StatusPaid, booking.StatusExpired,
	booking.StatusCancelled, booking.StatusFailed, booking.StatusRefunded,
}

// bookingCollector reads booking counts at scrape time.
type bookingCollector struct {
	mu  sync.Mutex
	src BookingSource

	counts *snapshot[*store.BookingCounts]

	created  *prometheus.Desc
	paid     *prometheus.Desc
	expired  *prometheus.Desc
	byStatus *prometheus.Desc
}

func newBookingCollector(m *Metrics, opts Options) *bookingCollector {
	return &bookingCollector{
		counts: newSnapshot[*store.BookingCounts](m, "bookings", opts),
		created: prometheus.NewDesc(prometheus.BuildFQName(namespace, "bookings", "created_total"),
			"Bookings ever created (rows of the bookings table). Database-wide.", nil, nil),
		paid: prometheus.NewDesc(prometheus.BuildFQName(namespace, "bookings", "paid_total"),
			"Bookings ever paid (paid_at set), including those refunded since. Database-wide.", nil, nil),
		expired: prometheus.NewDesc(prometheus.BuildFQName(namespace, "bookings", "expired_total"),
			"Bookings ever expired unpaid (expired_at set). Database-wide.", nil, nil),
		byStatus: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "bookings"),
			"Bookings in each status now. Database-wide.", []string{"status"}, nil),
	}
}

func (c *bookingCollector) watch(src BookingSource) {
	c.mu.Lock()
	c.src = src
	c.mu.Unlock()
	c.counts.reset()
}

// Describe implements prometheus.Collector.
func (c *bookingCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.created
	ch <- c.paid
	ch <- c.expired
	ch <- c.byStatus
}

// Collect implements prometheus.Collector with one cached query.
func (c *bookingCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	src := c.src
	c.mu.Unlock()
	if src == nil {
		return
	}
	counts, err := c.counts.get(src.BookingCounts)
	if err != nil || counts == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.created, prometheus.CounterValue, float64(counts.Created))
	ch <- prometheus.MustNewConstMetric(c.paid, prometheus.CounterValue, float64(counts.Paid))
	ch <- prometheus.MustNewConstMetric(c.expired, prometheus.CounterValue, float64(counts.Expired))
	for _, s := range knownStatuses {
		ch <- prometheus.MustNewConstMetric(c.byStatus, prometheus.GaugeValue, float64(counts.ByStatus[s]), string(s))
	}
	// A status the code does not know yet (a newer release wrote it) is
	// still worth seeing.
	for s, n := range counts.ByStatus {
		if !s.Valid() {
			ch <- prometheus.MustNewConstMetric(c.byStatus, prometheus.GaugeValue, float64(n), string(s))
		}
	}
}
