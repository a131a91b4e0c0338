package dashboard

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/tripintravel/tripin/internal/apperr"
	"github.com/tripintravel/tripin/internal/booking"
	"github.com/tripintravel/tripin/internal/mail"
	"github.com/tripintravel/tripin/internal/money"
	"github.com/tripintravel/tripin/internal/payment"
	"github.com/tripintravel/tripin/internal/store"
	"github.com/tripintravel/tripin/queue/driver"
)

// The acting pages: pausing the refresh, cancelling a batch, searching
// the bookings by code or email, and a booking's own page with its
// timeline.

// bookingsPerPage is the page size of the booking search.
const bookingsPerPage = 50

// bookingJobsLimit bounds the jobs a booking's page lists.
const bookingJobsLimit = 100

// mountActing adds the routes of these pages to mux.
func (d *Dashboard) mountActing(mux *http.ServeMux) {
	mux.HandleFunc("POST "+Prefix+"/refresh", d.action(d.handleRefresh))
	mux.HandleFunc("POST "+Prefix+"/batches/{id}/cancel", d.action(d.handleBatchCancel))
	mux.HandleFunc("GET "+Prefix+"/bookings/{code}", d.page(d.handleBookingShow))
}

// handleBatchCancel cancels a batch: the workers skip its jobs that have
// not started. Cancelling a cancelled batch keeps its first time.
func (d *Dashboard) handleBatchCancel(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	b, err := d.p.Admin.BatchCancel(r.Context(), id)
	if errors.Is(err, driver.ErrNotFound) {
		d.fail(w, r, http.StatusNotFound, "Batch not found", "There is no batch "+id+"; it may have been pruned. Nothing was changed.")
		return
	}
	if err != nil {
		d.internalError(w, r, err)
		return
	}
	d.log.Info("dashboard: batch cancelled", "batch", b.ID, "user_id", s.user.ID)
	redirect(w, r, Prefix+"/batches", "batch-cancelled")
}

// bookingQuery is what the bookings page's search box asked for.
type bookingQuery struct {
	Q    string
	Code string // a code prefix, upper-cased
	// Email is an email prefix, lower-cased.
	Email string
}

// parseBookingQuery reads the search box: an address (or the start of
// one) or a booking code (or its start, "TRP-20261207"). Codes start
// with TRP; anything else is taken for the start of an email address.
// A query that can be neither comes back with the problem to show.
func parseBookingQuery(q string) (bookingQuery, string) {
	q = strings.TrimSpace(q)
	bq := bookingQuery{Q: q}
	if len(q) > 255 || strings.IndexFunc(q, unicode.IsControl) >= 0 {
		return bq, "Search by a booking code (TRP-…) or an email address of at most 255 characters."
	}
	up := strings.ToUpper(q)
	if !strings.Contains(q, "@") && strings.HasPrefix(up, "TRP") {
		if len(up) > 32 || strings.IndexFunc(up, func(r rune) bool { return !(r == '-' || r >= '0' && r <= '9' || r >= 'A' && r <= 'Z') }) >= 0 {
			return bq, "A booking code has only letters, digits and dashes, such as TRP-20261207-7Q4K2M."
		}
		bq.Code = up
		return bq, ""
	}
	bq.Email = booking.NormalizeEmail(q)
	return bq, ""
}

// bookingSearch is the search part of the bookings page.
type bookingSearch struct {
	Query    bookingQuery
	Rows     []*store.DashboardBooking
	NextURL  string
	FirstURL string
	Problem  string
}

