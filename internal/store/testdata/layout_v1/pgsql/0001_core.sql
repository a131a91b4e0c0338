-- Users, API tokens, tours, bookings and payment notifications.
CREATE TABLE users (
  id BIGSERIAL PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  email VARCHAR(255) NOT NULL UNIQUE,
  password VARCHAR(255) NOT NULL,
  is_admin BOOLEAN NOT NULL DEFAULT FALSE,
  email_verified_at TIMESTAMPTZ NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE personal_access_tokens (
  id BIGSERIAL PRIMARY KEY,
  tokenable_type VARCHAR(255) NOT NULL DEFAULT 'users',
  tokenable_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name VARCHAR(255) NOT NULL,
  token CHAR(64) NOT NULL UNIQUE,
  abilities TEXT NULL,
  last_used_at TIMESTAMPTZ NULL,
  expires_at TIMESTAMPTZ NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX personal_access_tokens_tokenable ON personal_access_tokens (tokenable_type, tokenable_id);

CREATE TABLE tours (
  id BIGSERIAL PRIMARY KEY,
  title VARCHAR(255) NOT NULL,
  destination VARCHAR(255) NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  departure_date DATE NOT NULL,
  price BIGINT NOT NULL CHECK (price >= 0),
  capacity INTEGER NOT NULL CHECK (capacity >= 0),
  quota INTEGER NOT NULL CHECK (quota >= 0 AND quota <= capacity),
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX tours_departure ON tours (departure_date, id);
CREATE INDEX tours_destination ON tours (destination, departure_date);

CREATE TABLE bookings (
  id BIGSERIAL PRIMARY KEY,
  code VARCHAR(32) NOT NULL UNIQUE,
  user_id BIGINT NOT NULL REFERENCES users(id),
  tour_id BIGINT NOT NULL REFERENCES tours(id),
  quantity INTEGER NOT NULL CHECK (quantity > 0),
  unit_price BIGINT NOT NULL,
  total_amount BIGINT NOT NULL,
  status VARCHAR(16) NOT NULL DEFAULT 'pending',
  expires_at TIMESTAMPTZ NOT NULL,
  paid_at TIMESTAMPTZ NULL,
  cancelled_at TIMESTAMPTZ NULL,
  expired_at TIMESTAMPTZ NULL,
  failed_at TIMESTAMPTZ NULL,
  refunded_at TIMESTAMPTZ NULL,
  needs_refund BOOLEAN NOT NULL DEFAULT FALSE,
  snap_token VARCHAR(255) NULL,
  snap_redirect_url VARCHAR(1024) NULL,
  payment_type VARCHAR(64) NULL,
  transaction_id VARCHAR(255) NULL,
  transaction_status VARCHAR(32) NULL,
  fraud_status VARCHAR(32) NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX bookings_user ON bookings (user_id, id);
CREATE INDEX bookings_tour_status ON bookings (tour_id, status);
CREATE INDEX bookings_status_created ON bookings (status, created_at);

CREATE TABLE idempotency_keys (
  id BIGSERIAL PRIMARY KEY,
  user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  idem_key VARCHAR(255) NOT NULL,
  request_hash CHAR(64) NOT NULL,
  status_code INTEGER NOT NULL,
  response_body TEXT NOT NULL,
  booking_id BIGINT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  UNIQUE (user_id, idem_key)
);

CREATE TABLE payment_notifications (
  id BIGSERIAL PRIMARY KEY,
  order_id VARCHAR(255) NULL,
  transaction_id VARCHAR(255) NULL,
  transaction_status VARCHAR(64) NULL,
  status_code VARCHAR(16) NULL,
  gross_amount VARCHAR(64) NULL,
  fraud_status VARCHAR(64) NULL,
  signature_valid BOOLEAN NOT NULL DEFAULT FALSE,
  outcome VARCHAR(64) NULL,
  payload TEXT NOT NULL,
  received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  processed_at TIMESTAMPTZ NULL
);
CREATE INDEX payment_notifications_order ON payment_notifications (order_id, id);
