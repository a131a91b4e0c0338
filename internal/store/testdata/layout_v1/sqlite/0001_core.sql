-- Users, API tokens, tours, bookings and payment notifications.
CREATE TABLE users (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name VARCHAR(255) NOT NULL,
  email VARCHAR(255) NOT NULL UNIQUE,
  password VARCHAR(255) NOT NULL,
  is_admin BOOLEAN NOT NULL DEFAULT 0,
  email_verified_at DATETIME NULL,
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL
);

CREATE TABLE personal_access_tokens (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  tokenable_type VARCHAR(255) NOT NULL DEFAULT 'users',
  tokenable_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name VARCHAR(255) NOT NULL,
  token CHAR(64) NOT NULL UNIQUE,
  abilities TEXT NULL,
  last_used_at DATETIME NULL,
  expires_at DATETIME NULL,
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL
);
CREATE INDEX personal_access_tokens_tokenable ON personal_access_tokens (tokenable_type, tokenable_id);

CREATE TABLE tours (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  title VARCHAR(255) NOT NULL,
  destination VARCHAR(255) NOT NULL,
  description TEXT NOT NULL DEFAULT '',
  departure_date DATE NOT NULL,
  price BIGINT NOT NULL CHECK (price >= 0),
  capacity INTEGER NOT NULL CHECK (capacity >= 0),
  quota INTEGER NOT NULL CHECK (quota >= 0 AND quota <= capacity),
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL
);
CREATE INDEX tours_departure ON tours (departure_date, id);
CREATE INDEX tours_destination ON tours (destination, departure_date);

CREATE TABLE bookings (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  code VARCHAR(32) NOT NULL UNIQUE,
  user_id INTEGER NOT NULL REFERENCES users(id),
  tour_id INTEGER NOT NULL REFERENCES tours(id),
  quantity INTEGER NOT NULL CHECK (quantity > 0),
  unit_price BIGINT NOT NULL,
  total_amount BIGINT NOT NULL,
  status VARCHAR(16) NOT NULL DEFAULT 'pending',
  expires_at DATETIME NOT NULL,
  paid_at DATETIME NULL,
  cancelled_at DATETIME NULL,
  expired_at DATETIME NULL,
  failed_at DATETIME NULL,
  refunded_at DATETIME NULL,
  needs_refund BOOLEAN NOT NULL DEFAULT 0,
  snap_token VARCHAR(255) NULL,
  snap_redirect_url VARCHAR(1024) NULL,
  payment_type VARCHAR(64) NULL,
  transaction_id VARCHAR(255) NULL,
  transaction_status VARCHAR(32) NULL,
  fraud_status VARCHAR(32) NULL,
  created_at DATETIME NOT NULL,
  updated_at DATETIME NOT NULL
);
CREATE INDEX bookings_user ON bookings (user_id, id);
CREATE INDEX bookings_tour_status ON bookings (tour_id, status);
CREATE INDEX bookings_status_created ON bookings (status, created_at);

CREATE TABLE idempotency_keys (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  idem_key VARCHAR(255) NOT NULL,
  request_hash CHAR(64) NOT NULL,
  status_code INTEGER NOT NULL,
  response_body TEXT NOT NULL,
  booking_id INTEGER NULL,
  created_at DATETIME NOT NULL,
  UNIQUE (user_id, idem_key)
);

CREATE TABLE payment_notifications (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  order_id VARCHAR(255) NULL,
  transaction_id VARCHAR(255) NULL,
  transaction_status VARCHAR(64) NULL,
  status_code VARCHAR(16) NULL,
  gross_amount VARCHAR(64) NULL,
  fraud_status VARCHAR(64) NULL,
  signature_valid BOOLEAN NOT NULL DEFAULT 0,
  outcome VARCHAR(64) NULL,
  payload TEXT NOT NULL,
  received_at DATETIME NOT NULL,
  processed_at DATETIME NULL
);
CREATE INDEX payment_notifications_order ON payment_notifications (order_id, id);
