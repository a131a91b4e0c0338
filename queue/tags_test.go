package queue_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tripintravel/tripin/queue"
	"github.com/tripintravel/tripin/queue/driver"
)

// bookingArgs tag their jobs from their own fields, as the application's
// booking jobs do.
type bookingArgs struct {
	BookingID int64 `json:"booking_id"`
}

func (bookingArgs) Kind() string { return "TaggedBookingJob" }

func (a bookingArgs) Tags() []string {
	return []string{"booking:" + strconv.FormatInt(a.BookingID, 10), "tour:1"}
}

func (bookingArgs) InsertOpts() queue.InsertOpts {
	return queue.InsertOpts{Tags: []string{"kind-default"}}
}

func TestInsertTags(t *testing.T) {
	each(t, func(t *testing.T, h *harness) {
		c := h.client()
		id := h.insert(c, bookingArgs{BookingID: 4}, &queue.InsertOpts{Tags: []string{" user:9 ", "tour:1", ""}})
		var payload []byte
		require.NoError(t, h.db.QueryRow(h.db.Rebind("SELECT payload FROM jobs WHERE id = ?"), id).Scan(&payload))
		require.Equal(t, []string{"kind-default", "booking:4", "tour:1", "user:9"}, driver.PayloadTags(payload),
			"the kind's tags, the args' own, then the dispatch's, trimmed and each once")

		_, err := c.Insert(context.Background(), bookingArgs{BookingID: 5}, &queue.InsertOpts{Tags: []string{`say "hi"`}})
		require.ErrorContains(t, err, "tag", "a tag JSON would escape cannot be searched for, so it is refused")

		page, err := h.d.(driver.JobBrowser).JobSearch(context.Background(), &driver.JobSearchParams{Tag: "user:9"})
		require.NoError(t, err)
		require.Len(t, page.Entries, 1)
		require.Equal(t, id, page.Entries[0].ID)
	})
}
