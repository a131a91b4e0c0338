package payment

// RejectedOutcomes are the outcomes of the notifications answered with a
// 4xx and that changed nothing: a bad signature, an unknown order, a body
// that is not a notification, an amount or a status that does not match.
// Anyone can post them, so they are kept for a much shorter time
// (PAYMENT_REJECTED_NOTIFICATIONS_RETENTION_DAYS) than the rest, the
// payment audit trail. A notification that failed on Tripin's side (a
// failed status check, an error) is not rejected: Midtrans sends it again,
// and its trace belongs with the payment's.
func RejectedOutcomes() []Outcome {
	return []Outcome{OutcomeBadSignature, OutcomeUnknownOrder, OutcomeMalformed, OutcomeAmountMismatch, OutcomeStatusMismatch}
}
