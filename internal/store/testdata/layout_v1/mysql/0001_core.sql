-- Users, API tokens, tours, bookings and payment notifications.
CREATE TABLE users (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  email VARCHAR(255) NOT NULL,
  password VARCHAR(255) NOT NULL,
  is_admin TINYINT(1) NOT NULL DEFAULT 0,
  email_verified_at TIMESTAMP(6) NULL DEFAULT NULL,
  created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  UNIQUE KEY users_email_unique (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE personal_access_tokens (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  tokenable_type VARCHAR(255) NOT NULL DEFAULT 'users',
  tokenable_id BIGINT UNSIGNED NOT NULL,
  name VARCHAR(255) NOT NULL,
  token CHAR(64) NOT NULL,
  abilities TEXT NULL,
  last_used_at TIMESTAMP(6) NULL DEFAULT NULL,
  expires_at TIMESTAMP(6) NULL DEFAULT NULL,
  created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  UNIQUE KEY personal_access_tokens_token_unique (token),
  KEY personal_access_tokens_tokenable (tokenable_type, tokenable_id),
  CONSTRAINT personal_access_tokens_user_fk FOREIGN KEY (tokenable_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE tours (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  title VARCHAR(255) NOT NULL,
  destination VARCHAR(255) NOT NULL,
  description TEXT NOT NULL,
  departure_date DATE NOT NULL,
  price BIGINT NOT NULL,
  capacity INT NOT NULL,
  quota INT NOT NULL,
  created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  KEY tours_departure (departure_date, id),
  KEY tours_destination (destination, departure_date),
  CONSTRAINT tours_price_check CHECK (price >= 0),
  CONSTRAINT tours_capacity_check CHECK (capacity >= 0),
  CONSTRAINT tours_quota_check CHECK (quota >= 0 AND quota <= capacity)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE bookings (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  code VARCHAR(32) NOT NULL,
  user_id BIGINT UNSIGNED NOT NULL,
  tour_id BIGINT UNSIGNED NOT NULL,
  quantity INT NOT NULL,
  unit_price BIGINT NOT NULL,
  total_amount BIGINT NOT NULL,
  status VARCHAR(16) NOT NULL DEFAULT 'pending',
  expires_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  paid_at TIMESTAMP(6) NULL DEFAULT NULL,
  cancelled_at TIMESTAMP(6) NULL DEFAULT NULL,
  expired_at TIMESTAMP(6) NULL DEFAULT NULL,
  failed_at TIMESTAMP(6) NULL DEFAULT NULL,
  refunded_at TIMESTAMP(6) NULL DEFAULT NULL,
  needs_refund TINYINT(1) NOT NULL DEFAULT 0,
  snap_token VARCHAR(255) NULL,
  snap_redirect_url VARCHAR(1024) NULL,
  payment_type VARCHAR(64) NULL,
  transaction_id VARCHAR(255) NULL,
  transaction_status VARCHAR(32) NULL,
  fraud_status VARCHAR(32) NULL,
  created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  UNIQUE KEY bookings_code_unique (code),
  KEY bookings_user (user_id, id),
  KEY bookings_tour_status (tour_id, status),
  KEY bookings_status_created (status, created_at),
  CONSTRAINT bookings_quantity_check CHECK (quantity > 0),
  CONSTRAINT bookings_user_fk FOREIGN KEY (user_id) REFERENCES users (id),
  CONSTRAINT bookings_tour_fk FOREIGN KEY (tour_id) REFERENCES tours (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE idempotency_keys (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  user_id BIGINT UNSIGNED NOT NULL,
  idem_key VARCHAR(255) NOT NULL,
  request_hash CHAR(64) NOT NULL,
  status_code INT NOT NULL,
  response_body TEXT NOT NULL,
  booking_id BIGINT UNSIGNED NULL,
  created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  UNIQUE KEY idempotency_keys_user_key (user_id, idem_key),
  CONSTRAINT idempotency_keys_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE payment_notifications (
  id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
  order_id VARCHAR(255) NULL,
  transaction_id VARCHAR(255) NULL,
  transaction_status VARCHAR(64) NULL,
  status_code VARCHAR(16) NULL,
  gross_amount VARCHAR(64) NULL,
  fraud_status VARCHAR(64) NULL,
  signature_valid TINYINT(1) NOT NULL DEFAULT 0,
  outcome VARCHAR(64) NULL,
  payload MEDIUMTEXT NOT NULL,
  received_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  processed_at TIMESTAMP(6) NULL DEFAULT NULL,
  KEY payment_notifications_order (order_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