// searchBookings runs the bookings page's search. A whole code that
// exists answers with its booking's page instead.
func (d *Dashboard) searchBookings(w http.ResponseWriter, r *http.Request) (*bookingSearch, bool) {
	ctx := r.Context()
	bq, problem := parseBookingQuery(r.URL.Query().Get("q"))
	s := &bookingSearch{Query: bq, Problem: problem}
	if problem != "" {
		return s, false
	}
	if booking.ValidCode(bq.Code) && r.URL.Query().Get("after") == "" {
		if _, err := d.p.DB.DashboardBookingByCode(ctx, bq.Code); err == nil {
			http.Redirect(w, r, Prefix+"/bookings/"+url.PathEscape(bq.Code), http.StatusSeeOther)
			return nil, true
		} else if apperr.Code(err) != apperr.ENOTFOUND {
			d.internalError(w, r, err)
			return nil, true
		}
	}
	after := r.URL.Query().Get("after")
	rows, more, err := d.p.DB.DashboardBookingSearch(ctx, store.DashboardSearch{
		CodePrefix: bq.Code, EmailPrefix: bq.Email, After: after, Limit: bookingsPerPage,
	})
	switch {
	case errors.Is(err, store.ErrTooManyCustomers):
		s.Problem = "More than " + strconv.Itoa(store.DashboardSearchMaxUsers) + " customers' addresses start with " + bq.Email + ": type more of the address."
		return s, false
	case apperr.Code(err) == apperr.EINVALID:
		s.Problem = apperr.Message(err)
		return s, false
	case err != nil:
		d.internalError(w, r, err)
		return nil, true
	}
	s.Rows = rows
	if more && len(rows) > 0 {
		last := rows[len(rows)-1]
		cursor := last.Code
		if bq.Email != "" {
			cursor = strconv.FormatInt(last.ID, 10)
		}
		s.NextURL = Prefix + "/bookings?" + url.Values{"q": {bq.Q}, "after": {cursor}}.Encode()
	}
	if after != "" {
		s.FirstURL = Prefix + "/bookings?" + url.Values{"q": {bq.Q}}.Encode()
	}
	return s, false
}

// timelineEvent is one step of a booking's life.
type timelineEvent struct {
	// Key names the step for tests and styling: created, invoice, paid,
	// eticket, expired, cancelled, failed, refunded, resent.
	Key   string
	Label string
	// At is when it happened; nil for a step still awaited.
	At     *time.Time
	Detail string
	Jobs   []recentRow
	Notes  []*payment.StoredNotification
}

// bookingShowPage is a booking's own page.
type bookingShowPage struct {
	*store.DashboardBookingDetail
	Timeline      []timelineEvent
	Jobs          []recentRow
	JobsAvailable bool
	JobsMore      bool
	JobTag        string
	Notifications []*payment.StoredNotification
	Emails        []*mail.SentEmail
}

// The job classes behind each step of the timeline.
var (
	invoiceJobs = []string{"SendInvoiceEmail"}
	eticketJobs = []string{"SendETicketEmail"}
	expiryJobs  = []string{"ExpireBooking", "ExpireSnapTransaction"}
	createdJobs = []string{"SendInvoiceEmail", "ExpireBooking"}
)

// The notification outcomes behind each step.
var (
	paidOutcomes      = []payment.Outcome{payment.OutcomePaid, payment.OutcomePaidLate, payment.OutcomeNeedsRefund}
	cancelledOutcomes = []payment.Outcome{payment.OutcomeCancelled}
	failedOutcomes    = []payment.Outcome{payment.OutcomeFailed}
	expiredOutcomes   = []payment.Outcome{payment.OutcomeExpired}
	refundedOutcomes  = []payment.Outcome{payment.OutcomeRefunded}
)

func (d *Dashboard) handleBookingShow(w http.ResponseWriter, r *http.Request, _ *session) {
	code := r.PathValue("code")
	if d.p.DB == nil {
		d.fail(w, r, http.StatusNotFound, "Booking not found", "The bookings database is not connected to the dashboard.")
		return
	}
	ctx := r.Context()
	b, err := d.p.DB.DashboardBookingByCode(ctx, code)
	if apperr.Code(err) == apperr.ENOTFOUND {
		d.fail(w, r, http.StatusNotFound, "Booking not found", "There is no booking with the code "+code+".")
		return
	}
	if err != nil {
		d.internalError(w, r, err)
		return
	}
	p := &bookingShowPage{DashboardBookingDetail: b, JobTag: booking.JobTag(b.ID), JobsAvailable: d.browser != nil}
	if d.browser != nil {
		page, err := d.browser.JobSearch(ctx, &driver.JobSearchParams{Tag: p.JobTag, Limit: bookingJobsLimit})
		if err != nil {
			d.internalError(w, r, err)
			return
		}
		for _, e := range page.Entries {
			p.Jobs = append(p.Jobs, d.rowOf(e))
		}
		p.JobsMore = page.More
	}
	if p.Notifications, err = payment.NotificationsForOrder(ctx, d.p.DB, b.Code, 100); err != nil {
		d.internalError(w, r, err)
		return
	}
	if p.Emails, err = mail.NewSentStore(d.p.DB).List(ctx, b.ID); err != nil {
		d.internalError(w, r, err)
		return
	}
	p.Timeline = buildTimeline(p)
	d.render(w, r, http.StatusOK, "booking_show", &view{Title: "Booking " + b.Code, Nav: "bookings", Refresh: d.refreshSeconds(), Page: p})
}

