-- Payments: a claim that makes POST /api/bookings/{id}/pay create at most one
-- Snap transaction per booking even when two requests race.
ALTER TABLE bookings
  ADD COLUMN snap_claim VARCHAR(64) NULL,
  ADD COLUMN snap_claimed_at TIMESTAMPTZ NULL;