// buildTimeline orders what happened to a booking: its creation, the
// emails sent (sent_emails), its payment and its end, each with the jobs
// (found by the booking's tag) and the payment notifications that did it.
// The invoice, and the e-ticket of a paid booking, appear while they are
// still awaited, with their jobs, so that a stuck email shows why.
func buildTimeline(p *bookingShowPage) []timelineEvent {
	jobs := func(kinds []string) []recentRow {
		var out []recentRow
		for _, j := range p.Jobs {
			if slices.Contains(kinds, j.Job) {
				out = append(out, j)
			}
		}
		return out
	}
	notes := func(outcomes []payment.Outcome) []*payment.StoredNotification {
		var out []*payment.StoredNotification
		for _, n := range p.Notifications {
			if slices.Contains(outcomes, n.Outcome) {
				out = append(out, n)
			}
		}
		return out
	}
	created := p.CreatedAt
	events := []timelineEvent{{Key: "created", Label: "Booked", At: &created,
		Detail: strconv.Itoa(p.Quantity) + " seat(s), " + money.FormatRupiah(p.TotalAmount) + ", by " + p.CustomerEmail,
		Jobs:   jobs(createdJobs)}}
	sentInvoice, sentTicket := false, false
	for _, e := range p.Emails {
		at := e.SentAt
		ev := timelineEvent{At: &at, Detail: "to " + e.Recipient + " · " + e.MessageID}
		switch {
		case e.Kind == mail.KindInvoice:
			ev.Key, ev.Label, ev.Jobs, sentInvoice = "invoice", "Invoice sent", jobs(invoiceJobs), true
		case e.Kind == mail.KindETicket:
			ev.Key, ev.Label, ev.Jobs, sentTicket = "eticket", "E-ticket sent", jobs(eticketJobs), true
		case strings.HasPrefix(e.Kind, mail.KindInvoice+"/"):
			ev.Key, ev.Label = "resent", "Invoice sent again"
		case strings.HasPrefix(e.Kind, mail.KindETicket+"/"):
			ev.Key, ev.Label = "resent", "E-ticket sent again"
		default:
			ev.Key, ev.Label = "resent", "Email "+e.Kind+" sent"
		}
		events = append(events, ev)
	}
	if !sentInvoice {
		// Awaited while the booking waits for its payment; after that it
		// will not go out, and is shown only if a job tried.
		if p.Status == string(booking.StatusPending) {
			events = append(events, timelineEvent{Key: "invoice", Label: "Invoice not sent yet", Jobs: jobs(invoiceJobs)})
		} else if j := jobs(invoiceJobs); len(j) > 0 {
			events = append(events, timelineEvent{Key: "invoice", Label: "Invoice not sent", Jobs: j})
		}
	}
	stamp := func(key, label string, at *time.Time, detail string, j []recentRow, n []*payment.StoredNotification) {
		if at != nil {
			events = append(events, timelineEvent{Key: key, Label: label, At: at, Detail: detail, Jobs: j, Notes: n})
		}
	}
	paidDetail := ""
	if p.PaymentType != "" || p.TransactionID != "" {
		paidDetail = strings.Trim(p.PaymentType+" · "+p.TransactionID, " ·")
	}
	stamp("paid", "Paid", p.PaidAt, paidDetail, nil, notes(paidOutcomes))
	stamp("expired", "Expired: seats given back", p.ExpiredAt, "", jobs(expiryJobs), notes(expiredOutcomes))
	stamp("cancelled", "Cancelled", p.CancelledAt, "", nil, notes(cancelledOutcomes))
	stamp("failed", "Payment failed", p.FailedAt, "", nil, notes(failedOutcomes))
	stamp("refunded", "Refunded", p.RefundedAt, "", nil, notes(refundedOutcomes))
	if p.PaidAt != nil && !sentTicket {
		events = append(events, timelineEvent{Key: "eticket", Label: "E-ticket not sent yet", Jobs: jobs(eticketJobs)})
	}
	// Steps that happened, by time; the awaited ones last.
	sort.SliceStable(events, func(i, j int) bool {
		a, b := events[i].At, events[j].At
		switch {
		case a == nil || b == nil:
			return a != nil && b == nil
		default:
			return a.Before(*b)
		}
	})
	return events
}
